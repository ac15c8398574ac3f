"""Condition ops on Jira values: equals, in, contains, matches, is_empty, their negations, and
the orderings (greater_than, less_than and their ``_or_equal`` forms) on numbers and dates.

The semantics are documented in :mod:`worker.matching`, which applies these to rules.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import regex

from rulequeue.errors import IncomparableValues

MAX_MATCH_CHARS = 10_000
# Python's own re cannot be interrupted; regex can, and a backtracking pattern must not hold
# a worker. The budget is per condition, across all the strings it tests.
MATCH_TIMEOUT_SECONDS = 0.2
# Keys of a Jira object whose values stand for it in comparisons.
COMPARED_KEYS = ('name', 'value', 'key', 'displayName', 'accountId', 'emailAddress', 'id')
# Plain decimals only: float() would also take 'nan', 'infinity' and '1_000'.
_NUMBER = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')
# An ISO date, or a date-time as Jira writes it (2026-11-26T19:42:00.000+0000) or ISO does.
_DATE = re.compile(r'\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[-+]\d{2}:?\d{2})?)?')
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    'greater_than': operator.gt,
    'less_than': operator.lt,
    'greater_than_or_equal': operator.ge,
    'less_than_or_equal': operator.le,
}


def _strings(value: Any) -> list[str]:
    """The strings a value compares by (several for a Jira object)."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ['true' if value else 'false']
    if isinstance(value, Mapping):
        found = [value.get(key) for key in COMPARED_KEYS]
        return [_strings(item)[0] for item in found if isinstance(item, str | int | float)]
    if isinstance(value, list):
        # A list nested inside a list element has no single reading; it matches nothing.
        return []
    return [str(value)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


def _equal(actual: Any, expected: Any) -> bool:
    """Whether one (non-list) actual value equals one expected value."""
    wanted = _strings(expected)
    if not wanted:
        return False
    wanted_number = _number(wanted[0])
    for text in _strings(actual):
        number = _number(text)
        if number is not None and wanted_number is not None:
            if number == wanted_number:
                return True
        elif text.casefold() == wanted[0].casefold():
            return True
    return False


def _elements(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def is_empty(value: Any) -> bool:
    """Whether a value is empty: None, ``''``, ``[]`` or ``{}``."""
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def _equals(actual: Any, expected: Any) -> bool:
    if isinstance(expected, list):
        # Set equality: every element matches some expected value and the other way round.
        elements = _elements(actual)
        return all(any(_equal(e, x) for x in expected) for e in elements) and all(
            any(_equal(e, x) for e in elements) for x in expected
        )
    if isinstance(actual, list):
        return len(actual) == 1 and _equal(actual[0], expected)
    return _equal(actual, expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, list):
        return bool(expected) and all(_contains(actual, item) for item in expected)
    if isinstance(actual, list):
        return any(_equal(element, expected) for element in actual)
    needle = ''.join(_strings(expected)[:1]).casefold()
    return any(needle in text.casefold() for text in _strings(actual))


def _matches(actual: Any, pattern: regex.Pattern[str]) -> bool:
    deadline = time.monotonic() + MATCH_TIMEOUT_SECONDS
    for element in _elements(actual):
        for text in _strings(element):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError('regex search timed out')
            if pattern.search(text[:MAX_MATCH_CHARS], timeout=remaining) is not None:
                return True
    return False


def _instant(text: str) -> datetime | None:
    """A date or date-time as an aware instant (a date is its midnight, naive times are UTC)."""
    if not _DATE.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        return None  # 2026-02-30: shaped like a date, but none
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _orderable(value: Any, side: str) -> tuple[str, float | datetime]:
    """('number' | 'date', the value) of one side of an ordering, or IncomparableValues."""
    if isinstance(value, list):
        if len(value) != 1:
            raise IncomparableValues(f'the {side} side is a list of {len(value)} values, not one')
        value = value[0]
    if isinstance(value, datetime | date):
        value = value.isoformat()
    texts = _strings(value)
    if not texts or not texts[0].strip():
        raise IncomparableValues(f'the {side} side is empty')
    text = texts[0].strip()
    number = _number(text)
    if number is not None:
        return 'number', number
    moment = _instant(text)
    if moment is not None:
        return 'date', moment
    raise IncomparableValues(f'the {side} side is neither a number nor a date')


def order(op: str, actual: Any, expected: Any) -> bool:
    """Apply an ordering op: numbers numerically, dates and date-times as instants.

    Raises:
        IncomparableValues: When a side is empty, a list of several values, neither a number
            nor a date, or when one side is a number and the other a date.
    """
    left_kind, left = _orderable(actual, 'left')
    right_kind, right = _orderable(expected, 'right')
    if left_kind != right_kind:
        raise IncomparableValues(f'the left side is a {left_kind} and the right side a {right_kind}')
    return _ORDERINGS[op](left, right)


def check(op: str, actual: Any, expected: Any) -> bool:
    """Apply one condition op (see the module docstring for the semantics).

    Raises:
        ValueError: For an unknown op.
        regex.error: For a ``matches`` pattern that is not a valid regular expression.
        TimeoutError: When ``matches`` runs out of its MATCH_TIMEOUT_SECONDS.
        IncomparableValues: When an ordering op meets values it cannot order (see ``order``).
    """
    if op in _ORDERINGS:
        return order(op, actual, expected)
    if op in ('is_empty', 'is_not_empty'):
        return is_empty(actual) == (op == 'is_empty')
    if op in ('equals', 'not_equals'):
        return _equals(actual, expected) == (op == 'equals')
    if op in ('in', 'not_in'):
        options = _elements(expected)
        hit = any(_equal(element, option) for element in _elements(actual) for option in options)
        return hit == (op == 'in')
    if op == 'contains':
        return _contains(actual, expected)
    if op == 'matches':
        return _matches(actual, regex.compile(str(expected)))
    raise ValueError(f'unknown op {op!r}')
