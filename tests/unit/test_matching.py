"""Triggers, project scope and conditions (worker/matching.py) against Jira Cloud payloads."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from pydantic import TypeAdapter

from rulequeue.errors import TemplateError
from schemas.rules import CompareCondition, Condition, Rule, Trigger
from tests.unit.test_templates import CONTEXT, ISSUE, NOW, make_event
from worker.compare import MATCH_TIMEOUT_SECONDS, MAX_MATCH_CHARS
from worker.matching import (
    ConditionOutcome,
    evaluate_conditions,
    field_value,
    in_scope,
    resolve_field_id,
    trigger_matches,
)
from worker.templates import build_context

TRIGGER: TypeAdapter[Trigger] = TypeAdapter(Trigger)
CONDITIONS: TypeAdapter[list[Condition]] = TypeAdapter(list[Condition])


def unvalidated_compare(left: str, op: str, right: str | list[str] | None = None) -> CompareCondition:
    """A compare condition built without the schema's checks, so the worker's own handling of
    patterns that only go wrong once rendered can be tested."""
    valid = CompareCondition(type='compare', left=left, op='is_empty')
    return valid.model_copy(update={'op': op, 'right': right})


def change(field: str, field_id: str | None, before: str | None, after: str | None) -> dict[str, Any]:
    """One changelog item as Jira Cloud sends it."""
    item = {'field': field, 'fieldtype': 'jira', 'from': None, 'fromString': before, 'to': None}
    item['toString'] = after
    if field_id is not None:
        item['fieldId'] = field_id
    return item


STATUS = change('status', 'status', 'To Do', 'In Progress')
PRIORITY = change('priority', 'priority', 'Medium', 'High')
SUMMARY = change('summary', 'summary', 'Login fails', 'Login fails on Safari')
ASSIGNED = change('assignee', 'assignee', None, 'Grace Hopper')
UNASSIGNED = change('assignee', 'assignee', 'Grace Hopper', None)
TIER = change('Customer Tier', 'customfield_10010', 'Standard', 'Enterprise')
LABELS_NO_ID = change('labels', None, '', 'frontend Safari')
ISSUETYPE = change('issuetype', 'issuetype', 'Task', 'Bug')

CREATED = make_event('jira:issue_created')
DELETED = make_event('jira:issue_deleted')
COMMENT = {'id': '300', 'body': 'This is URGENT', 'author': {'accountId': 'u-9', 'displayName': 'Bo'}}
COMMENT_CREATED = make_event('comment_created', user=None, comment=COMMENT)
COMMENT_UPDATED = make_event('comment_updated', user=None, comment=COMMENT)
# The jira:issue_updated twin of a comment: no changelog at all.
COMMENTED_TWIN = make_event('jira:issue_updated', issue_event_type_name='issue_commented', comment=COMMENT)
EMPTY_CHANGELOG = make_event('jira:issue_updated', items=[], issue_event_type_name='issue_updated')


def updated(*items: dict[str, Any], name: str = 'issue_updated') -> Any:
    return make_event('jira:issue_updated', items=list(items), issue_event_type_name=name)


@pytest.mark.parametrize(
    ('trigger', 'event', 'fires'),
    [
        ({'type': 'issue_created'}, CREATED, True),
        ({'type': 'issue_created'}, updated(SUMMARY), False),
        ({'type': 'issue_created'}, COMMENT_CREATED, False),
        ({'type': 'issue_updated'}, updated(SUMMARY), True),
        ({'type': 'issue_updated'}, updated(STATUS, name='issue_generic'), True),
        ({'type': 'issue_updated'}, COMMENTED_TWIN, False),
        ({'type': 'issue_updated'}, EMPTY_CHANGELOG, False),
        ({'type': 'issue_updated'}, CREATED, False),
        ({'type': 'issue_updated'}, COMMENT_CREATED, False),
        ({'type': 'field_value_changed', 'fields': ['Priority']}, updated(PRIORITY), True),
        ({'type': 'field_value_changed', 'fields': ['priority']}, updated(SUMMARY, PRIORITY), True),
        ({'type': 'field_value_changed', 'fields': ['Issue Type']}, updated(ISSUETYPE), True),
        ({'type': 'field_value_changed', 'fields': ['customfield_10010']}, updated(TIER), True),
        ({'type': 'field_value_changed', 'fields': ['customer tier']}, updated(TIER), True),
        ({'type': 'field_value_changed', 'fields': ['Labels']}, updated(LABELS_NO_ID), True),
        ({'type': 'field_value_changed', 'fields': ['Priority']}, updated(SUMMARY), False),
        ({'type': 'field_value_changed', 'fields': ['customfield_10011']}, updated(TIER), False),
        ({'type': 'field_value_changed', 'fields': ['Priority']}, CREATED, False),
        ({'type': 'field_value_changed', 'fields': ['Priority']}, COMMENTED_TWIN, False),
        ({'type': 'issue_transitioned'}, updated(STATUS), True),
        ({'type': 'issue_transitioned', 'to': 'in progress'}, updated(STATUS), True),
        ({'type': 'issue_transitioned', 'to': 'Done'}, updated(STATUS), False),
        ({'type': 'issue_transitioned', 'from': 'TO DO'}, updated(STATUS), True),
        ({'type': 'issue_transitioned', 'from': 'Done'}, updated(STATUS), False),
        ({'type': 'issue_transitioned', 'from': 'To Do', 'to': 'in progress'}, updated(TIER, STATUS), True),
        ({'type': 'issue_transitioned', 'from': 'In Progress', 'to': 'To Do'}, updated(STATUS), False),
        ({'type': 'issue_transitioned'}, updated(SUMMARY), False),
        ({'type': 'issue_transitioned'}, CREATED, False),
        ({'type': 'issue_commented'}, COMMENT_CREATED, True),
        ({'type': 'issue_commented'}, COMMENTED_TWIN, False),
        ({'type': 'issue_commented'}, COMMENT_UPDATED, False),
        ({'type': 'issue_commented'}, updated(SUMMARY), False),
        ({'type': 'issue_assigned'}, updated(SUMMARY, ASSIGNED), True),
        ({'type': 'issue_assigned'}, updated(UNASSIGNED), True),
        ({'type': 'issue_assigned'}, updated(SUMMARY), False),
        ({'type': 'issue_assigned'}, CREATED, False),
        ({'type': 'issue_deleted'}, DELETED, True),
        ({'type': 'issue_deleted'}, updated(SUMMARY), False),
        ({'type': 'issue_deleted'}, CREATED, False),
    ],
)
def test_trigger_matches(trigger: dict[str, Any], event: Any, fires: bool) -> None:
    assert trigger_matches(TRIGGER.validate_python(trigger), event) is fires


def rule(**fields: Any) -> Rule:
    document = {
        'name': 'r',
        'trigger': {'type': 'issue_created'},
        'actions': [{'type': 'log', 'message': 'm'}],
        **fields,
    }
    return Rule.model_validate(document)


NO_PROJECT = copy.deepcopy(ISSUE)
del NO_PROJECT['fields']['project']


@pytest.mark.parametrize(
    ('projects', 'issue', 'expected'),
    [
        (None, ISSUE, True),
        ([], ISSUE, True),
        (['PROJ'], ISSUE, True),
        (['OPS', 'PROJ'], ISSUE, True),
        (['OPS'], ISSUE, False),
        (['proj'], ISSUE, False),
        (['PROJ'], NO_PROJECT, True),
        (['OPS'], NO_PROJECT, False),
    ],
)
def test_in_scope(projects: list[str] | None, issue: dict[str, Any], expected: bool) -> None:
    document = {} if projects is None else {'projects': projects}
    assert in_scope(rule(**document), make_event(issue=issue)) is expected


@pytest.mark.parametrize(
    ('name', 'field_id'),
    [
        ('Issue Type', 'issuetype'),
        ('issuetype', 'issuetype'),
        ('ISSUETYPE', 'issuetype'),
        ('Priority', 'priority'),
        (' Labels ', 'labels'),
        ('Due date', 'duedate'),
        ('Project', 'project'),
        ('Component/s', 'components'),
        ('Fix Version/s', 'fixVersions'),
        ('customfield_10010', 'customfield_10010'),
        ('CustomField_10010', 'customfield_10010'),
        ('Customer Tier', 'Customer Tier'),
    ],
)
def test_resolve_field_id(name: str, field_id: str) -> None:
    assert resolve_field_id(name) == field_id


@pytest.mark.parametrize(
    ('field', 'expected'),
    [
        ('Issue Type', {'id': '10004', 'name': 'Bug', 'subtask': False}),
        ('key', 'PROJ-42'),
        ('id', '10042'),
        ('CUSTOMFIELD_10020', 3),
        ('FixVersions', []),
        ('WATCHES', {'watchCount': 2, 'isWatching': False}),
        ('resolution', None),
        ('customfield_99999', None),
    ],
)
def test_field_value(field: str, expected: Any) -> None:
    assert field_value(ISSUE, field) == expected


def test_field_value_of_an_issue_without_fields() -> None:
    assert field_value({'id': '1', 'key': 'A-1'}, 'summary') is None


LONG = copy.deepcopy(ISSUE)
# 'needle' within the first MAX_MATCH_CHARS characters, and straddling the limit.
LONG['fields']['customfield_10080'] = 'x' * (MAX_MATCH_CHARS - 10) + 'needle' + 'x' * 10
LONG['fields']['customfield_10081'] = 'x' * (MAX_MATCH_CHARS - 3) + 'needle'


@pytest.mark.parametrize(
    ('field', 'op', 'value', 'passed'),
    [
        # equals: scalars, objects by any representative string, numbers, lists as sets
        ('issuetype', 'equals', 'Bug', True),
        ('issuetype', 'equals', 'bug', True),
        ('Issue Type', 'equals', 'Bug', True),
        ('issuetype', 'equals', '10004', True),
        ('issuetype', 'equals', 'Task', False),
        ('Priority', 'equals', 'HIGH', True),
        ('assignee', 'equals', '712020:aa11', True),
        ('assignee', 'equals', 'grace hopper', True),
        ('assignee', 'equals', 'grace@example.com', True),
        ('assignee', 'equals', 'Grace', False),
        ('summary', 'equals', 'login fails on safari', True),
        ('summary', 'equals', 'Login', False),
        ('project', 'equals', 'PROJ', True),
        ('key', 'equals', 'proj-42', True),
        ('Due date', 'equals', '2026-12-01', True),
        ('customfield_10010', 'equals', 'ENTERPRISE', True),
        ('Customfield_10030', 'equals', 'gold', True),
        ('customfield_10020', 'equals', 3, True),
        ('customfield_10020', 'equals', '3.0', True),
        ('customfield_10020', 'equals', 3.5, False),
        ('customfield_10060', 'equals', True, True),
        ('customfield_10060', 'equals', 'true', True),
        ('labels', 'equals', ['safari', 'FRONTEND'], True),
        ('labels', 'equals', ['frontend'], False),
        ('labels', 'equals', ['frontend', 'Safari', 'backend'], False),
        ('labels', 'equals', 'frontend', False),
        ('components', 'equals', ['Auth', 'Web'], True),
        ('fixVersions', 'equals', [], True),
        ('resolution', 'equals', 'Done', False),
        # not_equals
        ('issuetype', 'not_equals', 'Task', True),
        ('issuetype', 'not_equals', 'BUG', False),
        ('resolution', 'not_equals', 'Done', True),
        ('labels', 'not_equals', ['frontend'], True),
        ('customfield_10020', 'not_equals', '3', False),
        # in / not_in
        ('priority', 'in', ['Highest', 'High'], True),
        ('priority', 'in', ['Low', 'Lowest'], False),
        ('status', 'in', ['in progress', 'Done'], True),
        ('labels', 'in', ['safari', 'backend'], True),
        ('labels', 'in', ['backend'], False),
        ('customfield_10020', 'in', [1, 2, 3], True),
        ('customfield_10020', 'in', ['03'], True),
        ('resolution', 'in', ['Done'], False),
        ('priority', 'not_in', ['Low'], True),
        ('priority', 'not_in', ['HIGH'], False),
        ('labels', 'not_in', ['backend'], True),
        ('labels', 'not_in', ['Frontend'], False),
        ('resolution', 'not_in', ['Done'], True),
        # contains: substring for text, element for lists, all of a list
        ('summary', 'contains', 'safari', True),
        ('summary', 'contains', 'chrome', False),
        ('description', 'contains', 'LOG IN', True),
        ('assignee', 'contains', 'hopper', True),
        ('labels', 'contains', 'FRONTEND', True),
        ('labels', 'contains', 'front', False),
        ('components', 'contains', 'auth', True),
        ('labels', 'contains', ['frontend', 'safari'], True),
        ('labels', 'contains', ['frontend', 'backend'], False),
        ('resolution', 'contains', 'Done', False),
        # is_empty / is_not_empty: None, '', [], {} and absent
        ('resolution', 'is_empty', None, True),
        ('fixVersions', 'is_empty', None, True),
        ('customfield_10040', 'is_empty', None, True),
        ('customfield_10050', 'is_empty', None, True),
        ('customfield_99999', 'is_empty', None, True),
        ('summary', 'is_empty', None, False),
        ('customfield_10020', 'is_empty', None, False),
        ('assignee', 'is_not_empty', None, True),
        ('Labels', 'is_not_empty', None, True),
        ('resolution', 'is_not_empty', None, False),
        ('customfield_10040', 'is_not_empty', None, False),
        # matches: re.search, case-sensitive unless the pattern says otherwise
        ('summary', 'matches', '^Login', True),
        ('summary', 'matches', '^login', False),
        ('summary', 'matches', '(?i)^login', True),
        ('labels', 'matches', '^Saf', True),
        ('labels', 'matches', '^back', False),
        ('priority', 'matches', 'Hi.h', True),
        ('customfield_10020', 'matches', r'^\d$', True),
        ('resolution', 'matches', '.*', False),
        ('customfield_10080', 'matches', 'needle', True),
        ('customfield_10081', 'matches', 'needle', False),
        ('customfield_10081', 'contains', 'needle', True),
    ],
)
def test_field_conditions(field: str, op: str, value: Any, passed: bool) -> None:
    condition = {'type': 'field', 'field': field, 'op': op}
    if value is not None:
        condition['value'] = value
    context = build_context(make_event(issue=LONG), rule_name='r', now=NOW)
    (outcome,) = evaluate_conditions(CONDITIONS.validate_python([condition]), CREATED, context)
    assert outcome.passed is passed
    assert outcome.index == 1
    assert outcome.description.endswith('-> met' if passed else '-> not met')
    assert outcome.unknown_paths == ()


@pytest.mark.parametrize(
    ('condition', 'description'),
    [
        (
            {'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Task'},
            "condition 1: issuetype equals 'Task' -> not met",
        ),
        (
            {'type': 'field', 'field': 'Priority', 'op': 'in', 'value': ['Highest', 'High']},
            "condition 1: Priority in ['Highest', 'High'] -> met",
        ),
        (
            {'type': 'field', 'field': 'resolution', 'op': 'is_empty'},
            'condition 1: resolution is_empty -> met',
        ),
        (
            {'type': 'field', 'field': 'customfield_10060', 'op': 'equals', 'value': False},
            'condition 1: customfield_10060 equals false -> not met',
        ),
        (
            {'type': 'field', 'field': 'customfield_10020', 'op': 'in', 'value': [1, 2.5]},
            'condition 1: customfield_10020 in [1, 2.5] -> not met',
        ),
        (
            {'type': 'compare', 'left': '{{issue.summary}}', 'op': 'equals', 'right': '{{issue.key}}'},
            "condition 1: '{{issue.summary}}' equals '{{issue.key}}' -> not met",
        ),
    ],
)
def test_descriptions_come_from_the_rule_only(condition: dict[str, Any], description: str) -> None:
    (outcome,) = evaluate_conditions(CONDITIONS.validate_python([condition]), CREATED, CONTEXT)
    assert outcome.description == description


@pytest.mark.parametrize(
    'condition',
    [
        {'type': 'field', 'field': 'summary', 'op': 'equals', 'value': 'Other'},
        {'type': 'field', 'field': 'assignee', 'op': 'equals', 'value': 'someone'},
        {'type': 'field', 'field': 'labels', 'op': 'in', 'value': ['backend']},
        unvalidated_compare('{{issue.summary}}', 'matches', '^{{issue.assignee}}'),
    ],
)
def test_descriptions_never_contain_issue_values(condition: dict[str, Any] | CompareCondition) -> None:
    if not isinstance(condition, CompareCondition):
        condition = CONDITIONS.validate_python([condition])[0]
    (outcome,) = evaluate_conditions([condition], CREATED, CONTEXT)
    assert outcome.passed is False
    for actual in ('Login fails', 'Grace Hopper', '712020:aa11', 'frontend', 'Safari'):
        assert actual not in outcome.description


URGENT = build_context(COMMENT_CREATED, rule_name='r', now=NOW)
TRICKY = copy.deepcopy(ISSUE)
SLOW = '(a|aa)+$'  # catastrophic backtracking on 'aaa...a!'
TRICKY['fields'].update({'customfield_1': 'a.c', 'customfield_2': 'abc', 'customfield_3': SLOW})
TRICKY['fields']['summary'] = 'a' * 40 + '!'
TRICKY_CONTEXT = build_context(make_event(issue=TRICKY), rule_name='r', now=NOW)


@pytest.mark.parametrize(
    ('condition', 'context', 'passed', 'unknown'),
    [
        ({'left': '{{issue.priority.name}}', 'op': 'equals', 'right': 'high'}, CONTEXT, True, ()),
        ({'left': '{{issue.customfield_10020}}', 'op': 'equals', 'right': '3.0'}, CONTEXT, True, ()),
        (
            {'left': '{{initiator.accountId}}', 'op': 'equals', 'right': '{{issue.reporter.accountId}}'},
            CONTEXT,
            True,
            (),
        ),
        (
            {'left': '{{initiator.accountId}}', 'op': 'not_equals', 'right': '{{issue.assignee.accountId}}'},
            CONTEXT,
            True,
            (),
        ),
        ({'left': '{{issue.status}}', 'op': 'in', 'right': ['Open', '{{issue.status}}']}, CONTEXT, True, ()),
        ({'left': '{{issue.status.name}}', 'op': 'not_in', 'right': ['Done', 'Closed']}, CONTEXT, True, ()),
        ({'left': '{{issue.labels}}', 'op': 'contains', 'right': 'safari'}, CONTEXT, True, ()),
        ({'left': '{{comment.body}}', 'op': 'matches', 'right': r'(?i)\burgent\b'}, URGENT, True, ()),
        ({'left': '{{comment.body}}', 'op': 'matches', 'right': r'\burgent\b'}, URGENT, False, ()),
        ({'left': '{{issue.nope}}', 'op': 'is_empty'}, CONTEXT, True, ('issue.nope',)),
        ({'left': '{{issue.resolution}}', 'op': 'is_not_empty'}, CONTEXT, False, ()),
        ({'left': '{{issue.key}}', 'op': 'equals', 'right': '{{issue.no}}'}, CONTEXT, False, ('issue.no',)),
        # Issue data in a pattern matches literally: 'a.c' does not match 'abc' ...
        (
            {'left': '{{issue.customfield_2}}', 'op': 'matches', 'right': '^{{issue.customfield_1}}$'},
            TRICKY_CONTEXT,
            False,
            (),
        ),
        (
            {'left': '{{issue.customfield_1}}', 'op': 'matches', 'right': '^{{issue.customfield_1}}$'},
            TRICKY_CONTEXT,
            True,
            (),
        ),
    ],
)
def test_compare_conditions(
    condition: dict[str, Any], context: dict[str, Any], passed: bool, unknown: tuple[str, ...]
) -> None:
    (outcome,) = evaluate_conditions([unvalidated_compare(**condition)], CREATED, context)
    assert (outcome.passed, outcome.unknown_paths) == (passed, unknown)


def test_issue_data_cannot_inject_a_slow_pattern() -> None:
    condition = unvalidated_compare('{{issue.summary}}', 'matches', '{{issue.customfield_3}}')
    (outcome,) = evaluate_conditions([condition], CREATED, TRICKY_CONTEXT)
    assert outcome == ConditionOutcome(
        1, False, "condition 1: '{{issue.summary}}' matches '{{issue.customfield_3}}' -> not met"
    )


@pytest.mark.parametrize(
    'condition',
    [
        {'type': 'field', 'field': 'summary', 'op': 'matches', 'value': SLOW},
        {'type': 'compare', 'left': '{{issue.summary}}', 'op': 'matches', 'right': SLOW},
    ],
)
def test_a_slow_pattern_times_out_as_not_met(condition: dict[str, Any]) -> None:
    started = time.monotonic()
    (outcome,) = evaluate_conditions(CONDITIONS.validate_python([condition]), CREATED, TRICKY_CONTEXT)
    assert time.monotonic() - started < MATCH_TIMEOUT_SECONDS + 0.5
    assert outcome.passed is False
    assert outcome.description.endswith(f"matches '{SLOW}' -> not met (pattern timed out)")


def test_patterns_use_the_regex_engine_the_schema_validates_with() -> None:
    condition = {'type': 'field', 'field': 'summary', 'op': 'matches', 'value': r'^\p{Lu}\p{Ll}+ fails'}
    (outcome,) = evaluate_conditions(CONDITIONS.validate_python([condition]), CREATED, CONTEXT)
    assert outcome.passed is True


def test_an_invalid_rendered_pattern_is_a_template_error_without_issue_data() -> None:
    condition = unvalidated_compare('{{issue.summary}}', 'matches', '({{issue.key}}')
    with pytest.raises(TemplateError) as caught:
        evaluate_conditions([condition], CREATED, CONTEXT)
    assert caught.value.template == '({{issue.key}}'
    assert 'PROJ' not in str(caught.value)


def test_a_compare_syntax_error_raises() -> None:
    condition = {'type': 'compare', 'left': 'x {{issue.key', 'op': 'is_empty'}
    with pytest.raises(TemplateError) as caught:
        evaluate_conditions(CONDITIONS.validate_python([condition]), CREATED, CONTEXT)
    assert caught.value.position == 2


def test_evaluation_stops_at_the_first_failure() -> None:
    conditions = CONDITIONS.validate_python(
        [
            {'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Bug'},
            {'type': 'field', 'field': 'priority', 'op': 'equals', 'value': 'Low'},
            {'type': 'compare', 'left': '{{issue.nope}}', 'op': 'is_empty'},
        ]
    )
    assert evaluate_conditions(conditions, CREATED, CONTEXT) == [
        ConditionOutcome(1, True, "condition 1: issuetype equals 'Bug' -> met"),
        ConditionOutcome(2, False, "condition 2: priority equals 'Low' -> not met"),
    ]


def test_all_conditions_hold() -> None:
    conditions = CONDITIONS.validate_python(
        [
            {'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Bug'},
            {'type': 'compare', 'left': '{{issue.nope}}', 'op': 'is_empty'},
        ]
    )
    assert evaluate_conditions(conditions, CREATED, CONTEXT) == [
        ConditionOutcome(1, True, "condition 1: issuetype equals 'Bug' -> met"),
        ConditionOutcome(2, True, "condition 2: '{{issue.nope}}' is_empty -> met", ('issue.nope',)),
    ]


def test_no_conditions() -> None:
    assert evaluate_conditions([], CREATED, CONTEXT) == []


def test_the_event_issue_is_used_without_a_context_issue() -> None:
    condition = {'type': 'field', 'field': 'key', 'op': 'equals', 'value': 'PROJ-42'}
    conditions = CONDITIONS.validate_python([condition])
    (outcome,) = evaluate_conditions(conditions, CREATED, {})
    assert outcome.passed is True


def test_schema_accepts_placeholders_in_compare_patterns() -> None:
    condition = CompareCondition(type='compare', left='{{issue.summary}}', op='matches', right='^{{issue.key}}: .+$')
    assert condition.right == '^{{issue.key}}: .+$'
