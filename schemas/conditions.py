"""Rule conditions: field, compare (smart values on both sides), JQL, and user conditions.

A failing condition stops the rule; an ``if`` block (schemas.rules) picks another path instead.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import regex
from pydantic import Field, field_validator

from schemas.issue_actions import MAX_TEMPLATE_LENGTH
from schemas.strict import Strict
from schemas.triggers import parsed_jql
from schemas.user_condition import UserCondition

MAX_PATTERN_LENGTH = 1000

Op = Literal[
    'equals',
    'not_equals',
    'in',
    'not_in',
    'contains',
    'is_empty',
    'is_not_empty',
    'matches',
    'greater_than',
    'less_than',
    'greater_than_or_equal',
    'less_than_or_equal',
]
VALUELESS_OPS = frozenset({'is_empty', 'is_not_empty'})
LIST_OPS = frozenset({'in', 'not_in'})
# Compare numbers, or dates as instants (worker/compare.py); one value, never a list.
ORDER_OPS = frozenset({'greater_than', 'less_than', 'greater_than_or_equal', 'less_than_or_equal'})


# A template placeholder inside a compare pattern; the rendered value is escaped at run time.
_PLACEHOLDER = regex.compile(r'\{\{.*?\}\}', flags=regex.DOTALL)


def _check_value(op: str, value: Any, *, templated: bool = False) -> None:
    if op in VALUELESS_OPS:
        return
    if value is None:
        raise ValueError(f'op {op!r} needs a value')
    if op in LIST_OPS and not isinstance(value, list):
        raise ValueError(f'op {op!r} needs a list value')
    if op in ORDER_OPS and (isinstance(value, list | bool)):
        raise ValueError(f'op {op!r} needs one number or date')
    if op == 'matches':
        if not isinstance(value, str) or len(value) > MAX_PATTERN_LENGTH:
            raise ValueError(f'op "matches" needs a regular expression of at most {MAX_PATTERN_LENGTH} characters')
        try:
            # {{...}} would read as regex's fuzzy-matching syntax; compile with a literal instead.
            regex.compile(_PLACEHOLDER.sub('x', value) if templated else value)
        except regex.error as exc:
            raise ValueError(f'invalid regular expression: {exc}') from None


class FieldCondition(Strict):
    type: Literal['field']
    field: str = Field(min_length=1, max_length=255)
    op: Op
    value: str | int | float | bool | list[str | int | float] | None = None

    def model_post_init(self, __context: Any) -> None:
        _check_value(self.op, self.value)


class CompareCondition(Strict):
    type: Literal['compare']
    left: str = Field(max_length=MAX_TEMPLATE_LENGTH)
    op: Op
    right: str | list[str] | None = None

    def model_post_init(self, __context: Any) -> None:
        _check_value(self.op, self.right, templated=True)


class JqlCondition(Strict):
    """Holds when the issue matches the query: decided on the snapshot when it can be, else by a
    signed Jira search ``key = X AND (…)`` (worker/jql_checks.py)."""

    type: Literal['jql']
    jql: str = Field(min_length=1)

    @field_validator('jql')
    @classmethod
    def _valid_jql(cls, value: str) -> str:
        return parsed_jql(value)


Condition = Annotated[FieldCondition | CompareCondition | JqlCondition | UserCondition, Field(discriminator='type')]
