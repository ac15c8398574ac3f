"""The issue_linked and worklog_added triggers, end to end: a person links issues or logs work on
the simulated site, Jira's issuelink_created / worklog_created webhook (no issue in it) is
admitted by issue id, the worker reads the issue with a signed GET, and the rule runs on it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from rulequeue.simulator import ALICE, BOB
from rulequeue.store.tenants import Tenant
from tests.harness import System, redis_keys, snapshot_keys
from worker.jira import JiraClient


def _rule(trigger: dict[str, Any], *actions: dict[str, Any]) -> dict[str, Any]:
    return {'name': f'On {trigger["type"]}', 'projects': ['PROJ'], 'trigger': trigger, 'actions': list(actions)}


LINK_COMMENT = {
    'type': 'comment',
    'body': '{{issue.key}} {{linkType.outward}} {{destinationIssue.key}} ({{linkType}}: {{issueLink.id}})',
}


def _signed_reads_of(system: System, issue_id: str) -> list[Any]:
    return [c for c in system.sim.calls if c.method == 'GET' and c.path == f'/rest/api/2/issue/{issue_id}']


async def test_a_new_link_runs_the_rule_on_its_source_issue(system: System) -> None:
    await system.add_rule(_rule({'type': 'issue_linked', 'link_type': 'BLOCKS'}, LINK_COMMENT))
    source, _ = await system.sim.create_issue(summary='Database migration')
    destination, _ = await system.sim.create_issue(summary='Release')
    answers = await system.sim.link_issues(source['key'], destination['key'], 'Blocks', user=BOB)
    assert [a.status_code for a in answers] == [202]
    sent = system.sim.deliveries[-1].body
    assert sent['webhookEvent'] == 'issuelink_created'
    assert 'issue' not in sent
    await system.drain()

    [comment] = system.sim.comments[source['key']]
    link_id = sent['issueLink']['id']
    assert comment['body'] == f'{source["key"]} blocks {destination["key"]} (Blocks: {link_id})'
    assert system.sim.comments[destination['key']] == []
    [entry] = await system.audit()
    assert (entry['status'], entry['issue_key'], entry['issue_id']) == ('SUCCESS', source['key'], source['id'])
    [read] = _signed_reads_of(system, source['id'])
    assert read.jwt_valid
    assert read.status == 200
    delivery = system.sim.deliveries[-1].delivery_id
    row = await system.pool.fetchrow(
        'SELECT issue_key, issue_id, state FROM deliveries WHERE delivery_id = $1', delivery
    )
    assert dict(row) == {'issue_key': source['key'], 'issue_id': source['id'], 'state': 'done'}
    evaluation = (await system.api('GET', f'/api/events/{delivery}')).json()
    assert (evaluation['issue_key'], evaluation['event_type']) == (source['key'], 'issuelink_created')
    assert await snapshot_keys(system.settings) == []


async def test_another_link_type_does_not_run_the_rule_and_explain_says_why(system: System) -> None:
    rule = await system.add_rule(_rule({'type': 'issue_linked', 'link_type': 'is duplicated by'}, LINK_COMMENT))
    source, _ = await system.sim.create_issue()
    destination, _ = await system.sim.create_issue()
    await system.sim.link_issues(source['key'], destination['key'], 'Relates')
    await system.drain()
    assert system.sim.comments[source['key']] == []
    assert await system.audit() == []
    evaluation = (await system.api('GET', f'/api/events/{system.sim.deliveries[-1].delivery_id}')).json()
    [explained] = [r for r in evaluation['rules'] if r['rule_id'] == rule['id']]
    assert explained['reason'] == 'trigger_mismatch'
    assert explained['trigger_wanted'] == "issuelink_created of type 'is duplicated by'"

    # The same rule runs for a Duplicate link: its inward description matches too.
    await system.sim.link_issues(source['key'], destination['key'], 'Duplicate')
    await system.drain()
    [comment] = system.sim.comments[source['key']]
    assert comment['body'].startswith(f'{source["key"]} duplicates {destination["key"]}')


async def test_logged_work_runs_a_worklog_added_rule(system: System) -> None:
    log_message = {'type': 'log', 'message': '{{worklog.timeSpent}} by {{worklog.author.displayName}}'}
    comment = {'type': 'comment', 'body': '{{initiator.displayName}} logged {{worklog.timeSpentSeconds}} s'}
    await system.add_rule(_rule({'type': 'worklog_added'}, log_message, comment))
    await system.add_rule(_rule({'type': 'issue_linked'}, LINK_COMMENT))  # not this event
    issue, _ = await system.sim.create_issue()
    answers = await system.sim.add_worklog(issue['key'], 5400, user=ALICE)
    assert [a.status_code for a in answers] == [202]
    await system.drain()
    [entry] = await system.audit()
    assert entry['rule_name'] == 'On worklog_added'
    assert entry['issue_key'] == issue['key']
    assert entry['actions'][0]['changes']['log'] == f'1h 30m by {ALICE["displayName"]}'
    [posted] = system.sim.comments[issue['key']]
    assert posted['body'] == f'{ALICE["displayName"]} logged 5400 s'
    [read] = _signed_reads_of(system, issue['id'])
    assert read.jwt_valid


async def test_a_worklog_posted_through_rest_is_reported_like_jiras(system: System) -> None:
    issue, _ = await system.sim.create_issue()
    system.sim.emit_app_events = True  # the app's own worklog comes back as a webhook, as on Jira
    logged = _rule({'type': 'worklog_added'}, {'type': 'log', 'message': '{{worklog.timeSpent}}'})
    await system.add_rule({**logged, 'allow_rule_trigger': True})
    assert system.sim.shared_secret is not None
    tenant = Tenant(system.sim.client_key, system.sim.base_url, 'installed', SecretStr(system.sim.shared_secret))
    jira = JiraClient(system.http, app_key='rulequeue', timeout=10)
    path = f'/rest/api/2/issue/{issue["id"]}/worklog'
    posted = await jira.request(tenant, 'POST', path, json={'timeSpent': '2h 15m', 'comment': 'pairing'})
    assert (posted['timeSpentSeconds'], posted['issueId']) == (8100, issue['id'])
    listed = await jira.request(tenant, 'GET', path)
    assert [w['id'] for w in listed['worklogs']] == [posted['id']]
    await system.sim.wait_for_app_events()
    assert [a.status_code for a in system.sim.app_event_responses] == [202]
    await system.drain()
    [entry] = await system.audit()
    assert entry['actions'][0]['changes']['log'] == '2h 15m'


@pytest.mark.parametrize(
    ('body', 'fragment'),
    [
        ({'webhookEvent': 'issuelink_created'}, 'issuelink_created webhook: issueLink: Field required'),
        (
            {'webhookEvent': 'issuelink_created', 'issueLink': {'id': 1, 'destinationIssueId': 2, 'issueLinkType': {}}},
            'issueLink.sourceIssueId',
        ),
        (
            {
                'webhookEvent': 'issuelink_created',
                'issueLink': {
                    'id': 1,
                    'sourceIssueId': 'PROJ-1',
                    'destinationIssueId': 2,
                    'issueLinkType': {'name': 'x'},
                },
            },
            'issueLink.sourceIssueId',
        ),
        ({'webhookEvent': 'worklog_created', 'worklog': {'id': '5'}}, 'worklog_created webhook: worklog.issueId'),
        ({'webhookEvent': 'worklog_created', 'worklog': []}, 'worklog_created webhook: worklog'),
        (
            {'webhookEvent': 'worklog_created', 'worklog': {'id': '5', 'issueId': '1'}, 'issue': {'id': '1'}},
            'names its issue by id',
        ),
    ],
)
async def test_malformed_link_and_worklog_bodies_are_400(system: System, body: dict[str, Any], fragment: str) -> None:
    response = await system.sim.send_webhook(body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()['error']
    assert await redis_keys(system.settings, 'arq:*') == []
    assert await system.pool.fetchval('SELECT count(*) FROM deliveries') == 0


async def test_an_issue_event_still_needs_its_key(system: System) -> None:
    response = await system.sim.send_webhook({'webhookEvent': 'jira:issue_created', 'issue': {'id': '10000'}})
    assert response.status_code == 400
    assert 'issue.key' in response.json()['error']


async def test_a_linked_issue_deleted_before_the_worker_reads_it_runs_nothing(system: System) -> None:
    await system.add_rule(_rule({'type': 'issue_linked'}, LINK_COMMENT))
    source, _ = await system.sim.create_issue()
    destination, _ = await system.sim.create_issue()
    await system.sim.link_issues(source['key'], destination['key'])
    delivery = system.sim.deliveries[-1].delivery_id
    system.sim.state.delete(source['key'])  # no webhook: the app does not subscribe to it here
    await system.drain()
    assert await system.audit() == []
    state = await system.pool.fetchval('SELECT state FROM deliveries WHERE delivery_id = $1', delivery)
    assert state == 'issue-unavailable'
    [read] = _signed_reads_of(system, source['id'])
    assert read.status == 404
