"""Service limits end to end (issue #3): components per rule, loop detection, hourly throttling."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.simulator import ALICE
from tests.harness import System, redis_keys, running_system

LOG = {'type': 'log', 'message': 'seen {{issue.key}}'}
CONDITION = {'type': 'field', 'field': 'summary', 'op': 'is_not_empty'}


def _rule(conditions: int, actions: int) -> dict[str, Any]:
    return {
        'name': f'{1 + conditions + actions} components',
        'trigger': {'type': 'issue_updated'},
        'conditions': [CONDITION] * conditions,
        'actions': [LOG] * actions,
    }


async def test_a_rule_has_at_most_65_components(system: System) -> None:
    assert (await system.api('POST', '/api/rules', json=_rule(30, 34))).status_code == 201  # 65
    refused = await system.api('POST', '/api/rules', json=_rule(30, 35))
    assert refused.status_code == 422
    assert 'at most 65 components, this one has 66' in refused.text
    dry = await system.api('POST', '/api/rules/dry-run', json={'rule': _rule(30, 35), 'issue': {}})
    assert dry.status_code == 422


async def test_a_rule_retriggered_by_its_own_comments_stops_with_loop(system: System) -> None:
    await system.add_rule(
        {
            'name': 'Answer every comment',
            'trigger': {'type': 'issue_commented'},
            'allow_rule_trigger': True,
            'actions': [{'type': 'comment', 'body': 'Noted on {{issue.key}}'}],
        }
    )
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='chatty', reporter=ALICE)
    system.sim.emit_app_events = True
    await system.sim.add_comment(issue['key'], 'Any news?', user=ALICE)
    for _ in range(20):  # each round: run the queued events, then let our comments come back as webhooks
        await system.drain()
        await system.sim.wait_for_app_events()
        if any(e['status'] == 'LOOP' for e in await system.audit()):
            break
    await system.drain()
    entries = await system.audit()
    # The person's comment ran it (depth 0), then 10 re-triggers by its own comments; the 11th is a loop.
    assert Counter(e['status'] for e in entries) == {'SUCCESS': 11, 'LOOP': 1}
    loop = next(e for e in entries if e['status'] == 'LOOP')
    assert loop['actions'] == []
    assert 'loop detected: re-triggered by rule actions 11 times' in loop['messages'][0]
    # Asked why, the event explains the rule as held by a limit, not as having run.
    explained = (await system.api('GET', f'/api/events/{loop["delivery_id"]}')).json()
    [why] = explained['rules']
    assert (why['reason'], why['status']) == ('limited', 'LOOP')
    assert why['detail'] == loop['messages'][0]
    app_id = system.sim.app_user['accountId']
    ours = [c for c in system.sim.comments[issue['key']] if c['author']['accountId'] == app_id]
    assert len(ours) == 11
    assert system.sim.app_event_errors == []


async def test_executions_over_the_hourly_limit_are_throttled(schema: str, redis: aioredis.Redis) -> None:
    # Five executions must fall in one clock hour: never start within seconds of its end.
    to_next_hour = 3600 - time.time() % 3600
    if to_next_hour < 15:
        await asyncio.sleep(to_next_hour + 1)
    async with running_system(schema, rule_executions_per_hour=3, max_rule_components=4) as system:
        assert (await system.api('POST', '/api/rules', json=_rule(1, 3))).status_code == 422  # 5 > 4
        rule = await system.add_rule(_rule(0, 1))
        issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='s', reporter=ALICE)
        for n in range(5):
            await system.sim.update_issue(issue['key'], {'summary': f'edit {n}'}, user=ALICE)
        await system.drain()
        entries = await system.audit()
        assert Counter(e['status'] for e in entries) == {'SUCCESS': 3, 'THROTTLED': 2}
        throttled = [e for e in entries if e['status'] == 'THROTTLED']
        assert all(e['rule_id'] == rule['id'] and e['actions'] == [] for e in throttled)
        assert {e['messages'][0].split(' of this rule')[0] for e in throttled} == {
            'throttled: execution 4',
            'throttled: execution 5',
        }
        hour = int(time.time() // 3600)
        key = constants.rule_hour_key(system.sim.client_key, rule['id'], hour)
        assert await redis_keys(system.settings, key) == [key.encode()]
