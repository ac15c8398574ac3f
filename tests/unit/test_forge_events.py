"""Forge event envelopes, the event model, trigger mapping and the idempotency key.

Test ids carry the shared/FORGE.md §9 case number (19-22) they prove at the function level.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from rulequeue.errors import ForgeEventRejected
from rulequeue.forge.events import LifecycleEvent, ProductEvent, idempotency_key, parse_event

INSTALLATION = 'ari:cloud:ecosystem::installation/0d1c2b3a-4f5e-4a6b-8c7d-9e0f1a2b3c4d'
OTHER_INSTALLATION = 'ari:cloud:ecosystem::installation/1d1c2b3a-4f5e-4a6b-8c7d-9e0f1a2b3c4d'


def updated(changelog_id: str = '10042', timestamp: str = '1755860000123') -> dict[str, Any]:
    return {
        'eventType': 'avi:jira:updated:issue',
        'timestamp': timestamp,
        'selfGenerated': False,
        'atlassianId': '557058:alice',
        'issue': {
            'id': '10001',
            'key': 'PROJ-1',
            'fields': {'summary': 'Crash on save', 'status': {'name': 'To Do'}, 'project': {'key': 'PROJ'}},
        },
        'changelog': {
            'id': changelog_id,
            'items': [{'field': 'priority', 'fieldId': 'priority', 'fromString': 'Medium', 'toString': 'High'}],
        },
    }


def wrapped(event: dict[str, Any], retry: int | None = None) -> dict[str, Any]:
    payload = copy.deepcopy(event)
    if retry is not None:
        payload['retryContext'] = {'retryCount': retry, 'retryReason': 'TIMEOUT_ERROR', 'retryData': None}
    return {'payload': payload}


def key(body: object, installation: str = INSTALLATION) -> str:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    assert isinstance(body, bytes | str)
    return idempotency_key(installation, parse_event(body))


def test_case19_bare_and_payload_envelopes_give_the_same_event_and_key() -> None:
    bare, payload = parse_event(json.dumps(updated())), parse_event(wrapped(updated()))
    assert (bare.envelope, payload.envelope) == ('bare', 'payload')
    assert bare.event == payload.event
    assert isinstance(bare.event, ProductEvent)
    assert (bare.event.issue.id, bare.event.timestamp, bare.event.changelog and bare.event.changelog.id) == (
        '10001',
        1755860000123,
        '10042',
    )
    assert key(updated()) == key(wrapped(updated()))
    assert len(key(updated())) == 64


@pytest.mark.parametrize('retry', [1, 2, 3, 4], ids=lambda n: f'case20-retry-{n}')
def test_case20_redeliveries_keep_the_key(retry: int) -> None:
    first = key(wrapped(updated()))
    again = parse_event(wrapped(updated(), retry=retry))
    assert (again.retry_count, again.retry_reason) == (retry, 'TIMEOUT_ERROR')
    assert idempotency_key(INSTALLATION, again) == first
    # retryContext beside a bare event counts the same.
    bare = {**updated(), 'retryContext': {'retryCount': retry, 'retryReason': 'INVALID_REMOTE_INVOCATION_ERROR'}}
    assert parse_event(bare).retry_count == retry
    assert key(bare) == first


def test_first_delivery_has_no_retry() -> None:
    event = parse_event(updated())
    assert (event.retry_count, event.retry_reason) == (0, None)


def test_case21_distinct_changelogs_and_timestamps_give_distinct_keys() -> None:
    keys = {
        key(updated('10042')),
        key(updated('10043')),
        key(updated('10042', timestamp='1755860000999')),
        key(updated('10042'), installation=OTHER_INSTALLATION),
    }
    assert len(keys) == 4


def test_key_reads_timestamp_strings_and_numbers_alike() -> None:
    as_number = {**updated(), 'timestamp': 1755860000123}
    assert key(as_number) == key(updated())


def test_key_cannot_confuse_a_changelog_id_with_a_comment_id() -> None:
    with_changelog = {**updated('5'), 'comment': None}
    with_comment = {**updated(), 'changelog': None, 'comment': {'id': '5'}}
    assert key(with_changelog) != key(with_comment)


@pytest.mark.parametrize(
    ('body', 'reason'),
    [
        (b'{"eventType": "avi:jira:created:issue", ', 'body is not JSON'),
        (b'[1, 2]', 'body is not a JSON object'),
        (b'{"issue": {"id": "1"}}', 'event has no eventType'),
        (json.dumps({**updated(), 'eventType': 'avi:jira:viewed:issue'}).encode(), 'unknown eventType'),
        (json.dumps(wrapped({**updated(), 'eventType': 'avi:confluence:created:page'})).encode(), 'unknown eventType'),
    ],
    ids=['case22-bad-json', 'case22-not-an-object', 'case22-no-event-type', 'case22-unknown-type',
         'case22-unknown-type-in-payload'],
)  # fmt: skip
def test_case22_malformed_or_unknown_events_are_rejected(body: bytes, reason: str) -> None:
    with pytest.raises(ForgeEventRejected) as caught:
        parse_event(body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ('change', 'path'),
    [
        ({'issue': {'key': 'PROJ-1', 'fields': {'summary': 'secret summary'}}}, 'issue.id missing'),
        ({'issue': {'id': 'not-a-number', 'fields': {}}}, 'issue.id string_pattern_mismatch'),
        ({'timestamp': None}, 'timestamp int_type'),
        ({'timestamp': 'yesterday'}, 'timestamp int_parsing'),
    ],
    ids=['case22-no-issue-id', 'case22-bad-issue-id', 'case22-no-timestamp', 'case22-bad-timestamp'],
)
def test_case22_missing_fields_name_the_path_not_the_data(change: dict[str, Any], path: str) -> None:
    with pytest.raises(ForgeEventRejected) as caught:
        parse_event({**updated(), **change})
    assert caught.value.reason == f'invalid avi:jira:updated:issue event: {path}'
    assert 'secret' not in caught.value.reason


def test_commented_event_needs_its_comment() -> None:
    body = {**updated(), 'eventType': 'avi:jira:commented:issue', 'changelog': None}
    with pytest.raises(ForgeEventRejected, match='commented event has no comment'):
        parse_event(body)


@pytest.mark.parametrize(
    ('event_type', 'connect_event', 'triggers'),
    [
        ('avi:jira:created:issue', 'jira:issue_created', ('issue_created',)),
        (
            'avi:jira:updated:issue',
            'jira:issue_updated',
            ('issue_updated', 'field_value_changed', 'issue_transitioned'),
        ),
        ('avi:jira:assigned:issue', 'jira:issue_updated', ('issue_assigned',)),
        ('avi:jira:deleted:issue', 'jira:issue_deleted', ('issue_deleted',)),
        ('avi:jira:commented:issue', 'comment_created', ('issue_commented',)),
    ],
)
def test_product_events_map_to_triggers(event_type: str, connect_event: str, triggers: tuple[str, ...]) -> None:
    body = {**updated(), 'eventType': event_type, 'comment': {'id': '20001', 'created': 'T1', 'updated': 'T1'}}
    event = parse_event(body)
    assert (event.event_type, event.connect_event, event.triggers) == (event_type, connect_event, triggers)


def test_an_edited_comment_fires_no_comment_trigger() -> None:
    comment = {'id': '7', 'created': 'T1', 'updated': 'T1'}
    created = {**updated(), 'eventType': 'avi:jira:commented:issue', 'changelog': None, 'comment': comment}
    edited = {**created, 'timestamp': '1755860099000', 'comment': {**comment, 'updated': 'T2'}}
    assert (parse_event(created).connect_event, parse_event(created).triggers) == (
        'comment_created',
        ('issue_commented',),
    )
    assert (parse_event(edited).connect_event, parse_event(edited).triggers) == ('comment_updated', ())
    assert key(created) != key(edited)


def installed(version: str = '1.0.0') -> dict[str, Any]:
    return {
        'eventType': 'avi:forge:installed:app',
        'id': INSTALLATION,
        'installerAccountId': '557058:alice',
        'app': {'id': '0b5e1f9a-1111-4222-8333-444455556666', 'version': version, 'name': 'rulequeue'},
        'environment': {'id': 'env-1'},
        'context': 'ari:cloud:jira::site/8f2a7b7e-1c1d-4e4f-9a9b-0c0d0e0f1a1b',
    }


def test_lifecycle_events_parse_in_both_envelopes_and_fire_no_triggers() -> None:
    bare, payload = parse_event(installed()), parse_event(wrapped(installed()))
    assert (bare.event, payload.envelope) == (payload.event, 'payload')
    assert isinstance(bare.event, LifecycleEvent)
    assert (bare.event.id, bare.event.app.id, bare.connect_event, bare.triggers) == (
        INSTALLATION,
        '0b5e1f9a-1111-4222-8333-444455556666',
        None,
        (),
    )
    assert key(installed()) == key(wrapped(installed(), retry=2))
    upgraded = {**installed('2.0.0'), 'eventType': 'avi:forge:upgraded:app'}
    assert len({key(installed()), key(installed('2.0.0')), key(upgraded)}) == 3


def test_lifecycle_event_needs_its_app() -> None:
    with pytest.raises(ForgeEventRejected, match=r'invalid avi:forge:installed:app event: app missing'):
        parse_event({k: v for k, v in installed().items() if k != 'app'})
