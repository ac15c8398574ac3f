"""worker.app_cause against real Redis: which events our own app caused, over Connect and Forge."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent
from worker import app_cause

APP = '557058:our-app'
ALICE = '557058:alice'


def _tenant(app_account_id: str | None = APP) -> Tenant:
    return Tenant('forge:site', 'https://x.example', 'installed', None, app_account_id, 'forge', 'site')


def _event(user: dict[str, Any], forge: dict[str, Any] | None = None) -> WebhookEvent:
    body: dict[str, Any] = {
        'webhookEvent': 'comment_created',
        'timestamp': 1_700_000_000_000,
        'issue': {'id': '10001', 'key': 'PROJ-1', 'fields': {}},
        'user': user,
    }
    if forge is not None:
        body['forge'] = {'eventType': 'avi:jira:commented:issue', 'selfGenerated': False, **forge}
    return WebhookEvent.model_validate(body)


async def test_a_self_generated_forge_event_is_ours_without_knowing_our_account(redis: aioredis.Redis) -> None:
    event = _event({'accountId': APP}, {'selfGenerated': True})
    assert await app_cause.decided(redis, _tenant(None), event) is True


async def test_a_forge_event_traced_to_one_of_our_executions_is_ours(redis: aioredis.Redis) -> None:
    event = _event({'accountId': ALICE}, {'webhookTraceValue': 'exec-1'})
    assert await app_cause.decided(redis, _tenant(), event) is False  # no such execution (yet)
    assert await app_cause.our_trace(redis, event) is None
    await redis.set(constants.chain_execution_key('exec-1'), 3)
    assert await app_cause.decided(redis, _tenant(), event) is True
    assert await app_cause.our_trace(redis, event) == 'exec-1'


async def test_a_forge_event_by_our_app_user_is_ours_once_that_user_is_known(redis: aioredis.Redis) -> None:
    event = _event({'accountId': APP}, {})
    assert await app_cause.decided(redis, _tenant(), event) is True
    # Unknown: Forge would have said selfGenerated had our app made it; no myself call needed.
    assert await app_cause.decided(redis, _tenant(None), event) is False
    assert await app_cause.decided(redis, _tenant(), _event({'accountId': ALICE}, {})) is False


async def test_connect_events_are_decided_by_the_actor_as_before(redis: aioredis.Redis) -> None:
    ours = _event({'accountId': APP, 'accountType': 'app'})
    assert await app_cause.decided(redis, _tenant(), ours) is True
    assert await app_cause.decided(redis, _tenant(None), ours) is None  # worker.execute asks myself
    other_app = _event({'accountId': '557058:other', 'accountType': 'app'})
    assert await app_cause.decided(redis, _tenant(), other_app) is False
    person = _event({'accountId': APP, 'accountType': 'atlassian'})
    assert await app_cause.decided(redis, _tenant(None), person) is False
    assert app_cause.is_app_account(ours, APP)
    assert not app_cause.is_app_account(ours, '')
