"""Condition ops on Jira values: equals, in, contains, matches, is_empty and their negations.

The semantics are documented in :mod:`worker.matching`, which applies these to rules.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import regex

MAX_MATCH_CHARS = 10_000
# Python's own re cannot be interrupted; regex can, and a backtracking pattern must not hold
# a worker. The budget is per condition, across all the strings it tests.
MATCH_TIMEOUT_SECONDS = 0.2
# Keys of a Jira object whose values stand for it in comparisons.
COMPARED_KEYS = ('name', 'value', 'key', 'displayName', 'accountId', 'emailAddress', 'id')
# Plain decimals only: float() would also take 'nan', 'infinity' and '1_000'.
_NUMBER = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')


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


def check(op: str, actual: Any, expected: Any) -> bool:
    """Apply one condition op (see the module docstring for the semantics).

    Raises:
        ValueError: For an unknown op.
        regex.error: For a ``matches`` pattern that is not a valid regular expression.
        TimeoutError: When ``matches`` runs out of its MATCH_TIMEOUT_SECONDS.
    """
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
