"""Events of one issue execute in Jira's order, whatever order they arrive in; a held event
cannot block its issue for longer than ORDER_HOLD_SECONDS."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from rulequeue.simulator import ALICE, BOB
from tests.harness import System, running_system, snapshot_keys


@pytest.fixture(name='impatient')
async def _impatient(schema: str, redis: aioredis.Redis) -> AsyncIterator[System]:
    # A one-second ordering bound and a retry budget that would otherwise outlast the test.
    async with running_system(schema, order_hold_seconds=1.0, max_attempts=1000) as system:
        yield system


ECHO = {
    'name': 'Echo summary changes',
    'trigger': {'type': 'field_value_changed', 'fields': ['summary']},
    'actions': [{'type': 'comment', 'body': '{{issue.summary}}'}],
}


async def test_events_of_one_issue_run_in_jira_order_not_arrival_order(system: System) -> None:
    await system.add_rule(ECHO)
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='start', reporter=ALICE)
    await system.sim.update_issue(issue['key'], {'summary': 'template'}, user=ALICE)
    template = copy.deepcopy(system.sim.last_webhook_body)
    assert template is not None
    await system.drain()
    system.sim.comments[issue['key']].clear()
    bodies = []
    for step in range(6):
        body = copy.deepcopy(template)
        body['timestamp'] = template['timestamp'] + 1000 * (step + 1)
        body['changelog']['id'] = str(int(template['changelog']['id']) + step + 1)
        body['issue']['fields']['summary'] = f'step {step}'
        bodies.append(body)
    # Jira does not promise delivery order: the last change arrives first.
    for step, body in reversed(list(enumerate(bodies))):
        response = await system.sim.send_webhook(body, delivery_id=f'order-{step}')
        assert response.status_code == 202
    await system.drain(max_jobs=20)
    assert [c['body'] for c in system.sim.comments[issue['key']]] == [f'step {n}' for n in range(6)]
    assert await snapshot_keys(system.settings) == []


async def test_a_held_event_is_dead_lettered_after_the_bound_and_later_ones_proceed(impatient: System) -> None:
    system = impatient
    await system.add_rule(ECHO)
    await system.add_rule(
        {'name': 'Log assignments', 'trigger': {'type': 'issue_assigned'}, 'actions': [{'type': 'log', 'message': 'a'}]}
    )
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='start', reporter=ALICE)
    await system.drain()
    # The summary change keeps failing (Jira answers 503 on comments); the assignment after it
    # must not wait for it forever.
    system.sim.fail_next(status=503, times=10_000, method='POST', path_contains='/comment')
    await system.sim.update_issue(issue['key'], {'summary': 'stuck'}, user=ALICE)
    await system.sim.assign_issue(issue['key'], BOB['accountId'], user=ALICE)
    await system.drain()
    entries = {e['rule_name']: e for e in await system.audit()}
    assert entries['Log assignments']['status'] == 'SUCCESS'
    assert entries['Echo summary changes']['status'] == 'FAILURE'
    assert 'held back later events' in entries['Echo summary changes']['messages'][-1]
    letters = await system.pool.fetch('SELECT error FROM dead_letters')
    assert ['held back later events' in letter['error'] for letter in letters] == [True]
    assert await snapshot_keys(system.settings) == []
