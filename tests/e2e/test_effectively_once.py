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
