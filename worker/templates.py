"""Sandboxed templates: ``{{issue.key}}``-style paths over the event's JSON data.

The renderer only walks dict keys and list indexes of plain JSON data: there is no
expression language, no attribute access on Python objects and no code, so a rule author
cannot reach anything but the data. ``{{issue.X}}`` falls back to ``{{issue.fields.X}}``
as in Automation for Jira. An unknown path renders empty and is reported back so the worker
can note it in the audit entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rulequeue.errors import TemplateError
from schemas.events import WebhookEvent

MAX_OUTPUT_CHARS = 32 * 1024
MAX_PATH_SEGMENTS = 16
OPEN, CLOSE = '{{', '}}'
_PATH = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_\- ]*(\.[A-Za-z0-9_][A-Za-z0-9_\- ]*)*$')
# Keys of a Jira object that best stand for it in text, in order of preference.
REPRESENTATIVE_KEYS = ('name', 'value', 'displayName', 'key', 'id')


@dataclass(frozen=True)
class Rendered:
    text: str
    unknown_paths: tuple[str, ...]


def build_context(event: WebhookEvent, *, rule_name: str, now: datetime) -> dict[str, Any]:
    """The data a template may read: the issue, the initiator, the comment, the rule, now."""
    data = event.model_dump(mode='json', by_alias=True)
    comment = data.get('comment') or {}
    initiator = data.get('user') or comment.get('author') or {}
    return {
        'issue': data['issue'],
        'initiator': initiator,
        'comment': comment,
        'rule': {'name': rule_name},
        'now': now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ'),
    }


def _walk(value: Any, segments: list[str]) -> tuple[bool, Any]:
    for segment in segments:
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return False, None
    return True, value


def lookup(context: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Resolve a dotted path; ``issue.X`` falls back to ``issue.fields.X``."""
    segments = path.split('.')
    found, value = _walk(context, segments)
    if not found and len(segments) > 1 and segments[0] == 'issue' and segments[1] != 'fields':
        found, value = _walk(context, ['issue', 'fields', *segments[1:]])
    return found, value


def to_text(value: Any) -> str:
    """How a JSON value reads inside text."""
    if value is None:
        return ''
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, Mapping):
        for key in REPRESENTATIVE_KEYS:
            if isinstance(value.get(key), str | int) and not isinstance(value.get(key), bool):
                return str(value[key])
        return json.dumps(value, separators=(',', ':'), sort_keys=True)
    if isinstance(value, list):
        return ', '.join(to_text(item) for item in value)
    return ''


def render(template: str, context: Mapping[str, Any]) -> Rendered:
    """Render ``template``; raises TemplateError (with the offset) on a syntax error."""
    out: list[str] = []
    unknown: list[str] = []
    size = 0
    position = 0
    while True:
        start = template.find(OPEN, position)
        piece = template[position:] if start < 0 else template[position:start]
        out.append(piece)
        size += len(piece)
        if start < 0:
            break
        end = template.find(CLOSE, start + len(OPEN))
        if end < 0:
            raise TemplateError('unclosed "{{"', template=template, position=start)
        path = template[start + len(OPEN) : end].strip()
        if not path:
            raise TemplateError('empty "{{}}"', template=template, position=start)
        if not _PATH.match(path) or path.count('.') >= MAX_PATH_SEGMENTS:
            raise TemplateError(f'invalid path {path[:40]!r}', template=template, position=start)
        found, value = lookup(context, path)
        if not found:
            unknown.append(path)
        text = to_text(value) if found else ''
        out.append(text)
        size += len(text)
        if size > MAX_OUTPUT_CHARS:
            raise TemplateError(f'output over {MAX_OUTPUT_CHARS} characters', template=template, position=start)
        position = end + len(CLOSE)
    if size > MAX_OUTPUT_CHARS:
        raise TemplateError(f'output over {MAX_OUTPUT_CHARS} characters', template=template, position=0)
    return Rendered(''.join(out), tuple(dict.fromkeys(unknown)))


def render_value(value: Any, context: Mapping[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """Render every string inside a JSON value (edit action field values)."""
    if isinstance(value, str):
        rendered = render(value, context)
        return rendered.text, rendered.unknown_paths
    if isinstance(value, Mapping):
        unknown: list[str] = []
        result: dict[str, Any] = {}
        for key, item in value.items():
            result[key], notes = render_value(item, context)
            unknown.extend(notes)
        return result, tuple(dict.fromkeys(unknown))
    if isinstance(value, list):
        items: list[Any] = []
        notes_all: list[str] = []
        for item in value:
            rendered_item, notes = render_value(item, context)
            items.append(rendered_item)
            notes_all.extend(notes)
        return items, tuple(dict.fromkeys(notes_all))
    return value, ()
