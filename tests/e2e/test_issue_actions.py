"""create_issue, create_subtasks, link_issues, add_watcher and refetch, end to end: rule, webhook,
drain, then the simulated Jira's state, its recorded calls and the audit entry; and a retry after
lost progress that creates, links and watches nothing twice."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.simulator import ALICE, BOB
from tests.harness import System, redis_keys


def _rule(*actions: dict[str, Any]) -> dict[str, Any]:
    return {'name': 'Follow up', 'projects': ['PROJ'], 'trigger': {'type': 'issue_created'}, 'actions': list(actions)}


CREATE = {
    'type': 'create_issue',
    'project': '{{issue.project.key}}',
    'issuetype': 'Task',
    'summary': 'Follow up on {{issue.key}}',
    'fields': {'labels': ['follow-up'], 'priority': {'name': 'High'}},
    'properties': {'origin': {'from': '{{issue.key}}'}},
}
LINK_CREATED = {'type': 'link_issues', 'link_type': 'Blocks', 'issue': '{{createdIssue.key}}'}
WATCH = {'type': 'add_watcher', 'account_id': BOB['accountId']}


async def test_create_issue_and_link_it_to_the_trigger_issue(system: System) -> None:
    log = {'type': 'log', 'message': '{{createdIssue.key}} {{createdIssues.size}}'}
    await system.add_rule(_rule(CREATE, LINK_CREATED, log))
    issue, _ = await system.sim.create_issue(summary='Broken login', reporter=ALICE)
    await system.drain()
    [created_key] = [k for k in system.sim.issues if k != issue['key']]
    created = system.sim.issues[created_key]['fields']
    assert created['summary'] == f'Follow up on {issue["key"]}'
    assert created['issuetype']['name'] == 'Task'
    assert created['labels'] == ['follow-up']
    assert created['priority']['name'] == 'High'
    properties = system.sim.state.properties[created_key]
    assert properties['origin'] == {'from': issue['key']}
    assert set(properties) == {'origin', 'rulequeue.action'}
    [link] = system.sim.issues[issue['key']]['fields']['issuelinks']
    assert (link['type']['name'], link['outwardIssue']['key']) == ('Blocks', created_key)
    [back] = created['issuelinks']
    assert back['inwardIssue']['key'] == issue['key']
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert entry['actions'][0]['changes']['created'] == [
        {'key': created_key, 'id': system.sim.issues[created_key]['id']}
    ]
    assert entry['actions'][2]['changes']['log'] == f'{created_key} 1'
    creates = [c for c in system.sim.calls if c.method == 'POST' and c.path.endswith('/rest/api/2/issue')]
    [create] = creates
    assert create.jwt_valid
    assert create.status == 201


async def test_create_subtasks_under_the_trigger_issue_and_watch_it(system: System) -> None:
    subtasks = {'type': 'create_subtasks', 'summaries': ['Reproduce {{issue.key}}', 'Fix', 'Verify']}
    await system.add_rule(_rule(subtasks, WATCH))
    issue, _ = await system.sim.create_issue(reporter=ALICE)
    await system.drain()
    parent = system.sim.issues[issue['key']]['fields']
    summaries = [s['fields']['summary'] for s in parent['subtasks']]
    assert summaries == [f'Reproduce {issue["key"]}', 'Fix', 'Verify']
    for brief in parent['subtasks']:
        child = system.sim.issues[brief['key']]['fields']
        assert child['parent']['key'] == issue['key']
        assert child['issuetype']['name'] == 'Sub-task'
    watchers = system.sim.state.watchers[issue['key']]
    assert watchers == [ALICE['accountId'], BOB['accountId']]
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert [c['key'] for c in entry['actions'][0]['changes']['created']] == [s['key'] for s in parent['subtasks']]
    assert entry['actions'][1]['changes'] == {'watcher': BOB['accountId']}


async def test_refetch_shows_a_change_made_after_the_webhook_was_sent(system: System) -> None:
    before = {'type': 'log', 'message': 'before: {{issue.summary}}'}
    after = {'type': 'log', 'message': 'after: {{issue.summary}}'}
    await system.add_rule(_rule(before, {'type': 'refetch'}, after))
    issue, _ = await system.sim.create_issue(summary='Old summary', reporter=ALICE)
    # A person edits the issue while the event waits in the queue (no webhook for it here).
    system.sim.state.edit(issue['key'], {'summary': 'New summary'}, {})
    await system.drain()
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    logs = [a['changes'].get('log') for a in entry['actions']]
    assert logs == ['before: Old summary', None, 'after: New summary']
    gets = [c for c in system.sim.calls if c.method == 'GET' and c.path.endswith(f'/rest/api/2/issue/{issue["key"]}')]
    [get] = gets
    assert get.jwt_valid


async def test_retry_after_lost_progress_creates_links_and_watches_nothing_twice(
    system: System, redis: aioredis.Redis
) -> None:
    subtasks = {'type': 'create_subtasks', 'summaries': ['One', 'Two']}
    comment = {'type': 'comment', 'body': 'Created {{createdIssue.key}}'}
    await system.add_rule(_rule(CREATE, LINK_CREATED, subtasks, WATCH, comment))
    # Everything goes through but the comment, which answers 503 and ends attempt one.
    system.sim.fail_next(status=503, times=1, method='POST', path_contains='/comment')
    issue, _ = await system.sim.create_issue(reporter=ALICE)
    await system.drain(max_burst_jobs=1)
    assert len(system.sim.issues) == 4  # the trigger issue, the created issue, two sub-tasks
    # Lose the progress markers, as a crash right after Jira's answers would.
    for key in await redis_keys(system.settings, constants.PROGRESS_KEY.format(execution='*')):
        await redis.delete(key)
    await system.drain()
    assert len(system.sim.issues) == 4, 'an issue was created twice'
    fields = system.sim.issues[issue['key']]['fields']
    assert len(fields['subtasks']) == 2
    [link] = fields['issuelinks']
    created_key = link['outwardIssue']['key']
    assert system.sim.issues[created_key]['fields']['summary'] == f'Follow up on {issue["key"]}'
    assert system.sim.state.watchers[issue['key']] == [ALICE['accountId'], BOB['accountId']]
    writes = [(c.method, c.path.rsplit('/', 1)[-1]) for c in system.sim.calls if c.status in (201, 204)]
    assert writes.count(('POST', 'issue')) == 3
    assert writes.count(('POST', 'issueLink')) == 1
    assert writes.count(('POST', 'watchers')) == 1
    # The retry found the created issue by its entity property, and the comment names it.
    [comment_made] = system.sim.comments[issue['key']]
    assert comment_made['body'] == f'Created {fields["subtasks"][-1]["key"]}'
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert entry['actions'][0]['changes']['created'][0]['key'] == created_key
