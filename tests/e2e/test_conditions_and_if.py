"""Ordering comparisons, the ``user`` condition and ``if``/``else`` blocks, end to end through the
simulator: who caused the event, group membership asked of Jira (signed, once, only when reached),
and branches that stay effectively-once across retries."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.simulator import ALICE, BOB
from rulequeue.simulator.calls import RecordedCall
from tests.harness import System, redis_keys

GROUPS = '/rest/api/2/user/groups'
IS_ALICE = {'type': 'user', 'op': 'is', 'account_ids': [ALICE['accountId']]}


def _comment(body: str) -> dict[str, Any]:
    return {'type': 'comment', 'body': body}


def _rule(name: str, conditions: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    actions = actions or [_comment(f'{name} ran')]
    return {'name': name, 'trigger': {'type': 'issue_created'}, 'conditions': conditions, 'actions': actions}


def _comments(system: System, key: str) -> list[str]:
    return [c['body'] for c in system.sim.comments.get(key, [])]


def _group_calls(system: System) -> list[RecordedCall]:
    return [c for c in system.sim.calls if c.path == GROUPS]


def _actions(entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(a['index'], a['path'], a['type'], a['status'], a['changes'].get('branch')) for a in entry['actions']]


async def test_user_is_and_is_not_the_initiator(system: System) -> None:
    await system.add_rule(_rule('Alice', [IS_ALICE]))
    await system.add_rule(_rule('Not Alice', [{**IS_ALICE, 'op': 'is_not'}]))
    by_alice, _ = await system.sim.create_issue(reporter=ALICE)
    by_bob, _ = await system.sim.create_issue(reporter=BOB)
    await system.drain()

    assert _comments(system, by_alice['key']) == ['Alice ran']
    assert _comments(system, by_bob['key']) == ['Not Alice ran']
    statuses = {(e['issue_key'], e['rule_name']): e['status'] for e in await system.audit()}
    assert statuses == {
        (by_alice['key'], 'Alice'): 'SUCCESS',
        (by_alice['key'], 'Not Alice'): 'NO_ACTIONS_PERFORMED',
        (by_bob['key'], 'Alice'): 'NO_ACTIONS_PERFORMED',
        (by_bob['key'], 'Not Alice'): 'SUCCESS',
    }
    assert _group_calls(system) == []


async def test_in_group_asks_jira_once_signed_and_only_when_reached(system: System) -> None:
    system.sim.state.groups[ALICE['accountId']] = ['Jira-Admins', 'site-admins']
    system.sim.state.groups[BOB['accountId']] = ['contractors']
    conditions = [
        {'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Bug'},
        {'type': 'user', 'op': 'in_group', 'group': 'jira-admins'},
        {'type': 'user', 'op': 'not_in_group', 'group': 'contractors'},
    ]
    await system.add_rule(_rule('Admins', conditions))
    task, _ = await system.sim.create_issue(issuetype='Task', reporter=ALICE)
    await system.drain()
    assert _group_calls(system) == [], 'a condition after a failed one is not asked'

    bug, _ = await system.sim.create_issue(issuetype='Bug', reporter=ALICE)
    await system.drain()
    assert _comments(system, bug['key']) == ['Admins ran']
    [call] = _group_calls(system)  # two group conditions, one question per initiator
    assert (call.method, call.query, call.status, call.jwt_valid) == (
        'GET',
        'accountId=' + ALICE['accountId'].replace(':', '%3A'),
        200,
        True,
    )
    assert call.claims is not None
    assert call.claims['qsh'] != 'context-qsh'  # bound to this request, not a page token

    bobs, _ = await system.sim.create_issue(issuetype='Bug', reporter=BOB)
    await system.drain()
    assert _comments(system, bobs['key']) == []
    assert len(_group_calls(system)) == 2
    entry = next(e for e in await system.audit() if e['issue_key'] == bobs['key'])
    assert (entry['status'], entry['messages']) == (
        'NO_ACTIONS_PERFORMED',
        ["condition 2: initiator in_group 'jira-admins' -> not met"],
    )
    assert _comments(system, task['key']) == []


async def test_greater_than_on_a_number_field_and_dates(system: System) -> None:
    # customfield_10016 is "Story point estimate"; webhooks carry no field names, so by id.
    big = {'type': 'compare', 'left': '{{issue.customfield_10016}}', 'op': 'greater_than', 'right': '5'}
    overdue = {'type': 'compare', 'left': '{{issue.duedate}}', 'op': 'less_than', 'right': '{{now}}'}
    await system.add_rule(_rule('Big', [big]))
    await system.add_rule(_rule('Overdue', [overdue]))
    large, _ = await system.sim.create_issue(customfield_10016=13, duedate='2099-01-31')
    small_late, _ = await system.sim.create_issue(customfield_10016=3, duedate='2020-01-31')
    unset, _ = await system.sim.create_issue()
    await system.drain()

    assert _comments(system, large['key']) == ['Big ran']
    assert _comments(system, small_late['key']) == ['Overdue ran']
    assert _comments(system, unset['key']) == []
    entries = {(e['issue_key'], e['rule_name']): e for e in await system.audit()}
    assert entries[unset['key'], 'Big']['messages'] == [
        "condition 1: '{{issue.customfield_10016}}' greater_than '5' -> not met (the left side is empty)"
    ]
    assert entries[small_late['key'], 'Big']['status'] == 'NO_ACTIONS_PERFORMED'


IF_RULE = _rule(
    'Branches',
    [],
    [
        _comment('first'),
        {
            'type': 'if',
            'conditions': [IS_ALICE],
            'then': [
                _comment('alice'),
                {
                    'type': 'if',
                    'conditions': [{'type': 'field', 'field': 'priority', 'op': 'equals', 'value': 'High'}],
                    'then': [_comment('alice, high')],
                },
            ],
            'else': [_comment('someone else'), {'type': 'edit', 'fields': {'labels': {'add': ['external']}}}],
        },
        _comment('last'),
    ],
)


async def test_if_else_runs_one_branch_in_place_nested_once(system: System) -> None:
    await system.add_rule(IF_RULE)
    high, _ = await system.sim.create_issue(reporter=ALICE, priority='High')
    low, _ = await system.sim.create_issue(reporter=ALICE, priority='Low')
    by_bob, _ = await system.sim.create_issue(reporter=BOB)
    await system.drain()

    assert _comments(system, high['key']) == ['first', 'alice', 'alice, high', 'last']
    assert _comments(system, low['key']) == ['first', 'alice', 'last']
    assert _comments(system, by_bob['key']) == ['first', 'someone else', 'last']
    assert 'external' in system.sim.issues[by_bob['key']]['fields']['labels']
    assert 'external' not in system.sim.issues[high['key']]['fields']['labels']
    entries = {e['issue_key']: e for e in await system.audit()}
    assert {e['status'] for e in entries.values()} == {'SUCCESS'}
    assert _actions(entries[high['key']]) == [
        (0, None, 'comment', 'SUCCESS', None),
        (1, None, 'if', 'SUCCESS', 'then'),
        (1, '1.then.0', 'comment', 'SUCCESS', None),
        (1, '1.then.1', 'if', 'SUCCESS', 'then'),
        (1, '1.then.1.then.0', 'comment', 'SUCCESS', None),
        (2, None, 'comment', 'SUCCESS', None),
    ]
    assert _actions(entries[low['key']])[3] == (1, '1.then.1', 'if', 'SUCCESS', 'none')
    assert entries[low['key']]['actions'][3]['message'] == "condition 1: priority equals 'High' -> not met"
    assert _actions(entries[by_bob['key']]) == [
        (0, None, 'comment', 'SUCCESS', None),
        (1, None, 'if', 'SUCCESS', 'else'),
        (1, '1.else.0', 'comment', 'SUCCESS', None),
        (1, '1.else.1', 'edit', 'SUCCESS', None),
        (2, None, 'comment', 'SUCCESS', None),
    ]


def _grouped_if(then: list[dict[str, Any]]) -> dict[str, Any]:
    block = {'type': 'if', 'conditions': [{'type': 'user', 'op': 'in_group', 'group': 'triagers'}], 'then': then}
    return _rule('Grouped', [], [{**block, 'else': [_comment('not a triager')]}])


async def test_a_retry_keeps_the_branch_chosen_and_skips_its_done_actions(system: System) -> None:
    system.sim.state.groups[ALICE['accountId']] = ['triagers']
    await system.add_rule(_grouped_if([_comment('triaged'), {'type': 'assign', 'account_id': ALICE['accountId']}]))
    system.sim.fail_next(status=503, times=1, method='PUT', path_contains='/assignee')
    issue, _ = await system.sim.create_issue(reporter=ALICE)
    await system.drain(max_burst_jobs=1)
    assert _comments(system, issue['key']) == ['triaged']
    # Alice leaves the group before the retry: the branch already chosen is still followed.
    system.sim.state.groups[ALICE['accountId']] = []
    await system.drain()

    assert _comments(system, issue['key']) == ['triaged']
    assert system.sim.issues[issue['key']]['fields']['assignee']['accountId'] == ALICE['accountId']
    assert len(_group_calls(system)) == 1
    [entry] = await system.audit()
    assert (entry['status'], entry['attempts']) == ('SUCCESS', 2)
    assert [a['path'] for a in entry['actions']] == [None, '0.then.0', '0.then.1']


async def test_a_retry_after_lost_progress_inside_a_branch_does_nothing_twice(
    system: System, redis: aioredis.Redis
) -> None:
    system.sim.state.groups[ALICE['accountId']] = ['triagers']
    then = [_comment('triaged'), {'type': 'transition', 'to': 'Triage'}, {'type': 'assign', 'account_id': None}]
    await system.add_rule(_grouped_if(then))
    system.sim.fail_next(status=503, times=1, method='PUT', path_contains='/assignee')
    issue, _ = await system.sim.create_issue(reporter=ALICE, assignee=BOB['accountId'])
    await system.drain(max_burst_jobs=1)
    # Lose every progress marker, the branch choice included, as a crash right after Jira's answers
    # would: membership has not changed, so the conditions choose the same branch again.
    for key in await redis_keys(system.settings, constants.PROGRESS_KEY.format(execution='*')):
        await redis.delete(key)
    await system.drain()

    comments = system.sim.comments[issue['key']]
    assert [c['body'] for c in comments] == ['triaged']
    assert comments[0]['properties'][0]['key'] == 'rulequeue.action'
    transitions = [c for c in system.sim.calls if c.method == 'POST' and c.path.endswith('/transitions')]
    assert len(transitions) == 1
    assert system.sim.issues[issue['key']]['fields']['status']['name'] == 'Triage'
    assert system.sim.issues[issue['key']]['fields']['assignee'] is None
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert [a['path'] for a in entry['actions']] == [None, '0.then.0', '0.then.1', '0.then.2']
