"""Issue edits as Jira's ``PUT /rest/api/2/issue/{key}`` does them, with their changelog items.

An edit is validated as a whole before anything changes: Jira answers 400 naming every bad
field and leaves the issue untouched, and the simulator must do the same for retries in the
worker to be meaningful.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from rulequeue.simulator.catalog import CUSTOM_FIELDS, JsonObject, component_json, find_priority

UserLookup = Callable[[str], JsonObject | None]
_TEXT_FIELDS = ('summary', 'description', 'environment')
_LIST_FIELDS = ('labels', 'components')


class FieldErrors(Exception):
    """Jira's 400 answer: messages about the request and errors keyed by field."""

    def __init__(self, errors: Mapping[str, str], messages: list[str] | None = None) -> None:
        super().__init__('; '.join([*(messages or []), *(f'{k}: {v}' for k, v in errors.items())]))
        self.errors = dict(errors)
        self.messages = list(messages or [])

    def body(self) -> JsonObject:
        return {'errorMessages': self.messages, 'errors': self.errors}


class _Invalid(Exception):
    pass


def item(
    field: str,
    field_id: str,
    *,
    fieldtype: str = 'jira',
    from_: str | None = None,
    from_string: str | None = None,
    to: str | None = None,
    to_string: str | None = None,
) -> JsonObject:
    """One changelog item, with Jira's key names."""
    return {
        'field': field,
        'fieldtype': fieldtype,
        'fieldId': field_id,
        'from': from_,
        'fromString': from_string,
        'to': to,
        'toString': to_string,
    }


def plan_edit(
    current: Mapping[str, Any],
    fields: Mapping[str, Any],
    update: Mapping[str, Any],
    *,
    base_url: str,
    find_user: UserLookup,
) -> dict[str, Any]:
    """The validated new value of every field the edit touches; FieldErrors if any is bad."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in sorted(set(fields) & set(update)):
        errors[name] = f'Field {name} cannot be set in both "fields" and "update".'
    for name, raw in fields.items():
        try:
            values[name] = _coerce(name, raw, base_url, find_user)
        except _Invalid as exc:
            errors[name] = str(exc)
    for name, operations in update.items():
        try:
            values[name] = _apply_operations(name, operations, current.get(name), base_url, find_user)
        except _Invalid as exc:
            errors[name] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return values


def apply_edit(current: dict[str, Any], values: Mapping[str, Any]) -> list[JsonObject]:
    """Write planned values into the issue's fields; the changelog items of what changed."""
    items: list[JsonObject] = []
    for name, new in values.items():
        old = current.get(name)
        if old == new:
            continue
        items.extend(change_items(name, old, new))
        current[name] = new
    return items


def _coerce(name: str, raw: Any, base_url: str, find_user: UserLookup) -> Any:
    if name == 'summary':
        return _summary(raw)
    if name in ('description', 'environment'):
        if raw is not None and not isinstance(raw, str):
            raise _Invalid(f'Operation value must be a string for {name}.')
        return raw
    if name == 'priority':
        return _priority(raw, base_url)
    if name == 'labels':
        if not isinstance(raw, list):
            raise _Invalid('Field labels must be a list of strings.')
        return sorted({_label(label) for label in raw})
    if name == 'duedate':
        return _duedate(raw)
    if name == 'components':
        if not isinstance(raw, list):
            raise _Invalid('Field components must be a list of objects.')
        return _unique_components([_component(c, base_url) for c in raw])
    if name == 'assignee':
        return _assignee(raw, find_user)
    if name.startswith('customfield_'):
        # Custom fields take any JSON value: their types depend on the site's configuration.
        return copy.deepcopy(raw)
    raise _Invalid(f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")


def _summary(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _Invalid('You must specify a summary of the issue.')
    if len(raw) > 255:
        raise _Invalid('Summary must be less than 255 characters.')
    return raw


def _apply_operations(name: str, operations: Any, current: Any, base_url: str, find_user: UserLookup) -> Any:
    if not isinstance(operations, list) or not operations:
        raise _Invalid(f'Field {name}: "update" takes a list of operations.')
    value = copy.deepcopy(current)
    for operation in operations:
        if not isinstance(operation, dict) or len(operation) != 1:
            raise _Invalid(f'Field {name}: each operation is an object with one verb.')
        ((verb, argument),) = operation.items()
        if verb == 'set':
            value = _coerce(name, argument, base_url, find_user)
        elif verb in ('add', 'remove') and name == 'labels':
            label = _label(argument)
            labels = set(value or [])
            labels = labels | {label} if verb == 'add' else labels - {label}
            value = sorted(labels)
        elif verb in ('add', 'remove') and name == 'components':
            value = _component_operation(verb, argument, value or [], base_url)
        elif name in _LIST_FIELDS or name in _TEXT_FIELDS or name.startswith('customfield_'):
            raise _Invalid(f"Field {name} does not support operation '{verb}'.")
        else:
            raise _Invalid(f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")
    return value


def _priority(raw: Any, base_url: str) -> JsonObject:
    if not isinstance(raw, dict) or not ({'name', 'id'} & set(raw)):
        raise _Invalid('Specify the Priority (id or name) in the string format.')
    if 'id' in raw:
        found = find_priority(base_url, priority_id=raw['id'])
        if found is None:
            raise _Invalid(f"Priority with id '{raw['id']}' does not exist.")
        return found
    found = find_priority(base_url, name=raw['name'])
    if found is None:
        raise _Invalid(f"Priority name '{raw['name']}' is not valid.")
    return found


def _label(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise _Invalid('Labels must be non-empty strings.')
    if any(ch.isspace() for ch in raw):
        raise _Invalid(f"The label '{raw}' contains spaces which is invalid.")
    if len(raw) > 255:
        raise _Invalid('The label must not exceed 255 characters.')
    return raw


def _duedate(raw: Any) -> str | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str) or len(raw) != 10:
            raise ValueError(raw)
        date.fromisoformat(raw)
    except ValueError:
        raise _Invalid(f"Error parsing date string: {raw}. The expected format is 'yyyy-MM-dd'.") from None
    return raw


def _component(raw: Any, base_url: str) -> JsonObject:
    if not isinstance(raw, dict) or not ({'name', 'id'} & set(raw)):
        raise _Invalid('Components are objects with a name or an id.')
    found = component_json(base_url, name=raw.get('name'), component_id=raw.get('id'))
    if found is None:
        label = raw.get('name', raw.get('id'))
        raise _Invalid(f"Component name '{label}' is not valid")
    return found


def _unique_components(components: list[JsonObject]) -> list[JsonObject]:
    by_id = {c['id']: c for c in components}
    return [by_id[i] for i in sorted(by_id)]


def _component_operation(verb: str, argument: Any, current: list[JsonObject], base_url: str) -> list[JsonObject]:
    component = _component(argument, base_url)
    kept = [c for c in current if c['id'] != component['id']]
    return _unique_components([*kept, component] if verb == 'add' else kept)


def _assignee(raw: Any, find_user: UserLookup) -> JsonObject | None:
    if raw is None:
        return None
    account_id = raw.get('accountId') if isinstance(raw, dict) else None
    if isinstance(raw, dict) and account_id is None:
        return None
    if not isinstance(account_id, str):
        raise _Invalid('Specify the assignee as an object with an accountId.')
    user = find_user(account_id)
    if user is None:
        raise _Invalid('Specified user does not exist or you do not have required permissions')
    return user


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def change_items(name: str, old: Any, new: Any) -> list[JsonObject]:
    """Changelog items for one field, shaped per field type as Jira writes them."""
    if name in _TEXT_FIELDS:
        return [item(name, name, from_string=old, to_string=new)]
    if name == 'priority':
        return [
            item(
                'priority',
                'priority',
                from_=_get(old, 'id'),
                from_string=_get(old, 'name'),
                to=_get(new, 'id'),
                to_string=_get(new, 'name'),
            )
        ]
    if name == 'labels':
        return [item('labels', 'labels', from_string=' '.join(old or []), to_string=' '.join(new or []))]
    if name == 'duedate':
        return [
            item(
                'duedate',
                'duedate',
                from_=old,
                from_string=old and f'{old} 00:00:00.0',
                to=new,
                to_string=new and f'{new} 00:00:00.0',
            )
        ]
    if name == 'assignee':
        return [
            item(
                'assignee',
                'assignee',
                from_=_get(old, 'accountId'),
                from_string=_get(old, 'displayName'),
                to=_get(new, 'accountId'),
                to_string=_get(new, 'displayName'),
            )
        ]
    if name == 'components':
        # Jira writes one item per component removed or added.
        old_ids = {c['id']: c for c in old or []}
        new_ids = {c['id']: c for c in new or []}
        removed = [
            item('Component', 'components', from_=i, from_string=c['name'])
            for i, c in old_ids.items()
            if i not in new_ids
        ]
        added = [
            item('Component', 'components', to=i, to_string=c['name']) for i, c in new_ids.items() if i not in old_ids
        ]
        return removed + added
    return [item(CUSTOM_FIELDS.get(name, name), name, fieldtype='custom', from_string=_text(old), to_string=_text(new))]


def _get(value: Any, key: str) -> str | None:
    return _text(value.get(key)) if isinstance(value, dict) else None
