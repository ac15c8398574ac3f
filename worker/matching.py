"""Which rules an event triggers, and whether their conditions hold.

Value semantics (documented for rule authors in the README):

* A Jira object (``{"name": "Bug", "id": "10004"}``, a user, a priority) compares by its
  representative strings: ``name``, ``value``, ``key``, ``displayName``, ``accountId``,
  ``emailAddress``, ``id``. So ``issuetype equals "Bug"`` and ``assignee equals "<accountId>"``
  or ``"<display name>"`` all work.
* Strings compare case-insensitively for ``equals``, ``not_equals``, ``in``, ``not_in`` and
  ``contains`` (Jira names are case-insensitive); ``matches`` is a case-sensitive
  ``re.search`` unless the pattern says otherwise, over at most the first 10,000 characters.
* Numbers compare as numbers when both sides parse as numbers.
* Lists (labels, components): ``equals`` a list means the same set; ``equals`` a single value
  means the list is exactly that value; ``contains`` and ``in`` hold when some element matches;
  ``matches`` when some element matches.
* ``is_empty``: absent, None, '', [] or {}.

Condition descriptions are built from the rule only (field, op, expected value), never from
the issue's actual values: they go into audit entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.events import WebhookEvent
from schemas.rules import (
    CompareCondition,
    Condition,
    FieldCondition,
    FieldValueChanged,
    IssueAssigned,
    IssueCommented,
    IssueCreated,
    IssueDeleted,
    IssueTransitioned,
    IssueUpdated,
    Rule,
    Trigger,
)
from worker.templates import render

MAX_MATCH_CHARS = 10_000
_KEYS = ('name', 'value', 'key', 'displayName', 'accountId', 'emailAddress', 'id')
# Display names of system fields, folded, to their Jira ids.
FIELD_ALIASES = {
    'issue type': 'issuetype',
    'issuetype': 'issuetype',
    'type': 'issuetype',
    'status': 'status',
    'priority': 'priority',
    'labels': 'labels',
    'label': 'labels',
    'assignee': 'assignee',
    'reporter': 'reporter',
    'summary': 'summary',
    'description': 'description',
    'components': 'components',
    'component': 'components',
    'component/s': 'components',
    'resolution': 'resolution',
    'due date': 'duedate',
    'duedate': 'duedate',
    'project': 'project',
    'fix version/s': 'fixVersions',
    'fixversions': 'fixVersions',
}


def resolve_field_id(name: str) -> str:
    folded = name.strip().casefold()
    if folded.startswith('customfield_'):
        return folded
    return FIELD_ALIASES.get(folded, name.strip())


def field_value(issue: Mapping[str, Any], field: str) -> Any:
    fields = issue.get('fields') or {}
    field_id = resolve_field_id(field)
    if field_id in fields:
        return fields[field_id]
    if field_id in ('key', 'id'):
        return issue.get(field_id)
    return None


def in_scope(rule: Rule, event: WebhookEvent) -> bool:
    if not rule.projects:
        return True
    project = (event.issue.fields.get('project') or {}).get('key')
    return project in rule.projects


def _changed(event: WebhookEvent) -> list[tuple[str, str, str | None, str | None]]:
    """(field, fieldId, fromString, toString) of each changelog item, names folded."""
    items = event.changelog.items if event.changelog else []
    return [
        (item.field.casefold(), (item.fieldId or item.field).casefold(), item.fromString, item.toString)
        for item in items
    ]


def _same(a: str | None, b: str | None) -> bool:
    return (a or '').casefold() == (b or '').casefold()


def trigger_matches(trigger: Trigger, event: WebhookEvent) -> bool:
    kind = event.webhookEvent
    changes = _changed(event)
    if isinstance(trigger, IssueCreated):
        return kind == 'jira:issue_created'
    if isinstance(trigger, IssueDeleted):
        return kind == 'jira:issue_deleted'
    if isinstance(trigger, IssueCommented):
        # Jira also sends jira:issue_updated 'issue_commented' for the same comment.
        return kind == 'comment_created'
    if kind != 'jira:issue_updated' or not changes:
        return False
    if isinstance(trigger, IssueUpdated):
        return True
    if isinstance(trigger, FieldValueChanged):
        wanted = {resolve_field_id(f).casefold() for f in trigger.fields} | {f.casefold() for f in trigger.fields}
        return any(name in wanted or field_id in wanted for name, field_id, _, _ in changes)
    if isinstance(trigger, IssueAssigned):
        return any(field_id == 'assignee' or name == 'assignee' for name, field_id, _, _ in changes)
    if isinstance(trigger, IssueTransitioned):
        for name, field_id, before, after in changes:
            if 'status' in (name, field_id):
                return (trigger.from_ is None or _same(trigger.from_, before)) and (
                    trigger.to is None or _same(trigger.to, after)
                )
    return False


@dataclass(frozen=True)
class ConditionOutcome:
    index: int
    passed: bool
    description: str
    unknown_paths: tuple[str, ...] = ()


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [str(value[k]) for k in _KEYS if isinstance(value.get(k), str | int) and not isinstance(value[k], bool)]
    if isinstance(value, bool):
        return ['true' if value else 'false']
    return [str(value)]


def _elements(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _equal(actual: Any, expected: Any) -> bool:
    for text in _strings(actual):
        if _number(text) is not None and _number(expected) is not None:
            if _number(text) == _number(expected):
                return True
        elif text.casefold() == str(expected).casefold():
            return True
    return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def is_empty(value: Any) -> bool:
    return value is None or value == '' or value == [] or value == {}


def check(op: str, actual: Any, expected: Any) -> bool:
    """Apply one condition op; see the module docstring for the semantics."""
    if op == 'is_empty':
        return is_empty(actual)
    if op == 'is_not_empty':
        return not is_empty(actual)
    if op in ('equals', 'not_equals'):
        if isinstance(actual, list) and isinstance(expected, list):
            same = {s.casefold() for e in actual for s in _strings(e)[:1]} == {str(x).casefold() for x in expected}
        elif isinstance(actual, list):
            same = len(actual) == 1 and _equal(actual[0], expected)
        else:
            same = _equal(actual, expected)
        return same if op == 'equals' else not same
    if op in ('in', 'not_in'):
        options = expected if isinstance(expected, list) else [expected]
        hit = any(_equal(element, option) for element in _elements(actual) for option in options)
        return hit if op == 'in' else not hit
    if op == 'contains':
        if isinstance(actual, list):
            return any(_equal(element, expected) for element in actual)
        return any(str(expected).casefold() in text.casefold() for text in _strings(actual))
    if op == 'matches':
        pattern = re.compile(str(expected))
        return any(
            pattern.search(text[:MAX_MATCH_CHARS]) is not None
            for element in _elements(actual)
            for text in _strings(element)
        )
    raise ValueError(f'unknown op {op!r}')


def _describe(index: int, subject: str, op: str, expected: Any, passed: bool) -> str:
    shown = '' if expected is None else f' {expected!r}'
    return f'condition {index}: {subject} {op}{shown} -> {"met" if passed else "not met"}'


def evaluate_conditions(
    conditions: Sequence[Condition], event: WebhookEvent, context: Mapping[str, Any]
) -> list[ConditionOutcome]:
    """Evaluate in order; stop after the first condition that does not hold."""
    outcomes: list[ConditionOutcome] = []
    issue = context.get('issue') or event.issue.model_dump(mode='json')
    for index, condition in enumerate(conditions, start=1):
        if isinstance(condition, FieldCondition):
            passed = check(condition.op, field_value(issue, condition.field), condition.value)
            outcome = ConditionOutcome(
                index, passed, _describe(index, condition.field, condition.op, condition.value, passed)
            )
        else:
            outcome = _compare(index, condition, context)
        outcomes.append(outcome)
        if not outcome.passed:
            break
    return outcomes


def _compare(index: int, condition: CompareCondition, context: Mapping[str, Any]) -> ConditionOutcome:
    left = render(condition.left, context)
    unknown = list(left.unknown_paths)
    right: Any = condition.right
    if isinstance(right, str):
        rendered = render(right, context)
        right, unknown = rendered.text, unknown + list(rendered.unknown_paths)
    elif isinstance(right, list):
        items = [render(item, context) for item in right]
        right = [item.text for item in items]
        unknown += [p for item in items for p in item.unknown_paths]
    passed = check(condition.op, left.text if left.text != '' else None, right)
    description = _describe(index, repr(condition.left), condition.op, condition.right, passed)
    return ConditionOutcome(index, passed, description, tuple(dict.fromkeys(unknown)))
