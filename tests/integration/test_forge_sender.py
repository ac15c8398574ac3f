"""The simulator as Forge's sender (FORGE.md 3.1, 4): product events for the site's changes in
both envelopes, re-deliveries with ``retryContext``, lifecycle, keep-alive and preUninstall
calls, and a site sending Connect webhooks and Forge events side by side. The remote here is a
small recording server over real HTTP; what it receives is checked with rulequeue's own parser."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rulequeue.forge.events import LifecycleEvent, ProductEvent, idempotency_key, parse_event
from rulequeue.serve import serve_in_background
from rulequeue.simulator import ALICE, BOB, JiraSimulator
from tests.harness import System


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Remote:
    """Records every call; answers with ``statuses`` in turn, then 204."""

    url: str = ''
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        self.received.append(Received(request.url.path, dict(request.headers), json.loads(await request.body())))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 204)

    def events(self) -> list[Received]:
        return [r for r in self.received if r.path == '/forge/events']


@pytest.fixture(name='remote')
async def _remote() -> AsyncIterator[Remote]:
    remote = Remote()
    app = Starlette(routes=[Route('/forge/{name}', remote.endpoint, methods=['POST'])])
    async with serve_in_background(app) as url:
        remote.url = url
        yield remote


@pytest.fixture(name='sim')
async def _sim(remote: Remote) -> AsyncIterator[JiraSimulator]:
    sim = JiraSimulator()
    async with sim.running():
        sim.forge_events.app_url = remote.url
        yield sim


def _fit_claims(sim: JiraSimulator, received: Received) -> dict[str, Any]:
    scheme, _, token = received.headers['authorization'].partition(' ')
    assert scheme == 'Bearer'
    keys = sim.forge.production.jwks()['keys']
    [key] = [k for k in keys if k['kid'] == jwt.get_unverified_header(token)['kid']]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(key))
    claims: dict[str, Any] = jwt.decode(
        token,
        public,  # type: ignore[arg-type]
        algorithms=['RS256'],
        audience=sim.forge.app_id,
        issuer='forge/invocation-token',
    )
    return claims


@pytest.mark.parametrize('envelope', ['bare', 'payload'])
async def test_changes_become_forge_events_in_either_envelope(
    sim: JiraSimulator, remote: Remote, envelope: Any
) -> None:
    sim.forge_events.envelope = envelope
    issue, answers = await sim.create_issue(summary='Crash', priority='High', reporter=ALICE)
    await sim.update_issue(issue['key'], {'labels': ['x']}, user=BOB)
    await sim.assign_issue(issue['key'], BOB['accountId'])
    await sim.add_comment(issue['key'], 'hello', user=BOB)
    comment_id = sim.comments[issue['key']][0]['id']
    await sim.delete_issue(issue['key'])
    assert [a.status_code for a in answers] == [204]
    events = [parse_event(r.body) for r in remote.events()]
    assert [e.envelope for e in events] == [envelope] * 6
    assert [e.event_type for e in events] == [
        'avi:jira:created:issue',
        'avi:jira:updated:issue',
        'avi:jira:assigned:issue',  # Forge fires updated beside every assigned
        'avi:jira:updated:issue',
        'avi:jira:commented:issue',
        'avi:jira:deleted:issue',
    ]
    created, updated, assigned, _, commented, _ = (e.event for e in events)
    assert isinstance(created, ProductEvent)
    # A partial issue, users as {accountId}: no priority, no labels (the worker fetches the issue).
    assert created.issue.id == issue['id']
    assert created.issue.key == issue['key']
    assert created.issue.fields['reporter'] == {'accountId': ALICE['accountId']}
    assert created.issue.fields['summary'] == 'Crash'
    assert 'priority' not in created.issue.fields
    assert created.atlassianId == ALICE['accountId']
    raw = remote.events()[0].body
    raw = raw['payload'] if envelope == 'payload' else raw
    assert isinstance(raw['timestamp'], str)  # epoch ms as a string, as Forge sends it
    assert isinstance(updated, ProductEvent)
    assert updated.changelog is not None
    assert updated.changelog.id
    assert [i['field'] for i in updated.changelog.items] == ['labels']
    assert isinstance(assigned, ProductEvent)
    assert assigned.changelog is not None
    assert [i['field'] for i in assigned.changelog.items] == ['assignee']
    assert isinstance(commented, ProductEvent)
    assert commented.comment is not None
    assert commented.comment.id == str(comment_id)
    assert events[4].connect_event == 'comment_created'
    # Every delivery: a FIT of this installation, and the app system token (one, re-sent).
    for received in remote.events():
        claims = _fit_claims(sim, received)
        assert claims['app']['installationId'] == sim.forge.installation_id
        assert claims['app']['module']['key'] == 'rq-jira-events'
        assert sim.forge.system_token_valid(received.headers['x-forge-oauth-system'])
    assert len({r.headers['x-forge-oauth-system'] for r in remote.events()}) == 1
    assert len({r.headers['authorization'] for r in remote.events()}) == 6  # a token per invocation


async def test_a_refused_event_is_redelivered_with_a_retry_context(sim: JiraSimulator, remote: Remote) -> None:
    sim.forge_events.retry_delays = (0, 0, 0, 0)
    sim.forge_events.envelope = 'payload'
    remote.statuses = [500, 401, 204]
    await sim.create_issue()
    [delivery] = sim.forge_events.deliveries
    assert delivery.statuses == [500, 401, 204]
    assert delivery.accepted
    parsed = [parse_event(r.body) for r in remote.events()]
    assert [(p.retry_count, p.retry_reason) for p in parsed] == [
        (0, None),
        (1, 'INVALID_REMOTE_INVOCATION_ERROR'),
        (2, 'INVALID_FORGE_INVOCATION_TOKEN'),
    ]
    assert remote.events()[1].body['payload']['retryContext']['retryData'] is None
    # The same event each time: one idempotency key whatever the envelope or retry.
    assert len({idempotency_key(sim.forge.installation_id, p) for p in parsed}) == 1

    # Bare envelope: retryContext beside the event; gives up after the last re-delivery.
    sim.forge_events.envelope = 'bare'
    remote.statuses = [503] * 5
    await sim.create_issue()
    last = sim.forge_events.deliveries[-1]
    assert last.statuses == [503] * 5
    assert not last.accepted
    assert [b.get('retryContext', {}).get('retryCount', 0) for b in last.bodies] == [0, 1, 2, 3, 4]


async def test_lifecycle_keepalive_and_pre_uninstall(sim: JiraSimulator, remote: Remote) -> None:
    await sim.forge_events.lifecycle('installed')
    await sim.forge_events.lifecycle('upgraded', version='2.0.0')
    refreshed = await sim.forge_events.refresh()
    token = remote.received[-1].headers['x-forge-oauth-system']
    assert sim.forge.system_token_valid(token)
    gone = await sim.forge_events.pre_uninstall()
    assert (refreshed.status_code, gone.status_code) == (204, 204)
    assert [r.path for r in remote.received] == ['/forge/lifecycle'] * 2 + ['/forge/refresh', '/forge/uninstall']
    installed, upgraded = (parse_event(r.body).event for r in remote.received[:2])
    assert isinstance(installed, LifecycleEvent)
    assert isinstance(upgraded, LifecycleEvent)
    assert installed.eventType == 'avi:forge:installed:app'
    assert installed.id == sim.forge.installation_id
    assert installed.app.id == sim.forge.app_id.rpartition('/')[2]  # a bare UUID, unlike the FIT's ARI
    assert upgraded.app.version == '2.0.0'
    assert [_fit_claims(sim, r)['app']['module']['key'] for r in remote.received] == [
        'rq-app-lifecycle',
        'rq-app-lifecycle',
        'rq-token-keepalive',
        'rq-before-uninstall',
    ]
    assert remote.received[2].body['context']['cloudId'] == sim.forge.cloud_id
    # Uninstalled: every token minted so far is refused by the site's REST API.
    assert not sim.forge.system_token_valid(token)


async def test_no_remote_no_forge_events(remote: Remote) -> None:
    sim = JiraSimulator()
    async with sim.running():
        await sim.create_issue()
    assert remote.received == []
    assert sim.forge_events.deliveries == []


async def test_a_site_can_send_connect_webhooks_and_forge_events_for_each_change(
    system: System, remote: Remote
) -> None:
    """Migration: the Connect app is installed and the Forge remote registered on the same site."""
    system.sim.forge_events.app_url = remote.url
    issue, answers = await system.sim.create_issue(reporter=ALICE)
    assert [d.event for d in system.sim.deliveries] == ['jira:issue_created']
    [forge] = remote.events()
    assert parse_event(forge.body).event.issue.id == issue['id']  # type: ignore[union-attr]
    assert len(answers) == 2
    # One site, one cloudId: the Connect install's and the FITs' agree.
    assert _fit_claims(system.sim, forge)['app']['installation']['contexts'][0]['cloudId'] == system.sim.forge.cloud_id
    assert system.sim.forge.cloud_id == await system.pool.fetchval('SELECT cloud_id FROM tenants')
