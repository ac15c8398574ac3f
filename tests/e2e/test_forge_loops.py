"""Loops over Forge (FORGE.md 4 "Loops", 8.13, 9 case 27): a Forge-only site whose app's own
changes come back as Forge events (``selfGenerated``, ``atlassianId`` the app user,
``webhookTraceValue`` the execution id our call sent), as they do over Connect as webhooks.

A rule without ``allow_rule_trigger`` must not run on its own change; one with it must stop
with LOOP after 10 re-triggers, exactly as over Connect (tests/e2e/test_limits.py).
"""

from __future__ import annotations

from collections import Counter

import redis.asyncio as aioredis

from rulequeue.simulator import ALICE
from tests.e2e.test_forge_e2e import (
    assert_forge_calls,
    audit_rows,
    forge_add_rule,
    forge_api,
    forge_site,
    install_forge,
)
from tests.harness import System

ANSWER = {
    'name': 'Answer every comment',
    'trigger': {'type': 'issue_commented'},
    'actions': [{'type': 'comment', 'body': 'Noted on {{issue.key}}'}],
}


async def _comment_rounds(system: System, key: str, rounds: int = 20) -> None:
    """A person comments; then run what is queued and let our own comments come back, until quiet."""
    await system.sim.add_comment(key, 'Any news?', user=ALICE)
    for _ in range(rounds):
        await system.drain()
        await system.sim.wait_for_app_events()
        if any(r['status'] == 'LOOP' for r in await audit_rows(system)):
            break
    await system.drain()
    await system.sim.wait_for_app_events()
    await system.drain()


def _own_events(system: System) -> list[dict[str, object]]:
    """The Forge events the simulator sent for the app's own changes."""
    return [d.event for d in system.sim.forge_events.deliveries if d.event.get('selfGenerated')]


async def test_a_rule_does_not_rerun_on_its_own_forge_reported_comment(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, ANSWER)
        issue, _ = await sim.create_issue(project='PROJ', issuetype='Task', summary='chatty', reporter=ALICE)
        await system.drain()
        sim.emit_app_events = True
        await _comment_rounds(system, issue['key'])

        # Our comment came back as Forge reports it, and was accepted, yet the rule ran once.
        [own] = _own_events(system)
        assert own['eventType'] == 'avi:jira:commented:issue'
        assert own['atlassianId'] == sim.app_user['accountId']
        assert own['webhookTraceValue']  # the execution id our comment call sent
        assert [r.status_code for r in sim.app_event_responses] == [204]
        assert sim.app_event_errors == []
        assert [c['body'] for c in sim.comments[issue['key']]] == ['Any news?', f'Noted on {issue["key"]}']
        assert Counter(r['status'] for r in await audit_rows(system)) == {'SUCCESS': 1}
        assert_forge_calls(system, sim.calls)
        # The event was admitted, and explained as our own: the rule does not allow those.
        last = await system.pool.fetchval('SELECT delivery_id FROM deliveries ORDER BY received_at DESC LIMIT 1')
        assert last not in {r['delivery_id'] for r in await audit_rows(system)}
        explained = await forge_api(system, 'GET', f'/api/events/{last}')
        assert explained.status_code == 200, explained.text
        [why] = explained.json()['rules']
        assert why['reason'] == 'rule_triggered_event'


async def test_a_rule_retriggered_by_its_own_forge_comments_stops_with_loop(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, {**ANSWER, 'allow_rule_trigger': True})
        issue, _ = await sim.create_issue(project='PROJ', issuetype='Task', summary='chatty', reporter=ALICE)
        await system.drain()
        sim.emit_app_events = True
        await _comment_rounds(system, issue['key'])

        rows = await audit_rows(system)
        # The person's comment ran it (depth 0), then 10 re-triggers by its own comments; the 11th is a loop.
        assert Counter(r['status'] for r in rows) == {'SUCCESS': 11, 'LOOP': 1}
        app_id = sim.app_user['accountId']
        ours = [c for c in sim.comments[issue['key']] if c['author']['accountId'] == app_id]
        assert len(ours) == 11
        assert len(_own_events(system)) == 11
        assert sim.app_event_errors == []
        loop = next(r for r in rows if r['status'] == 'LOOP')
        entry = await system.pool.fetchrow(
            'SELECT messages, actions FROM audit_log WHERE delivery_id = $1', loop['delivery_id']
        )
        assert 'loop detected: re-triggered by rule actions 11 times' in str(entry['messages'])
        assert_forge_calls(system, sim.calls)
