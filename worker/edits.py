"""Turn an ``edit`` action into the body of Jira's ``PUT /rest/api/2/issue/{key}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.rules import EditAction
from worker.matching import resolve_field_id
from worker.templates import render_value


@dataclass(frozen=True)
class EditPlan:
    payload: dict[str, Any]
    changes: dict[str, Any]
    unknown_paths: tuple[str, ...]


def _is_list_change(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= {'add', 'remove'}


def plan_edit(action: EditAction, context: Mapping[str, Any]) -> EditPlan:
    """Set values go to ``fields``; ``{"add": [...], "remove": [...]}`` goes to ``update``."""
    fields: dict[str, Any] = {}
    update: dict[str, list[dict[str, Any]]] = {}
    changes: dict[str, Any] = {}
    unknown: list[str] = []
    for name, raw in action.fields.items():
        field_id = resolve_field_id(name)
        value, notes = render_value(raw, context)
        unknown.extend(notes)
        if _is_list_change(value):
            adds, removes = list(value.get('add', [])), list(value.get('remove', []))
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
