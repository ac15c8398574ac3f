"""What the producer does, as plain functions that know nothing of HTTP."""

from __future__ import annotations

import contextlib
import hashlib
import time
from enum import StrEnum
from typing import Any

from producer.deps import Deps
from rulequeue import constants, queue, snapshots
from rulequeue.errors import BadRequest
from rulequeue.store import tenants
from rulequeue.store.tenants import Tenant
from schemas.events import SUPPORTED_EVENTS, WebhookEvent
from schemas.jobs import ExecutionJob

MAX_DELIVERY_ID_LENGTH = 200


class Outcome(StrEnum):
    ACCEPTED = 'accepted'
    DUPLICATE = 'duplicate'
    IGNORED = 'ignored'


def delivery_id_for(header: str | None, event: WebhookEvent) -> str:
    """Jira's ``X-Atlassian-Webhook-Identifier``, or a stable hash of the event without one.

    The identifier is the same on Jira's retries of a delivery, which is what makes it the
    de-duplication key. Without it, event type + issue + timestamp + changelog id identify
    the change.
    """
    if header:
        if len(header) > MAX_DELIVERY_ID_LENGTH or not header.isprintable():
            raise BadRequest('invalid X-Atlassian-Webhook-Identifier')
        return header
    parts = [
        event.webhookEvent,
        event.issue.id,
        str(event.timestamp),
        str(event.changelog.id if event.changelog else ''),
        str(event.comment.id if event.comment else ''),
    ]
    return 'derived-' + hashlib.sha256('\0'.join(parts).encode()).hexdigest()[:32]


async def accept_webhook(deps: Deps, tenant: Tenant, delivery_id: str, event: WebhookEvent, body: bytes) -> Outcome:
    """Store the snapshot and enqueue its execution; answer-ready once both succeeded."""
    if tenant.state != 'installed' or event.webhookEvent not in SUPPORTED_EVENTS:
        return Outcome.IGNORED
    execution = constants.execution_id(tenant.client_key, delivery_id)
    if await deps.redis.exists(constants.DONE_KEY.format(execution=execution)):
        return Outcome.DUPLICATE
    key = constants.snapshot_key(tenant.client_key, execution)
    sealed = snapshots.seal(deps.cipher, tenant.client_key, body)
    # NX: an existing snapshot means this delivery is already queued or running.
    if not await deps.redis.set(key, sealed, ex=constants.SNAPSHOT_TTL_SECONDS, nx=True):
        return Outcome.DUPLICATE
    order = constants.order_key(tenant.client_key, event.issue.id)
    changelog_id = event.changelog.id if event.changelog and str(event.changelog.id or '').isdigit() else 0
    member = f'{int(changelog_id or 0):020d}:{execution}'
    job = ExecutionJob(
        execution_id=execution,
        client_key=tenant.client_key,
        delivery_id=delivery_id,
        snapshot_key=key,
        received_at=time.time(),
        order_key=order,
        order_member=member,
    )
    try:
        # Registered before the job exists, so the worker always sees its place in line.
        async with deps.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(order, {member: float(event.timestamp or time.time() * 1000)})
            pipe.expire(order, constants.SNAPSHOT_TTL_SECONDS)
            await pipe.execute()
        queued = await queue.enqueue_execution(deps.redis, job)
    except BaseException:
        await _forget(deps, key, order, member)
        raise
    if not queued:
        # The job exists but had already purged its snapshot: it is finishing right now.
        await _forget(deps, key, order, member)
        return Outcome.DUPLICATE
    return Outcome.ACCEPTED


async def _forget(deps: Deps, key: str, order: str, member: str) -> None:
    # Best effort: if Redis is failing, the TTLs and the ordering bound are the backstops.
    with contextlib.suppress(Exception):
        await deps.redis.delete(key)
        await deps.redis.zrem(order, member)


def lifecycle_payload(body: dict[str, Any], event: str) -> dict[str, Any]:
    """Check the fields a lifecycle body must have; 400 naming the first that is wrong."""
    required = ['clientKey', 'baseUrl'] + (['sharedSecret'] if event == 'installed' else [])
    for name in required:
        value = body.get(name)
        if not isinstance(value, str) or not value or len(value) > 1000:
            raise BadRequest(f'lifecycle body needs a string {name}')
    if not str(body['baseUrl']).startswith(('https://', 'http://')):
        raise BadRequest('baseUrl must be an http(s) URL')
    return body


async def apply_lifecycle(deps: Deps, event: str, payload: dict[str, Any]) -> None:
    """Apply a *verified* lifecycle call."""
    client_key = payload['clientKey']
    if event == 'installed':
        await tenants.save_installed(deps.pool, deps.cipher, payload)
    elif event == 'uninstalled':
        await tenants.uninstall(deps.pool, client_key)
        await snapshots.drop_tenant(deps.redis, client_key)
    elif event == 'enabled':
        await tenants.set_state(deps.pool, client_key, 'installed')
    elif event == 'disabled':
        await tenants.set_state(deps.pool, client_key, 'disabled')


def event_summary(event: WebhookEvent) -> dict[str, Any]:
    """Ids only, for the canonical log line: never field values."""
    return {'webhook_event': event.webhookEvent, 'issue_id': event.issue.id}


__all__ = ['Outcome', 'accept_webhook', 'apply_lifecycle', 'delivery_id_for', 'event_summary']
