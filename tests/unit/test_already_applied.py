"""When a retried edit is already in effect (worker/already_applied.py)."""

from __future__ import annotations

from typing import Any

import pytest

from worker.already_applied import edit_in_effect, edited_field_names

FIELDS: dict[str, Any] = {
    'summary': 'Crash on save',
    'labels': ['triage', 'customer'],
    'priority': {'id': '2', 'name': 'High', 'self': 'https://x/priority/2'},
    'assignee': {'accountId': 'a-1', 'displayName': 'Alice'},
    'components': [{'id': '10', 'name': 'API'}],
    'duedate': None,
    'customfield_10010': 3,
}

CASES = [
    ({'fields': {'summary': 'Crash on save'}}, True),
    ({'fields': {'summary': 'Crash on load'}}, False),
    ({'fields': {'priority': {'name': 'High'}}}, True),
    ({'fields': {'priority': {'name': 'Low'}}}, False),
    ({'fields': {'priority': {'id': '2'}}}, True),
    ({'fields': {'assignee': {'accountId': 'a-1'}}}, True),
    ({'fields': {'assignee': None}}, False),
    ({'fields': {'duedate': None}}, True),
    ({'fields': {'duedate': '2026-12-01'}}, False),
    ({'fields': {'labels': ['customer', 'triage']}}, True),
    ({'fields': {'labels': ['triage']}}, False),
    ({'fields': {'customfield_10010': 3}}, True),
    ({'fields': {'customfield_10010': 4}}, False),
    ({'fields': {'customfield_99999': 'x'}}, False),  # not in the answer: cannot judge, send it
    ({'update': {'labels': [{'add': 'triage'}]}}, True),
    ({'update': {'labels': [{'add': 'urgent'}]}}, False),
    ({'update': {'labels': [{'remove': 'urgent'}]}}, True),
    ({'update': {'labels': [{'remove': 'triage'}]}}, False),
    ({'update': {'labels': [{'add': 'triage'}, {'remove': 'old'}]}}, True),
    ({'update': {'labels': [{'set': ['triage', 'customer']}]}}, True),
    ({'update': {'components': [{'add': {'name': 'API'}}]}}, True),
    ({'update': {'components': [{'add': {'name': 'UI'}}]}}, False),
    ({'update': {'labels': [{'copy': 'x'}]}}, False),  # an operation we do not know: send it
    ({'fields': {'summary': 'Crash on save'}, 'update': {'labels': [{'add': 'urgent'}]}}, False),
    ({}, False),
]


@pytest.mark.parametrize(('payload', 'expected'), CASES)
def test_edit_in_effect(payload: dict[str, Any], expected: bool) -> None:
    assert edit_in_effect(payload, FIELDS) is expected


def test_edited_field_names_cover_fields_and_updates() -> None:
    payload = {'fields': {'summary': 'x', 'priority': {}}, 'update': {'labels': [], 'summary': []}}
    assert edited_field_names(payload) == ['labels', 'priority', 'summary']
