"""Forge's link and worklog events without Jira: parsing in both envelopes, what is refused,
the idempotency key, and the Connect-shaped body (the same snapshot and change key as the
Connect webhook for the same link or worklog)."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any

import pytest

from producer.link_worklog import as_issue_webhook
from rulequeue.errors import ForgeEventRejected
from rulequeue.forge.events import idempotency_key, parse_event
from rulequeue.forge.intake import connect_shaped
from rulequeue.forge.link_worklog import IssueLinkEvent, WorklogEvent
from rulequeue.simulator import ALICE
from rulequeue.simulator.link_worklog import bodies_for, forge_event_for, link_change
from rulequeue.simulator.state import Change
from rulequeue.transport import change_of
from schemas.events import WebhookEvent
from worker.smartvalues.link_worklog import link_worklog_values

INSTALLATION = 'ari:cloud:ecosystem::installation/0d1c2b3a-4f5e-4a6b-8c7d-9e0f1a2b3c4d'
CTX = SimpleNamespace(installation_id=INSTALLATION, cloud_id='cloud-1')
LINK: dict[str, Any] = {
    'eventType': 'avi:jira:created:issuelink',
    'atlassianId': '557058:bob',
    'issueLink': {
        'id': '10100',
        'sourceIssueId': '10000',
        'destinationIssueId': '10001',
        'issueLinkType': {'id': '10000', 'name': 'Blocks', 'inward': 'is blocked by', 'outward': 'blocks'},
        'systemLink': False,
    },
}
WORKLOG: dict[str, Any] = {
    'eventType': 'avi:jira:created:worklog',
    'timestamp': '1755860000123',
    'atlassianId': '557058:alice',
    'worklog': {'id': '10200', 'issueId': '10000', 'author': {'accountId': '557058:alice'}, 'timeSpentSeconds': 5400},
}
ISSUES = ({'id': '10000', 'key': 'PROJ-1', 'fields': {}}, {'id': '10001', 'key': 'PROJ-2', 'fields': {}})
LINK_TYPE = {'id': '10000', 'name': 'Blocks', 'inward': 'is blocked by', 'outward': 'blocks'}


def _with(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``event`` with the dotted ``path`` set to ``value`` (removed if ``value`` is ...)."""
    changed = copy.deepcopy(event)
    *parents, last = path.split('.')
    target = changed
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return changed


def _connect_event(body: dict[str, Any]) -> WebhookEvent:
    return WebhookEvent.model_validate(as_issue_webhook(body, json.dumps(body).encode())[0])


def _forge_event(body: dict[str, Any]) -> WebhookEvent:
    return WebhookEvent.model_validate(connect_shaped(CTX, parse_event(body)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ('body', 'model', 'connect_event', 'triggers'),
    [
        (LINK, IssueLinkEvent, 'issuelink_created', ('issue_linked',)),
        (WORKLOG, WorklogEvent, 'worklog_created', ('worklog_added',)),
    ],
)
def test_both_envelopes_parse_to_the_connect_event_and_trigger(
    body: dict[str, Any], model: type[Any], connect_event: str, triggers: tuple[str, ...]
) -> None:
    bare, wrapped = parse_event(json.dumps(body)), parse_event({'payload': {**body, 'retryContext': {'retryCount': 2}}})
    assert (bare.envelope, wrapped.envelope, wrapped.retry_count) == ('bare', 'payload', 2)
    assert bare.event == wrapped.event
    assert isinstance(bare.event, model)
    assert (bare.connect_event, bare.triggers) == (connect_event, triggers)
    assert idempotency_key(INSTALLATION, bare) == idempotency_key(INSTALLATION, wrapped)


@pytest.mark.parametrize(
    ('body', 'path', 'value', 'reason'),
    [
        (LINK, 'issueLink', ..., 'issueLink missing'),
        (LINK, 'issueLink.id', ..., 'issueLink.id missing'),
        (LINK, 'issueLink.sourceIssueId', ..., 'issueLink.sourceIssueId missing'),
        (LINK, 'issueLink.destinationIssueId', 'PROJ-2', 'issueLink.destinationIssueId string_pattern_mismatch'),
        (LINK, 'issueLink.issueLinkType.name', ..., 'issueLink.issueLinkType.name missing'),
        (WORKLOG, 'worklog.id', ..., 'worklog.id missing'),
        (WORKLOG, 'worklog.issueId', None, 'worklog.issueId string_type'),
        (WORKLOG, 'timestamp', 'yesterday', 'timestamp int_parsing'),
    ],
)
def test_events_without_the_ids_we_need_are_rejected(body: dict[str, Any], path: str, value: Any, reason: str) -> None:
    with pytest.raises(ForgeEventRejected) as caught:
        parse_event(_with(body, path, value))
    assert caught.value.reason == f'invalid {body["eventType"]} event: {reason}'


def test_the_key_names_the_link_or_worklog_and_the_installation() -> None:
    def key(body: dict[str, Any], installation: str = INSTALLATION) -> str:
        return idempotency_key(installation, parse_event(body))

    assert key(LINK) != key(_with(LINK, 'issueLink.id', '10101'))
    assert key(LINK) != key(LINK, INSTALLATION.replace('0d1c', '1d1c'))
    assert key(WORKLOG) != key(_with(WORKLOG, 'worklog.id', '10201'))
    # A link and a worklog with the same ids on the same issue are different events.
    assert key(_with(LINK, 'issueLink.id', '10200')) != key(WORKLOG)
    # Numbers and strings are the same id.
    assert key(LINK) == key(_with(LINK, 'issueLink.id', 10100))


def test_a_link_becomes_the_body_the_connect_path_stores() -> None:
    event = _forge_event(LINK)
    assert event.webhookEvent == 'issuelink_created'
    assert (event.issue.id, event.issue.key) == ('10000', '')  # the source; key after the worker's read
    assert event.actor() == {'accountId': '557058:bob'}
    values = link_worklog_values(event.model_dump(mode='json', by_alias=True))
    assert values['linkType'] == {'id': '10000', 'name': 'Blocks', 'inward': 'is blocked by', 'outward': 'blocks'}
    assert values['destinationIssue'] == {'id': '10001'}
    assert values['issueLink']['id'] == '10100'
    assert event.timestamp is None  # not sent: intake orders it by arrival


def test_a_worklog_becomes_the_body_the_connect_path_stores() -> None:
    event = _forge_event(WORKLOG)
    assert (event.webhookEvent, event.issue.id, event.issue.key, event.timestamp) == (
        'worklog_created',
        '10000',
        '',
        1755860000123,
    )
    assert link_worklog_values(event.model_dump(mode='json', by_alias=True))['worklog']['timeSpentSeconds'] == 5400


def test_both_transports_report_one_link_or_worklog_as_the_same_change() -> None:
    linked = link_change('10100', LINK_TYPE, *ISSUES)
    worklog = {'id': '10200', 'issueId': '10000', 'author': ALICE, 'updateAuthor': ALICE, 'timeSpentSeconds': 600}
    logged = Change('worklogged', ISSUES[0], linked.at, related=worklog)
    for change in (linked, logged):
        [connect] = bodies_for(change)
        via_connect = _connect_event(connect)
        via_forge = _forge_event(forge_event_for(change, ALICE))
        assert change_of(via_forge) == change_of(via_connect) is not None
        assert via_forge.issue.id == via_connect.issue.id
        assert via_forge.timestamp == via_connect.timestamp
    other = _forge_event(forge_event_for(link_change('10101', LINK_TYPE, *ISSUES), ALICE))
    assert change_of(other) != change_of(_connect_event(bodies_for(linked)[0]))


def test_a_simulated_forge_link_has_the_connect_link_types_descriptions() -> None:
    change = link_change('10100', LINK_TYPE, *ISSUES)
    connect = _connect_event(bodies_for(change)[0]).model_dump(mode='json', by_alias=True)
    forge = _forge_event(forge_event_for(change, ALICE)).model_dump(mode='json', by_alias=True)
    assert link_worklog_values(forge)['linkType'] == link_worklog_values(connect)['linkType']
