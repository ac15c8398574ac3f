"""Ordering ops on numbers and dates, the ``user`` condition and ``if`` blocks in the rule model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from rulequeue.constants import DEFAULT_MAX_RULE_COMPONENTS
from rulequeue.errors import IncomparableValues
from schemas.rules import Condition, Rule
from tests.unit.test_templates import NOW, make_event
from worker.compare import check
from worker.matching import evaluate_conditions
from worker.templates import build_context

CONDITIONS: TypeAdapter[list[Condition]] = TypeAdapter(list[Condition])
LOG = {'type': 'log', 'message': 'm'}

ORDERINGS = [
    # (op, left, right, expected)
    ('greater_than', '5', '3', True),
    ('greater_than', '10', '9', True),  # numerically, not as text
    ('greater_than', '3', '3.0', False),
    ('greater_than_or_equal', '3', '3.0', True),
    ('less_than', '-2.5', '1e1', True),
    ('less_than_or_equal', 4, '4', True),
    ('less_than', 8.0, 5, False),
    ('greater_than', ['7'], '6', True),  # a one-element list reads as its element
    ('greater_than', {'value': '13'}, '8', True),  # a Jira option by its value
    ('less_than', '2026-11-25', '2026-11-26', True),
    ('less_than', '2026-11-26', '2026-11-26T00:00:00Z', False),
    ('less_than_or_equal', '2026-11-26', '2026-11-26T00:00:00Z', True),
    ('greater_than', '2026-11-26T10:00:00.000+0100', '2026-11-26T09:30:00Z', False),  # 09:00 UTC
    ('less_than', '2026-11-26T10:00:00.000+0100', '2026-11-26T09:30:00Z', True),
    ('greater_than', '2026-11-26T19:42:00Z', '2026-11-26T19:41:59.999+0000', True),
    ('greater_than_or_equal', '2026-11-26 12:00', '2026-11-26T12:00:00+00:00', True),  # naive is UTC
]

INCOMPARABLE = [
    # (left, right, why)
    ('5', '2026-11-26', 'the left side is a number and the right side a date'),
    ('2026-11-26', '5', 'the left side is a date and the right side a number'),
    ('five', '5', 'the left side is neither a number nor a date'),
    ('5', 'nan', 'the right side is neither a number nor a date'),
    ('2026-02-30', '2026-01-01', 'the left side is neither a number nor a date'),
    (None, '5', 'the left side is empty'),
    ('', '5', 'the left side is empty'),
    (['1', '2'], '5', 'the left side is a list of 2 values, not one'),
    ([], '5', 'the left side is a list of 0 values, not one'),
]


@pytest.mark.parametrize(('op', 'left', 'right', 'expected'), ORDERINGS)
def test_orderings_on_numbers_and_dates(op: str, left: Any, right: Any, expected: bool) -> None:
    assert check(op, left, right) is expected


@pytest.mark.parametrize(('left', 'right', 'why'), INCOMPARABLE)
def test_values_that_cannot_be_ordered_raise_with_their_kinds(left: Any, right: Any, why: str) -> None:
    with pytest.raises(IncomparableValues) as raised:
        check('greater_than', left, right)
    assert str(raised.value) == why


def _evaluate(conditions: list[dict[str, Any]], **event: Any) -> list[tuple[bool, str, bool]]:
    context = build_context(make_event(**event), rule_name='r', now=NOW)
    outcomes = evaluate_conditions(CONDITIONS.validate_python(conditions), make_event(**event), context)
    return [(o.passed, o.description, o.needs_jira) for o in outcomes]


def test_compare_ordering_renders_both_sides_and_fails_clearly_on_mixed_values() -> None:
    # The issue is due 2026-12-01, {{now}} is 2026-11-26T19:42:00Z; its summary is text.
    assert _evaluate(
        [
            {'type': 'compare', 'left': '{{issue.duedate}}', 'op': 'greater_than', 'right': '{{now}}'},
            {'type': 'compare', 'left': '{{#=}}2 * 21{{/}}', 'op': 'greater_than_or_equal', 'right': '42'},
            {'type': 'compare', 'left': '{{issue.summary}}', 'op': 'greater_than', 'right': '{{now}}'},
        ]
    ) == [
        (True, "condition 1: '{{issue.duedate}}' greater_than '{{now}}' -> met", False),
        (True, "condition 2: '{{#=}}2 * 21{{/}}' greater_than_or_equal '42' -> met", False),
        (
            False,
            "condition 3: '{{issue.summary}}' greater_than '{{now}}' -> not met "
            '(the left side is neither a number nor a date)',
            False,
        ),
    ]


def test_field_condition_orders_a_number_field() -> None:
    # customfield_10020 is 3; customfield_10040 is ''.
    assert _evaluate(
        [
            {'type': 'field', 'field': 'customfield_10020', 'op': 'greater_than_or_equal', 'value': 3},
            {'type': 'field', 'field': 'customfield_10020', 'op': 'less_than', 'value': '2.5'},
        ]
    ) == [
        (True, 'condition 1: customfield_10020 greater_than_or_equal 3 -> met', False),
        (False, "condition 2: customfield_10020 less_than '2.5' -> not met", False),
    ]
    assert _evaluate([{'type': 'field', 'field': 'customfield_10040', 'op': 'less_than', 'value': 3}]) == [
        (False, 'condition 1: customfield_10040 less_than 3 -> not met (the left side is empty)', False)
    ]


def test_user_is_and_is_not_read_the_initiator_and_groups_need_jira() -> None:
    me = {'accountId': 'acc-1', 'displayName': 'Me'}
    assert _evaluate(
        [
            {'type': 'user', 'op': 'is', 'account_ids': ['acc-0', 'acc-1']},
            {'type': 'user', 'op': 'is_not', 'account_ids': ['acc-2']},
            {'type': 'user', 'op': 'in_group', 'group': 'jira-admins'},
        ],
        user=me,
    ) == [
        (True, "condition 1: initiator is ['acc-0', 'acc-1'] -> met", False),
        (True, "condition 2: initiator is_not ['acc-2'] -> met", False),
        (False, 'condition 3 user: needs jira', True),
    ]
    assert _evaluate([{'type': 'user', 'op': 'is_not', 'account_ids': ['acc-1']}], user=me) == [
        (False, "condition 1: initiator is_not ['acc-1'] -> not met", False)
    ]


def test_group_ops_without_an_initiator_are_decided_without_jira() -> None:
    assert _evaluate(
        [{'type': 'user', 'op': 'not_in_group', 'group': 'g'}, {'type': 'user', 'op': 'in_group', 'group': 'g'}],
        user=None,
    ) == [
        (True, "condition 1: initiator not_in_group 'g' -> met", False),
        (False, "condition 2: initiator in_group 'g' -> not met (no initiator)", False),
    ]


@pytest.mark.parametrize(
    'condition',
    [
        {'type': 'user', 'op': 'is'},
        {'type': 'user', 'op': 'is', 'account_ids': []},
        {'type': 'user', 'op': 'in_group'},
        {'type': 'user', 'op': 'in_group', 'group': 'g', 'account_ids': ['a']},
        {'type': 'user', 'op': 'is', 'account_ids': ['a'], 'who': 'assignee'},
        {'type': 'compare', 'left': '1', 'op': 'greater_than'},
        {'type': 'compare', 'left': '1', 'op': 'less_than', 'right': ['1', '2']},
    ],
)
def test_invalid_conditions_are_refused(condition: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CONDITIONS.validate_python([condition])


def _rule(actions: list[dict[str, Any]], conditions: int = 0) -> dict[str, Any]:
    return {
        'name': 'r',
        'trigger': {'type': 'issue_created'},
        'conditions': [{'type': 'field', 'field': 'summary', 'op': 'is_not_empty'}] * conditions,
        'actions': actions,
    }


def _if(then: list[dict[str, Any]], otherwise: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {'type': 'if', 'conditions': [{'type': 'user', 'op': 'is', 'account_ids': ['a']}]}
    block['then'] = then
    if otherwise is not None:
        block['else'] = otherwise
    return block


def test_if_blocks_parse_nested_and_round_trip_with_else() -> None:
    document = _rule([LOG, _if([LOG, _if([LOG], [LOG, LOG])], [LOG])])
    rule = Rule.model_validate(document)
    dumped = rule.model_dump(mode='json', by_alias=True)
    assert dumped['actions'][1]['else'] == [LOG]
    assert dumped['actions'][1]['then'][1]['else'] == [LOG, LOG]
    assert Rule.model_validate(dumped) == rule


def test_if_blocks_nest_at_most_three_deep() -> None:
    Rule.model_validate(_rule([_if([_if([_if([LOG])])])]))
    with pytest.raises(ValidationError, match='nest at most 3 deep'):
        Rule.model_validate(_rule([_if([_if([_if([_if([LOG])])])])]))


def test_if_components_count_toward_the_limit() -> None:
    # trigger + 2 conditions + (if + its condition + 30 + 30) = 65; one more is too many.
    half = [LOG] * 30
    limit = {'max_components': DEFAULT_MAX_RULE_COMPONENTS}
    assert DEFAULT_MAX_RULE_COMPONENTS == 65
    Rule.model_validate(_rule([_if(half, half)], conditions=2), context=limit)
    with pytest.raises(ValidationError, match='at most 65 components, this one has 66'):
        Rule.model_validate(_rule([_if(half, [*half, LOG])], conditions=2), context=limit)


@pytest.mark.parametrize(
    'block',
    [
        {'type': 'if', 'conditions': [], 'then': [LOG]},
        {'type': 'if', 'conditions': [{'type': 'field', 'field': 'summary', 'op': 'is_empty'}]},
        {
            'type': 'if',
            'conditions': [{'type': 'field', 'field': 'summary', 'op': 'is_empty'}],
            'then': [{'type': 'x'}],
        },
    ],
)
def test_invalid_if_blocks_are_refused(block: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Rule.model_validate(_rule([block]))
