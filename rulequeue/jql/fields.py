"""JQL field names to values of an issue's REST JSON, and the strings a value compares by.

System fields go by their JQL names and aliases (``issuetype``/``type``, ``component``,
``fixVersion``, ``due``…), custom fields by ``cf[10010]``, ``customfield_10010`` or their
display name (from the issue's ``names`` map or the tenant's field names), all ignoring case.
A field we cannot read here resolves to None: the query then needs Jira.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# JQL name (lower case) -> (field id in the issue JSON, kind).
SYSTEM_FIELDS: dict[str, tuple[str, str]] = {
    'project': ('project', 'object'),
    'issuetype': ('issuetype', 'object'),
    'type': ('issuetype', 'object'),
    'status': ('status', 'object'),
    'priority': ('priority', 'object'),
    'resolution': ('resolution', 'object'),
    'assignee': ('assignee', 'object'),
    'reporter': ('reporter', 'object'),
    'creator': ('creator', 'object'),
    'summary': ('summary', 'text'),
    'description': ('description', 'text'),
    'environment': ('environment', 'text'),
    'labels': ('labels', 'list'),
    'label': ('labels', 'list'),
    'component': ('components', 'list'),
    'components': ('components', 'list'),
    'fixversion': ('fixVersions', 'list'),
    'affectedversion': ('versions', 'list'),
    'created': ('created', 'date'),
    'createddate': ('created', 'date'),
    'updated': ('updated', 'date'),
    'updateddate': ('updated', 'date'),
    'duedate': ('duedate', 'date'),
    'due': ('duedate', 'date'),
    'resolutiondate': ('resolutiondate', 'date'),
    'resolved': ('resolutiondate', 'date'),
    'lastviewed': ('lastViewed', 'date'),
    'parent': ('parent', 'object'),
}
# Keys of a Jira object that a JQL value may name it by.
COMPARED_KEYS = ('key', 'name', 'value', 'id', 'accountId', 'displayName', 'emailAddress')
_CF = re.compile(r'(?:cf\[(\d+)\]|customfield_(\d+))', re.IGNORECASE)


@dataclass(frozen=True)
class FieldValue:
    """A field's value and how it compares: 'key', 'id', 'object', 'text', 'list', 'date', 'custom'."""

    kind: str
    value: Any


def _comments(fields: Mapping[str, Any]) -> list[str]:
    comment = fields.get('comment')
    items = comment.get('comments') if isinstance(comment, Mapping) else None
    return [str(c.get('body')) for c in items or [] if isinstance(c, Mapping) and isinstance(c.get('body'), str)]


def _custom_id(name: str, issue: Mapping[str, Any], field_names: Mapping[str, str]) -> str | None:
    match = _CF.fullmatch(name.strip())
    if match:
        return 'customfield_' + (match.group(1) or match.group(2))
    names = issue.get('names')
    folded = name.strip().casefold()
    for mapping in (names if isinstance(names, Mapping) else {}, field_names):
        for field_id, display in mapping.items():
            if isinstance(display, str) and display.casefold() == folded:
                return str(field_id)
    return None


def resolve(issue: Mapping[str, Any], name: str, field_names: Mapping[str, str]) -> FieldValue | None:
    """The value of field ``name`` on the issue; None if it cannot be read locally."""
    fields = issue.get('fields')
    fields = fields if isinstance(fields, Mapping) else {}
    lowered = name.strip().lower()
    if lowered in ('key', 'issuekey'):
        return FieldValue('key', issue.get('key'))
    if lowered == 'id':
        return FieldValue('id', issue.get('id'))
    if lowered == 'statuscategory':
        status = fields.get('status')
        return FieldValue('object', status.get('statusCategory') if isinstance(status, Mapping) else None)
    if lowered == 'comment':
        return FieldValue('text', _comments(fields))
    if lowered == 'text':
        texts = [fields.get(f) for f in ('summary', 'description', 'environment')]
        return FieldValue('text', [t for t in texts if isinstance(t, str)] + _comments(fields))
    if lowered in SYSTEM_FIELDS:
        field_id, kind = SYSTEM_FIELDS[lowered]
        if field_id not in fields:
            return None  # not in the snapshot (a trimmed payload): Jira knows
        return FieldValue(kind, fields[field_id])
    custom = _custom_id(name, issue, field_names)
    if custom is None or custom not in fields:
        return None
    return FieldValue('custom', fields[custom])


def strings(value: Any) -> list[str]:
    """The strings a single (non-list) value compares by; several for a Jira object."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ['true' if value else 'false']
    if isinstance(value, Mapping):
        return [str(value[k]) for k in COMPARED_KEYS if isinstance(value.get(k), str | int) and value.get(k) != '']
    if isinstance(value, list):
        return []
    return [str(value)]


def elements(value: Any) -> list[Any]:
    """A value as a list of its elements; an empty value has none."""
    if value is None or value == '' or value == {}:
        return []
    return list(value) if isinstance(value, list) else [value]
