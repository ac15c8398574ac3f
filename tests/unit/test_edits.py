"""Edit actions to Jira's ``PUT /rest/api/2/issue/{key}`` body (worker/edits.py)."""

from __future__ import annotations

from typing import Any

import pytest

from rulequeue.errors import TemplateError
from schemas.rules import EditAction
from tests.unit.test_templates import CONTEXT
from worker.edits import EditPlan, is_list_change, plan_edit


def edit(fields: dict[str, Any]) -> EditAction:
    return EditAction.model_validate({'type': 'edit', 'fields': fields})


@pytest.mark.parametrize(
    ('fields', 'payload', 'changes', 'unknown'),
    [
        # The README's example: a list change and a set, in their two parts of the body.
        (
            {'labels': {'add': ['triage']}, 'priority': {'name': 'High'}},
            {'fields': {'priority': {'name': 'High'}}, 'update': {'labels': [{'add': 'triage'}]}},
            {'labels': {'add': ['triage'], 'remove': []}, 'priority': {'name': 'High'}},
            (),
        ),
        (
            {'Labels': {'add': ['a', 'b'], 'remove': ['c']}},
            {'update': {'labels': [{'add': 'a'}, {'add': 'b'}, {'remove': 'c'}]}},
            {'labels': {'add': ['a', 'b'], 'remove': ['c']}},
            (),
        ),
        (
            {'labels': {'remove': ['{{issue.labels.0}}']}},
            {'update': {'labels': [{'remove': 'frontend'}]}},
            {'labels': {'add': [], 'remove': ['frontend']}},
            (),
        ),
        (
            {'Component/s': {'add': [{'name': '{{issue.customfield_10010}}'}]}},
            {'update': {'components': [{'add': {'name': 'Enterprise'}}]}},
            {'components': {'add': [{'name': 'Enterprise'}], 'remove': []}},
            (),
        ),
        (
            {'summary': '[{{issue.priority.name}}] {{issue.summary}}'},
            {'fields': {'summary': '[High] Login fails on Safari'}},
            {'summary': '[High] Login fails on Safari'},
            (),
        ),
        (
            {'Priority': {'name': 'Low'}, 'Due date': '2027-01-01', 'Issue Type': {'id': '10001'}},
            {'fields': {'priority': {'name': 'Low'}, 'duedate': '2027-01-01', 'issuetype': {'id': '10001'}}},
            {'priority': {'name': 'Low'}, 'duedate': '2027-01-01', 'issuetype': {'id': '10001'}},
            (),
        ),
        (
            {'CustomField_10010': 'Gold for {{issue.key}}', 'customfield_10020': 5},
            {'fields': {'customfield_10010': 'Gold for PROJ-42', 'customfield_10020': 5}},
            {'customfield_10010': 'Gold for PROJ-42', 'customfield_10020': 5},
            (),
        ),
        (
            {'labels': ['kept', '{{issue.key}}']},
            {'fields': {'labels': ['kept', 'PROJ-42']}},
            {'labels': ['kept', 'PROJ-42']},
            (),
        ),
        (
            {'duedate': None, 'assignee': {'accountId': '{{initiator.accountId}}'}},
            {'fields': {'duedate': None, 'assignee': {'accountId': '5b10a2844c20165700ede21g'}}},
            {'duedate': None, 'assignee': {'accountId': '5b10a2844c20165700ede21g'}},
            (),
        ),
        (
            {'description': 'See {{issue.nope}} and {{issue.nope}}', 'labels': {'add': ['{{rule.nope}}']}},
            {'fields': {'description': 'See  and '}, 'update': {'labels': [{'add': ''}]}},
            {'description': 'See  and ', 'labels': {'add': [''], 'remove': []}},
            ('issue.nope', 'rule.nope'),
        ),
        # A list change with nothing in it is left out entirely.
        ({'labels': {'add': [], 'remove': []}}, {}, {}, ()),
        (
            {'labels': {'add': []}, 'summary': 'x'},
            {'fields': {'summary': 'x'}},
            {'summary': 'x'},
            (),
        ),
        # Two names of one field: the later wins, never in both "fields" and "update".
        (
            {'Labels': {'add': ['x']}, 'labels': ['y']},
            {'fields': {'labels': ['y']}},
            {'labels': ['y']},
            (),
        ),
        (
            {'labels': ['y'], 'Labels': {'remove': ['x']}},
            {'update': {'labels': [{'remove': 'x'}]}},
            {'labels': {'add': [], 'remove': ['x']}},
            (),
        ),
        # A dict that is not only add/remove is a value to set (a Jira object).
        (
            {'customfield_10030': {'value': 'Gold', 'id': '10200'}},
            {'fields': {'customfield_10030': {'value': 'Gold', 'id': '10200'}}},
            {'customfield_10030': {'value': 'Gold', 'id': '10200'}},
            (),
        ),
    ],
)
def test_plan_edit(
    fields: dict[str, Any], payload: dict[str, Any], changes: dict[str, Any], unknown: tuple[str, ...]
) -> None:
    assert plan_edit(edit(fields), CONTEXT) == EditPlan(payload, changes, unknown)


def test_plan_edit_does_not_change_the_action() -> None:
    action = edit({'labels': {'add': ['{{issue.key}}']}, 'summary': '{{issue.key}}'})
    plan_edit(action, CONTEXT)
    assert action.fields == {'labels': {'add': ['{{issue.key}}']}, 'summary': '{{issue.key}}'}


def test_a_template_error_in_a_value_raises() -> None:
    with pytest.raises(TemplateError) as caught:
        plan_edit(edit({'summary': 'ok', 'description': 'x {{issue.key'}), CONTEXT)
    assert caught.value.position == 2


@pytest.mark.parametrize(
    ('value', 'expected'),
    [
        ({'add': ['a']}, True),
        ({'remove': ['a']}, True),
        ({'add': [], 'remove': []}, True),
        ({}, False),
        ({'name': 'High'}, False),
        ({'add': ['a'], 'name': 'x'}, False),
        (['add'], False),
        ('add', False),
    ],
)
def test_is_list_change(value: Any, expected: bool) -> None:
    assert is_list_change(value) is expected
