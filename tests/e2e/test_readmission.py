"""A lost or dead-lettered execution comes back as the same kind of execution: a manual or
scheduled run with its rule only, a branch item as its branch's part on its item, a delay's
continuation after its delay, or, its progress gone, not at all but dead-lettered."""

from __future__ import annotations

import contextlib
import time

import redis.asyncio as aioredis

from producer.replay import replay
from rulequeue import constants
from rulequeue.simulator import ALICE
from tests.e2e.test_branch_delay import _bodies, _branch, _parent_with_subtasks, _rule
from tests.e2e.test_manual_scheduled import LEAP_DAY, NINE, _manual, _run, _scheduled
from tests.harness import System, snapshot_keys
from worker.deps import WorkerDeps, borrowed_deps
from worker.readmission import UNRECOVERABLE
from worker.reconcile import reconcile
from worker.scheduled import run_due


def _deps(system: System) -> contextlib.AbstractAsyncContextManager[WorkerDeps]:
    return borrowed_deps(system.settings, system.pool)


async def _reconcile(system: System) -> int:
    async with _deps(system) as deps:
        return await reconcile(deps, deadline_seconds=0)


async def test_a_lost_manual_run_runs_again_for_its_rule_only(system: System, redis: aioredis.Redis) -> None:
    issue, _ = await system.sim.create_issue(project='OPS', issuetype='Task', summary='check me')
    await system.drain()  # the creation, before any rule exists
    assert await system.pool.fetchval('SELECT job_options FROM deliveries') is None  # a plain event's row
    chosen = await system.add_rule(_manual('Check by hand'))
    other = await system.add_rule(_manual('Another manual rule'))
    answer = await _run(system, chosen['id'], issue['key'])
    assert answer.status_code == 202, answer.text
    await redis.flushdb()  # Redis lost the run: job, snapshot and all

    assert await _reconcile(system) == 1
    await system.drain()
    [comment] = system.sim.comments[issue['key']]
    assert comment['body'] == f'Run by hand on {issue["key"]} (check me) by {ALICE["accountId"]}'
    [entry] = await system.audit()
    assert (entry['rule_id'], entry['status']) == (chosen['id'], 'SUCCESS')
    assert await system.audit(rule=other['id']) == []


async def test_a_lost_branch_item_runs_again_as_its_branch_part(system: System, redis: aioredis.Redis) -> None:
    await system.add_rule(_rule(_branch('subtasks'), {'type': 'comment', 'body': 'parent {{issue.key}}'}))
    parent, subtasks = await _parent_with_subtasks(system, 2)
    await system.sim.update_issue(parent, {'summary': 'go'})
    await system.drain(max_burst_jobs=1)  # the parent execution: it admits the items
    assert _bodies(system, parent) == [f'parent {parent}']
    await redis.flushdb()  # the items are lost before they ran

    assert await _reconcile(system) == 2
    await system.drain()
    # Each item ran the branch's actions on its own issue, its trigger issue read again; the rest
    # of the rule did not run on it.
    for key in subtasks:
        assert _bodies(system, key) == [f'item {key} of {parent}']
    assert _bodies(system, parent) == [f'parent {parent}']
    items = [e for e in await system.audit() if e['delivery_id'].startswith('branch:')]
    assert sorted(e['issue_key'] for e in items) == sorted(subtasks)
    assert all(e['status'] == 'SUCCESS' for e in items)
    assert all(a['path'] == '0.actions.0' for e in items for a in e['actions'])
    assert await snapshot_keys(system.settings) == []


def _delayed_rule() -> dict[str, object]:
    return _rule(
        {'type': 'comment', 'body': 'first'},
        {'type': 'delay', 'seconds': 60},
        {'type': 'comment', 'body': 'second {{issue.key}}'},
        trigger='issue_created',
    )


async def test_a_lost_continuation_runs_after_its_delay_while_its_progress_is_kept(
    system: System, redis: aioredis.Redis
) -> None:
    await system.add_rule(_delayed_rule())
    issue, _ = await system.sim.create_issue(reporter=ALICE)
    key = issue['key']
    await system.drain(max_burst_jobs=1)  # the event's execution; the continuation waits for its delay
    [queued] = await redis.zrange(constants.QUEUE_NAME, 0, -1)
    execution = queued.decode()
    # The continuation's job and snapshot are lost (evicted); its progress is not.
    await redis.zrem(constants.QUEUE_NAME, queued)
    await redis.delete(f'arq:job:{execution}', *await snapshot_keys(system.settings))

    assert await _reconcile(system) == 1
    [again] = await redis.zrange(constants.QUEUE_NAME, 0, -1, withscores=True)
    assert again[0] == queued
    assert again[1] > time.time() * 1000 + 30_000  # still deferred: the rest of its delay
    await redis.zadd(constants.QUEUE_NAME, {queued: time.time() * 1000})
    await system.drain()
    assert _bodies(system, key) == ['first', f'second {key}']  # continued after the delay, not from the start
    [row] = await system.audit()
    assert row['status'] == 'SUCCESS'
    assert [a['type'] for a in row['actions']] == ['comment', 'delay', 'comment']


async def test_a_lost_continuation_without_its_progress_is_dead_lettered(system: System, redis: aioredis.Redis) -> None:
    rule = await system.add_rule(_delayed_rule())
    issue, _ = await system.sim.create_issue(reporter=ALICE)
    await system.drain(max_burst_jobs=1)
    await redis.flushdb()  # job, snapshot and progress: nothing says what ran before the delay

    assert await _reconcile(system) == 0
    await system.drain()
    assert _bodies(system, issue['key']) == ['first']  # neither repeated nor continued
    [letter] = await system.pool.fetch('SELECT * FROM dead_letters')
    assert letter['delivery_id'].startswith('delay:')
    assert 'lost with its progress' in letter['error']
    assert letter['rule_ids'] == [rule['id']]
    state = await system.pool.fetchval('SELECT state FROM deliveries WHERE delivery_id = $1', letter['delivery_id'])
    assert state == UNRECOVERABLE
    assert await _reconcile(system) == 0  # closed: not tried again


async def test_a_replayed_dead_letter_of_a_scheduled_run_keeps_its_rule(system: System) -> None:
    issue, _ = await system.sim.create_issue(project='OPS', issuetype='Task', summary='old', labels=('stale',))
    await system.drain()
    due = await system.add_rule(_scheduled('Nudge stale issues', cron=LEAP_DAY))
    other = await system.add_rule(_scheduled('Another nudge', cron='0 10 29 2 *'))  # not due at NINE
    system.sim.fail_next(status=503, times=100, method='POST', path_contains='/comment')
    async with _deps(system) as deps:
        [run] = await run_due(deps, NINE)
    assert len(run.delivery_ids) == 1
    await system.drain()
    [letter] = await system.pool.fetch('SELECT * FROM dead_letters')
    assert letter['job_options']['rule_ids'] == [due['id']]

    system.sim.faults.clear()
    delivery_id = await replay(system.settings, letter['id'])
    await system.drain()
    assert [c['body'] for c in system.sim.comments[issue['key']]] == [f'Still stale: {issue["key"]}']
    replayed = [e for e in await system.audit() if e['delivery_id'] == delivery_id]
    assert [(e['rule_id'], e['status']) for e in replayed] == [(due['id'], 'SUCCESS')]
    assert await system.audit(rule=other['id']) == []
