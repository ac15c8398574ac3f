"""Turn an ``edit`` action into the body of Jira's ``PUT /rest/api/2/issue/{key}``.

A field's value is either set (``"priority": {"name": "High"}`` goes to ``fields``) or, for
list fields, changed (``"labels": {"add": ["triage"], "remove": ["new"]}`` goes to
``update`` as one operation per element, the way Jira adds to a list without replacing it).
Field names are resolved to Jira ids (``"Priority"`` -> ``priority``), and every string in
the values is rendered as a template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.rules import EditAction
from worker.matching import resolve_field_id
from worker.templates import render_value

LIST_VERBS = frozenset({'add', 'remove'})


@dataclass(frozen=True)
class EditPlan:
    """The request body, what the audit entry records, and the unknown template paths.

    Attributes:
        payload: ``{'fields': {...}, 'update': {field: [{'add': x}, {'remove': y}]}}``,
            without an empty part.
        changes: Field id to its new value, or to ``{'add': [...], 'remove': [...]}``.
        unknown_paths: Template paths that were not found and rendered empty.
    """

    payload: dict[str, Any]
    changes: dict[str, Any]
    unknown_paths: tuple[str, ...]


def is_list_change(value: Any) -> bool:
    """Whether an edit value is a list change: a non-empty dict with only add/remove keys."""
    return isinstance(value, Mapping) and bool(value) and set(value) <= LIST_VERBS


def _items(value: Any) -> list[Any]:
    # The schema makes add/remove lists; a single value is still taken as one element.
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def plan_edit(action: EditAction, context: Mapping[str, Any]) -> EditPlan:
    """Plan the Jira request for an edit action.

    Two names resolving to the same field id (``"Labels"`` and ``"labels"``): the later
    one wins, as Jira refuses a field both in ``fields`` and in ``update``. A list change
    with nothing to add or remove is left out.

    Args:
        action: The edit action.
        context: The template data, as built by worker.templates.build_context.

    Returns:
        The plan; its payload is ``{}`` if there is nothing to change.

    Raises:
        TemplateError: When a value's template has a syntax error or renders too long.
    """
    fields: dict[str, Any] = {}
    update: dict[str, list[dict[str, Any]]] = {}
    changes: dict[str, Any] = {}
    unknown: list[str] = []
    for name, raw in action.fields.items():
        field_id = resolve_field_id(name)
        value, notes = render_value(raw, context)
        unknown.extend(notes)
        fields.pop(field_id, None)
        update.pop(field_id, None)
        changes.pop(field_id, None)
        if is_list_change(raw):
            adds, removes = _items(value.get('add')), _items(value.get('remove'))
            if not adds and not removes:
                continue
            update[field_id] = [{'add': v} for v in adds] + [{'remove': v} for v in removes]
            changes[field_id] = {'add': adds, 'remove': removes}
        else:
            fields[field_id] = value
            changes[field_id] = value
    payload: dict[str, Any] = {}
    if fields:
        payload['fields'] = fields
    if update:
        payload['update'] = update
    return EditPlan(payload, changes, tuple(dict.fromkeys(unknown)))
