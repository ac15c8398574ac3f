"""Link and worklog events without Jira: the body turned into an issue event, trigger matching,
smart values and the actor."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from producer.link_worklog import as_issue_webhook, derived_id_parts, needs_issue
from rulequeue.errors import BadRequest
from schemas.events import WebhookEvent
from schemas.triggers import IssueCreated, IssueLinked, WorklogAdded
from worker.link_worklog import describe, matches
from worker.smartvalues.link_worklog import link_worklog_values

LINK: dict[str, Any] = {
    'timestamp': 1,
    'webhookEvent': 'issuelink_created',
    'issueLink': {
        'id': 10100,
        'sourceIssueId': 10000,
        'destinationIssueId': 10001,
        'issueLinkType': {'id': 10000, 'name': 'Blocks', 'outwardName': 'blocks', 'inwardName': 'is blocked by'},
    },
}
WORKLOG: dict[str, Any] = {
    'timestamp': 2,
    'webhookEvent': 'worklog_created',
    'worklog': {'id': '7', 'issueId': '10000', 'timeSpent': '1h', 'author': {'displayName': 'Alice'}},
}


def _event(body: dict[str, Any]) -> WebhookEvent:
    data, raw = as_issue_webhook(body, json.dumps(body).encode())
    assert json.loads(raw) == data
    return WebhookEvent.model_validate(data)


def test_a_link_is_admitted_by_its_source_issue_id_without_a_key() -> None:
    event = _event(LINK)
    assert (event.issue.id, event.issue.key) == ('10000', '')
    assert needs_issue(event)
    assert derived_id_parts(event) == ['10100']
    assert _event(WORKLOG).issue.id == '10000'
    issue_event = {'webhookEvent': 'jira:issue_created', 'issue': {'id': '1', 'key': 'P-1'}}
    assert as_issue_webhook(issue_event, b'x') == (issue_event, b'x')


def test_only_id_only_events_may_lack_a_key() -> None:
    with pytest.raises(ValidationError, match=r'issue\.key'):
        WebhookEvent.model_validate({'webhookEvent': 'jira:issue_updated', 'issue': {'id': '1'}})
    with pytest.raises(ValidationError):
        WebhookEvent.model_validate({'webhookEvent': 'issuelink_created', 'issue': {'id': '1', 'key': 'no key'}})
    with pytest.raises(BadRequest, match=r'issueLink\.issueLinkType'):
        as_issue_webhook({**LINK, 'issueLink': {**LINK['issueLink'], 'issueLinkType': None}}, b'')


@pytest.mark.parametrize(
    ('wanted', 'fires'), [(None, True), ('blocks', True), ('IS BLOCKED BY', True), ('Blocks', True), ('Relates', False)]
)
def test_link_type_matches_name_or_either_description(wanted: str | None, fires: bool) -> None:
    trigger = IssueLinked(type='issue_linked', link_type=wanted)
    assert matches(trigger, _event(LINK)) is fires
    assert matches(trigger, _event(WORKLOG)) is False


def test_worklog_trigger_and_descriptions() -> None:
    assert matches(WorklogAdded(type='worklog_added'), _event(WORKLOG)) is True
    assert matches(WorklogAdded(type='worklog_added'), _event(LINK)) is False
    assert matches(IssueCreated(type='issue_created'), _event(LINK)) is None
    assert describe(IssueLinked(type='issue_linked', link_type='blocks')) == "issuelink_created of type 'blocks'"
    assert describe(WorklogAdded(type='worklog_added')) == 'worklog_created'


def test_smart_values_and_actor() -> None:
    data = _event(LINK).model_dump(mode='json', by_alias=True, exclude_unset=True)
    values = link_worklog_values(data)
    assert values['linkType'] == {'id': '10000', 'name': 'Blocks', 'inward': 'is blocked by', 'outward': 'blocks'}
    assert values['destinationIssue'] == {'id': '10001'}  # the source issue was not read: no link list
    data['issue'] = {
        'id': '10000',
        'key': 'P-1',
        'fields': {
            'issuelinks': [
                {'id': '10100', 'outwardIssue': {'id': '10001', 'key': 'P-2'}},
            ]
        },
    }
    assert link_worklog_values(data)['destinationIssue'] == {'id': '10001', 'key': 'P-2'}
    worklog = _event(WORKLOG)
    assert link_worklog_values(worklog.model_dump(mode='json'))['worklog']['timeSpent'] == '1h'
    assert worklog.actor() == {'displayName': 'Alice'}
    assert link_worklog_values({'webhookEvent': 'jira:issue_created', 'issue': {}}) == {}
