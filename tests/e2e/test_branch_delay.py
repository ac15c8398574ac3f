"""branch and delay, end to end through the simulator: each branch item is an execution of its own,
run in order, bounded and admitted once; a delay continues the rule in a deferred job, with its
snapshot kept until then and one audit row for the rule."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.simulator import ALICE
from rulequeue.simulator.relations import add_link, attach_subtask
from tests.harness import System, redis_keys, running_system, snapshot_keys

ITEM_COMMENT = {'type': 'comment', 'body': 'item {{issue.key}} of {{triggerIssue.key}}'}


def _rule(*actions: dict[str, Any], trigger: str = 'issue_updated') -> dict[str, Any]:
    return {'name': 'Branchy', 'projects': ['PROJ'], 'trigger': {'type': trigger}, 'actions': list(actions)}


def _branch(over: str, **extra: Any) -> dict[str, Any]:
    return {'type': 'branch', 'over': over, 'actions': [ITEM_COMMENT], **extra}


def _quiet_issue(system: System, issuetype: str = 'Task', **changes: Any) -> str:
    """An issue made without a webhook (the rule must not fire for it)."""
    change = system.sim.state.create(
        project='PROJ', issuetype=issuetype, summary='s', reporter=ALICE, changes={'labels': [], **changes}
    )
    return str(change.issue['key'])


def _commented(system: System) -> list[str]:
    """The issue keys of the app's comment calls, in the order Jira received them."""
    posts = [c for c in system.sim.calls if c.method == 'POST' and c.path.endswith('/comment')]
    return [system.sim.state.key_for(c.path.split('/')[-2]) for c in posts]


def _bodies(system: System, key: str) -> list[str]:
    return [str(c['body']) for c in system.sim.comments[key]]


async def _parent_with_subtasks(system: System, count: int) -> tuple[str, list[str]]:
    parent = _quiet_issue(system)
    subtasks = [_quiet_issue(system, 'Sub-task') for _ in range(count)]
    for key in subtasks:
        attach_subtask(system.sim.state, parent, key)
    return parent, subtasks


async def test_branch_over_subtasks_runs_each_item_as_its_own_execution_in_order(system: System) -> None:
    await system.add_rule(_rule(_branch('subtasks'), {'type': 'comment', 'body': 'parent {{issue.key}}'}))
    parent, subtasks = await _parent_with_subtasks(system, 3)
    await system.sim.update_issue(parent, {'summary': 'go'})
    await system.drain()
    # The parent execution first (it holds its issue's line), then the items one by one.
    assert _commented(system) == [parent, *subtasks]
    for key in subtasks:
        assert _bodies(system, key) == [f'item {key} of {parent}']
    assert _bodies(system, parent) == [f'parent {parent}']
    entries = sorted(await system.audit(), key=lambda e: int(e['issue_id']))
    assert [e['issue_key'] for e in entries] == [parent, *subtasks]
    assert all(e['status'] == 'SUCCESS' for e in entries)
    assert entries[0]['actions'][0]['changes'] == {'over': 'subtasks', 'items': subtasks}
    for number, entry in enumerate(entries[1:], start=1):
        assert entry['delivery_id'].startswith('branch:')
        assert entry['messages'][0].startswith(f'branch 0 over subtasks of {parent}: item {number} of 3')
        assert [(a['type'], a['path']) for a in entry['actions']] == [('comment', '0.actions.0')]
    assert await snapshot_keys(system.settings) == []


async def test_branch_over_the_parent(system: System) -> None:
    await system.add_rule(_rule(_branch('parent')))
    parent, [child] = await _parent_with_subtasks(system, 1)
    await system.sim.update_issue(child, {'summary': 'go'})
    await system.drain()
    assert _bodies(system, parent) == [f'item {parent} of {child}']
    assert _bodies(system, child) == []


async def test_branch_over_linked_issues_of_one_link_type(system: System) -> None:
    await system.add_rule(_rule(_branch('linked', link_type='blocks')))
    issue, first, second, related, blocker = (_quiet_issue(system) for _ in range(5))
    add_link(system.sim.state, 'Blocks', issue, first)
    add_link(system.sim.state, 'Relates', issue, related)
    add_link(system.sim.state, 'Blocks', blocker, issue)  # the issue "is blocked by" it: not "blocks"
    add_link(system.sim.state, 'Blocks', issue, second)
    await system.sim.update_issue(issue, {'summary': 'go'})
    await system.drain()
    assert _commented(system) == [first, second]
    assert _bodies(system, second) == [f'item {second} of {issue}']


async def test_branch_over_a_jql_search_in_jiras_order(system: System) -> None:
    jql = 'labels = batch AND key != {{issue.key}}'
    await system.add_rule(_rule(_branch('jql', jql=jql)))
    found = [_quiet_issue(system, labels=['batch']) for _ in range(3)]
    _quiet_issue(system, labels=['other'])
    trigger = _quiet_issue(system, labels=['batch'])
    await system.sim.update_issue(trigger, {'summary': 'go'})
    await system.drain()
    assert _commented(system) == found[::-1]  # newest first, as Jira orders a search without ORDER BY
    searches = [c for c in system.sim.calls if c.path.endswith('/rest/api/3/search/jql')]
    assert searches
    assert all(c.jwt_valid for c in searches)
    assert searches[0].json['jql'] == f'labels = batch AND key != {trigger}'


async def test_items_beyond_the_bound_are_named_not_run(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, max_branch_items=2) as system:
        await system.add_rule(_rule(_branch('subtasks')))
        parent, subtasks = await _parent_with_subtasks(system, 3)
        await system.sim.update_issue(parent, {'summary': 'go'})
        await system.drain()
        assert _commented(system) == subtasks[:2]
        [entry] = [e for e in await system.audit() if e['issue_key'] == parent]
        assert entry['actions'][0]['changes']['items'] == subtasks[:2]
        assert entry['actions'][0]['message'] == '3 issues; the first 2 ran (MAX_BRANCH_ITEMS), 1 did not'


async def test_a_retried_parent_admits_no_item_twice(system: System, redis: aioredis.Redis) -> None:
    await system.add_rule(_rule(_branch('subtasks'), {'type': 'comment', 'body': 'parent'}))
    parent, subtasks = await _parent_with_subtasks(system, 2)
    # The branch goes through; the parent's own comment answers 503 and ends attempt one.
    system.sim.fail_next(status=503, times=1, method='POST', path_contains=f'/{parent}/comment')
    await system.sim.update_issue(parent, {'summary': 'go'})
    await system.drain(max_burst_jobs=1)
    # Lose the parent's progress, as a crash right after the branch would: it branches again.
    for key in await redis_keys(system.settings, constants.PROGRESS_KEY.format(execution='*')):
        await redis.delete(key)
    await system.drain()
    for key in subtasks:
        assert _bodies(system, key) == [f'item {key} of {parent}']
    assert _bodies(system, parent) == ['parent']
    assert len(await system.audit()) == 3


async def test_branch_inside_a_branch_and_a_long_delay_are_refused(system: System) -> None:
    nested = _branch('subtasks', actions=[_branch('parent')])
    for rule in (_rule(nested), _rule({'type': 'delay', 'seconds': 901})):
        response = await system.api('POST', '/api/rules', json=rule)
        assert response.status_code == 422, response.text


async def test_delay_continues_the_rule_later_in_a_deferred_job(system: System, redis: aioredis.Redis) -> None:
    delayed = await system.add_rule(
        _rule(
            {'type': 'comment', 'body': 'first'},
            {'type': 'delay', 'seconds': 60},
            {'type': 'comment', 'body': 'second {{issue.key}}'},
            trigger='issue_created',
        )
    )
    other = await system.add_rule({**_rule({'type': 'comment', 'body': 'other'}, trigger='issue_created')})
    issue, _ = await system.sim.create_issue(reporter=ALICE)
    key = issue['key']
    await system.drain(max_burst_jobs=1)  # the event's execution; the continuation is not due
    assert sorted(_bodies(system, key)) == ['first', 'other']  # the other rule was not held back
    [entry] = await system.audit()
    assert entry['rule_id'] == other['id']
    assert len(await snapshot_keys(system.settings)) == 1  # the continuation's, kept for the delay
    # Make the deferred job due now instead of waiting a minute, then run it (a new worker).
    queued = await redis.zrange(constants.QUEUE_NAME, 0, -1)
    assert len(queued) == 1
    await redis.zadd(constants.QUEUE_NAME, {queued[0]: time.time() * 1000})
    await system.drain()
    assert _bodies(system, key)[-1] == f'second {key}'
    rows = [e for e in await system.audit() if e['rule_id'] == delayed['id']]
    [row] = rows  # one audit row for the rule's execution, written when it ended
    assert row['status'] == 'SUCCESS'
    assert [a['type'] for a in row['actions']] == ['comment', 'delay', 'comment']
    assert row['actions'][1]['changes']['seconds'] == 60
    assert row['actions'][1]['changes']['continued'] is True
    assert row['messages'][0].startswith('continued after a delay of 60 s')
    assert await snapshot_keys(system.settings) == []
    assert await redis_keys(system.settings, constants.PROGRESS_KEY.format(execution='*')) == []
    assert sorted(_bodies(system, key)) == ['first', 'other', f'second {key}']


async def test_a_rule_edited_during_its_delay_is_not_continued(system: System, redis: aioredis.Redis) -> None:
    document = _rule(
        {'type': 'comment', 'body': 'first'},
        {'type': 'delay', 'seconds': 60},
        {'type': 'comment', 'body': 'second'},
        trigger='issue_created',
    )
    rule = await system.add_rule(document)
    issue, _ = await system.sim.create_issue(reporter=ALICE)
    await system.drain(max_burst_jobs=1)
    edited = await system.api('PUT', f'/api/rules/{rule["id"]}', json={**document, 'name': 'Renamed'})
    assert edited.status_code == 200, edited.text
    [queued] = await redis.zrange(constants.QUEUE_NAME, 0, -1)
    await redis.zadd(constants.QUEUE_NAME, {queued: time.time() * 1000})
    await system.drain()
    assert _bodies(system, issue['key']) == ['first']
    [row] = await system.audit()
    assert row['status'] == 'FAILURE'
    assert 'the rule changed (version 1 to 2) since its delay began; not run' in row['messages']
    assert await snapshot_keys(system.settings) == []
