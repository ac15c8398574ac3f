"""Whether an edit is already in effect on the issue, so a retry need not send it again.

A retry after a crash between Jira's answer and our record of it asks Jira for the current
values first (issue #4's effectively-once promise: "for edits, compare the current value").
Repeating an edit would change nothing in the issue, but it is a second write: it bumps
``updated``, adds history, fires webhooks for other apps and spends rate-limit budget.

The comparison is deliberately conservative: anything it cannot judge counts as not applied,
so the edit is sent (idempotent at worst, never skipped wrongly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _same(target: Any, current: Any) -> bool:
    """``target`` (what we would send) already holds in ``current`` (what Jira has)."""
    if isinstance(target, Mapping):
        if not isinstance(current, Mapping):
            return False
        # {'name': 'High'} holds for {'id': '2', 'name': 'High', 'self': ...}
        return all(_same(value, current.get(key)) for key, value in target.items())
    if isinstance(target, list):
        if not isinstance(current, list) or len(target) != len(current):
            return False
        return all(any(_same(t, c) for c in current) for t in target)
    if isinstance(target, str) and isinstance(current, str):
        return target == current
    return bool(target == current)


def _contains(items: Any, wanted: Any) -> bool:
    return isinstance(items, list) and any(_same(wanted, item) for item in items)


def _operation_holds(operation: Mapping[str, Any], current: Any) -> bool:
    if len(operation) != 1:
        return False
    [(verb, value)] = operation.items()
    if verb == 'add':
        return _contains(current, value)
    if verb == 'remove':
        return isinstance(current, list) and not _contains(current, value)
    if verb == 'set':
        return _same(value, current)
    return False


def edit_in_effect(payload: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether every part of a REST edit ``payload`` already holds in the issue's ``fields``."""
    if not payload:
        return False
    for name, value in (payload.get('fields') or {}).items():
        if name not in fields or not _same(value, fields[name]):
            return False
    for name, operations in (payload.get('update') or {}).items():
        if name not in fields or not isinstance(operations, list):
            return False
        if not all(isinstance(op, Mapping) and _operation_holds(op, fields[name]) for op in operations):
            return False
    return True


def edited_field_names(payload: Mapping[str, Any]) -> list[str]:
    return sorted({*(payload.get('fields') or {}), *(payload.get('update') or {})})
