"""A change Jira accepted is not made twice, even when its progress marker was never written.

The window is a crash between Jira's answer and the record of it: here the record is deleted
by hand between two attempts, and the retry has to find out from Jira itself (an entity
property on the comment it made, the issue's current status for a transition).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.simulator import ALICE
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, redis_keys


async def test_retry_after_lost_progress_does_not_repeat_comment_or_transition(
    system: System, redis: aioredis.Redis
) -> None:
    await system.add_rule(
        {**TRIAGE, 'actions': [TRIAGE['actions'][0], TRIAGE['actions'][2], {'type': 'assign', 'account_id': None}]}
    )
    # The comment and the transition go through; the assign answers 503 and ends attempt one.
    system.sim.fail_next(status=503, times=1, method='PUT', path_contains='/assignee')
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    await system.drain(max_burst_jobs=1)
    assert len(system.sim.comments[issue['key']]) == 1
    assert system.sim.issues[issue['key']]['fields']['status']['name'] == 'Triage'
    # Lose the progress markers, as a crash right after Jira's answers would.
    for key in await redis_keys(system.settings, constants.PROGRESS_KEY.format(execution='*')):
        await redis.delete(key)
    await system.drain()
    comments = system.sim.comments[issue['key']]
    assert len(comments) == 1
    assert comments[0]['properties'][0]['key'] == 'rulequeue.action'
    transitions = [c for c in system.sim.calls if c.method == 'POST' and c.path.endswith('/transitions')]
    assert len(transitions) == 1
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert entry['actions'][0]['changes']['comment_id'] == comments[0]['id']


async def test_retry_after_lost_progress_does_not_repeat_an_edit_or_assign_in_effect(
    system: System, redis: aioredis.Redis
) -> None:
    edit = {'type': 'edit', 'fields': {'labels': {'add': ['triage']}, 'priority': {'name': 'High'}}}
    assign = {'type': 'assign', 'account_id': ALICE['accountId']}
    await system.add_rule({**TRIAGE, 'actions': [edit, assign, TRIAGE['actions'][0]]})
    # The edit and the assign go through; the comment answers 503 and ends attempt one.
    system.sim.fail_next(status=503, times=1, method='POST', path_contains='/comment')
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    await system.drain(max_burst_jobs=1)
    for key in await redis_keys(system.settings, constants.PROGRESS_KEY.format(execution='*')):
        await redis.delete(key)
    await system.drain()
    path = f'/rest/api/2/issue/{issue["key"]}'
    served = [(c.method, c.path) for c in system.sim.calls if 200 <= c.status < 300 and c.method == 'PUT']
    assert served == [('PUT', path), ('PUT', path + '/assignee')], 'a write in effect was sent again'
    fields = system.sim.issues[issue['key']]['fields']
    assert 'triage' in fields['labels']
    assert fields['assignee']['accountId'] == ALICE['accountId']
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert len(system.sim.comments[issue['key']]) == 1


async def test_retry_sends_an_edit_again_when_someone_undid_it(system: System, redis: aioredis.Redis) -> None:
    edit = {'type': 'edit', 'fields': {'labels': {'add': ['triage']}}}
    await system.add_rule({**TRIAGE, 'actions': [edit, TRIAGE['actions'][0]]})
    system.sim.fail_next(status=503, times=1, method='POST', path_contains='/comment')
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    await system.drain(max_burst_jobs=1)
    for key in await redis_keys(system.settings, constants.PROGRESS_KEY.format(execution='*')):
        await redis.delete(key)
    system.sim.state.edit(issue['key'], {}, {'labels': [{'remove': 'triage'}]})  # a person, no webhook
    await system.drain()
    assert 'triage' in system.sim.issues[issue['key']]['fields']['labels']
    puts = [c for c in system.sim.calls if c.method == 'PUT' and 200 <= c.status < 300]
    assert len(puts) == 2
