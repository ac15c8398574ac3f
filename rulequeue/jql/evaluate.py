"""Evaluate a parsed JQL query on one issue's JSON, or say that only Jira can.

The logic is three-valued: a clause is True, False, or None when it cannot be decided here (a
field not in the snapshot, ``membersOf()``, an unknown function, an order we do not know such
as ``priority > Medium``). ``AND`` is False if any part is False, ``OR`` True if any is True,
otherwise None wins; the caller then asks Jira with ``key = X AND (…)``.

Jira's semantics kept here: values compare ignoring case; ``=``/``IN`` on a list field hold
when some element matches; ``!=``, ``NOT IN`` and ``!~`` never match an empty field (Jira
leaves those issues out; ask with ``OR field IS EMPTY``); ``~`` matches words (a trailing ``*``
matches a prefix, a quoted phrase must appear as is); dates compare as instants in UTC, a date
without a time is its midnight, relative dates (``-7d``, ``4w``, ``"-1w 2d"``; units y, M, w,
d, h, m) count from ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rulequeue.jql import dates
from rulequeue.jql.fields import FieldValue, elements, resolve, strings
from rulequeue.jql.syntax import And, Clause, Empty, Function, Node, Not, Operand, Or, Query, Value

_KEY = re.compile(r'([A-Za-z][A-Za-z0-9_]*)-(\d+)')
_WORD = re.compile(r'\w+\*?')


@dataclass(frozen=True)
class JqlContext:
    """What a query is evaluated against besides the issue.

    Attributes:
        now: The current time, for ``now()``, ``startOfDay()`` and relative dates.
        current_user: The account id ``currentUser()`` stands for (the rule's actor); None
            leaves such clauses to Jira.
        field_names: Custom field id to display name, to resolve fields named in the query.
    """

    now: datetime
    current_user: str | None = None
    field_names: Mapping[str, str] = field(default_factory=dict)


def evaluate_locally(query: Query, issue: Mapping[str, Any], context: JqlContext) -> bool | None:
    """Whether the issue matches the query; None when some clause needs Jira to decide."""
    return True if query.where is None else _node(query.where, issue, context)


def _node(node: Node, issue: Mapping[str, Any], context: JqlContext) -> bool | None:
    if isinstance(node, Clause):
        return _clause(node, issue, context)
    if isinstance(node, Not):
        inner = _node(node.item, issue, context)
        return None if inner is None else not inner
    results = [_node(item, issue, context) for item in node.items]
    if isinstance(node, And):
        return False if False in results else None if None in results else True
    assert isinstance(node, Or)
    return True if True in results else None if None in results else False


def _operands(operand: Operand) -> list[Value | Empty | Function]:
    return list(operand) if isinstance(operand, tuple) else [operand]


def _clause(clause: Clause, issue: Mapping[str, Any], context: JqlContext) -> bool | None:
    found = resolve(issue, clause.field, context.field_names)
    if found is None:
        return None
    items = elements(found.value)
    if clause.op in ('is', 'is not'):
        return (not items) == (clause.op == 'is')
    if clause.op in ('~', '!~'):
        return _contains(items, clause.operand, clause.op == '~')
    if clause.op in ('>', '>=', '<', '<='):
        return _order(found, clause.op, clause.operand, context)
    return _equality(found, items, clause, context)


def _equality(found: FieldValue, items: list[Any], clause: Clause, context: JqlContext) -> bool | None:
    positive = clause.op in ('=', 'in')
    wanted: list[Any] = []
    wants_empty = False
    for operand in _operands(clause.operand):
        if isinstance(operand, Empty):
            wants_empty = True
            continue
        value = _resolve_operand(operand, context)
        if value is None:
            return None
        wanted.append(value)
    if not items:
        # An empty field matches only EMPTY; Jira leaves it out of != and NOT IN.
        return wants_empty if positive else False
    hit = any(_equal(found, item, value, context.now) for item in items for value in wanted)
    return hit if positive else not hit


def _resolve_operand(operand: Value | Function, context: JqlContext) -> Any:
    """A Value's text, a date for date functions, the account id for currentUser()."""
    if isinstance(operand, Value):
        return operand.text
    name = operand.name.lower()
    if name == 'currentuser':
        return context.current_user
    return dates.function(name, operand.args, context.now)


def _equal(found: FieldValue, item: Any, wanted: Any, now: datetime) -> bool:
    if found.kind == 'date' or isinstance(wanted, datetime):
        moment, target = dates.of_field(item), dates.of_operand(wanted, now)
        return moment is not None and moment == target
    texts = strings(item)
    number = _number(wanted)
    for text in texts:
        actual = _number(text)
        if number is not None and actual is not None:
            if actual == number:
                return True
        elif text.casefold() == str(wanted).casefold():
            return True
    return False


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _contains(items: list[Any], operand: Operand, positive: bool) -> bool | None:
    if not isinstance(operand, Value):
        return None
    if not items:
        return False
    text = ' '.join(t for item in items for t in strings(item)).casefold()
    query = operand.text.casefold().strip()
    if query.startswith('"') and query.endswith('"') and len(query) > 1:
        hit = query[1:-1] in text
    else:
        words = set(re.findall(r'\w+', text))
        terms = _WORD.findall(query)
        hit = bool(terms) and all(
            any(w.startswith(t[:-1]) for w in words) if t.endswith('*') else t in words for t in terms
        )
    return hit if positive else not hit


def _order(found: FieldValue, op: str, operand: Operand, context: JqlContext) -> bool | None:
    if not isinstance(operand, Value | Function) or found.value is None:
        return False if isinstance(operand, Value | Function) else None
    wanted = _resolve_operand(operand, context)
    if wanted is None:
        return None
    left: Any
    right: Any
    if found.kind == 'date' or isinstance(wanted, datetime):
        left, right = dates.of_field(found.value), dates.of_operand(wanted, context.now)
    elif found.kind == 'key':
        left, right = _key_order(found.value), _key_order(str(wanted))
        if left is None or right is None or left[0] != right[0]:
            return False
    elif found.kind == 'id' or (found.kind == 'custom' and _number(found.value) is not None):
        left, right = _number(found.value), _number(wanted)
    elif found.kind == 'custom' and dates.of_field(found.value) is not None:
        left, right = dates.of_field(found.value), dates.of_operand(wanted, context.now)
    else:
        return None  # priority, versions…: their order is the site's configuration
    if left is None or right is None:
        return None
    return bool({'>': left > right, '>=': left >= right, '<': left < right, '<=': left <= right}[op])


def _key_order(key: Any) -> tuple[str, int] | None:
    match = _KEY.fullmatch(str(key))
    return (match.group(1).upper(), int(match.group(2))) if match else None
