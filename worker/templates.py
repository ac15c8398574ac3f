"""Sandboxed templates: ``{{issue.key}}``-style paths over the event's JSON data.

The renderer only walks dict keys and list indexes of plain JSON data: there is no
expression language, no attribute access on Python objects and no code, so a rule author
cannot reach anything but the data (``{{issue.__class__}}`` or ``{{issue.key.upper}}`` are
simply unknown paths). ``{{issue.X}}`` falls back to ``{{issue.fields.X}}`` as in
Automation for Jira. An unknown path renders empty and is reported back so the worker can
note it in the audit entry.

Values read as text like this: a string as-is; numbers and booleans as JSON (``3``,
``true``); None as nothing; a Jira object by its first representative string (``name``,
``value``, ``displayName``, ``key``, ``id``), else as compact JSON; a list as its items
joined by ``', '``.

Syntax errors (an unclosed ``{{``, an empty ``{{}}``, a path with characters other than
letters, digits, ``_`` and ``-`` between dots) raise TemplateError with the offset of the
``{{`` at fault. So does output over MAX_OUTPUT_CHARS, so a template cannot blow up memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rulequeue.errors import TemplateError
from schemas.events import WebhookEvent

MAX_OUTPUT_CHARS = 32 * 1024
# render_value renders many strings (every leaf of an edit's values); bound their sum too.
MAX_VALUE_OUTPUT_CHARS = 8 * MAX_OUTPUT_CHARS
MAX_PATH_SEGMENTS = 16
OPEN, CLOSE = '{{', '}}'
_SEGMENT = r'[A-Za-z0-9_][A-Za-z0-9_\-]*'
_PATH = re.compile(rf'{_SEGMENT}(?:\.{_SEGMENT})*')
# ASCII digits only (str.isdigit() takes '²', which int() refuses), and few (int() caps digits).
_INDEX = re.compile(r'[0-9]{1,9}')
# Keys of a Jira object that best stand for it in text, in order of preference.
REPRESENTATIVE_KEYS = ('name', 'value', 'displayName', 'key', 'id')


@dataclass(frozen=True)
class Rendered:
    """The text of a rendered template and the paths that were not found (rendered empty)."""

    text: str
    unknown_paths: tuple[str, ...]


def build_context(event: WebhookEvent, *, rule_name: str, now: datetime) -> dict[str, Any]:
    """Build the data a template may read.

    Args:
        event: The webhook event.
        rule_name: The name of the rule being run (``{{rule.name}}``).
        now: The current time (``{{now}}``); a naive datetime is taken as UTC.

    Returns:
        ``{'issue', 'initiator', 'comment', 'rule', 'now'}`` as plain JSON data. ``initiator``
        is the webhook's ``user``; comment events carry no ``user``, so for them it is the
        comment's author (its ``updateAuthor`` for an edited comment). Fields absent from the
        webhook are absent here too, so reading them is reported as an unknown path.
    """
    # exclude_unset: the context is what Jira sent, not our models' defaults.
    data = event.model_dump(mode='json', by_alias=True, exclude_unset=True)
    comment = data.get('comment') or {}
    initiator = event.actor()
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return {
        'issue': data['issue'],
        'initiator': initiator,
        'comment': comment,
        'rule': {'name': rule_name},
        'now': moment.strftime('%Y-%m-%dT%H:%M:%SZ'),
    }


def _walk(value: Any, segments: list[str]) -> tuple[bool, Any]:
    for segment in segments:
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and _INDEX.fullmatch(segment) and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return False, None
    return True, value


def lookup(context: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Resolve a dotted path over dict keys and list indexes.

    Args:
        context: The data, as built by build_context.
        path: A dotted path such as ``issue.fields.components.0.name``.

    Returns:
        ``(found, value)``; ``issue.X`` that is not found falls back to ``issue.fields.X``.
        A found path may have the value None (a field Jira sent as null).
    """
    segments = path.split('.')
    found, value = _walk(context, segments)
    if not found and len(segments) > 1 and segments[0] == 'issue' and segments[1] != 'fields':
        found, value = _walk(context, ['issue', 'fields', *segments[1:]])
    return found, value


def to_text(value: Any) -> str:
    """Return how a JSON value reads inside text (see the module docstring)."""
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
            item = value.get(key)
            if isinstance(item, str | int) and not isinstance(item, bool):
                return str(item)
        return json.dumps(value, separators=(',', ':'), sort_keys=True, default=lambda _: None)
    if isinstance(value, list):
        return ', '.join(to_text(item) for item in value)
    # Not JSON data: never call str() on it, which would run the object's own code.
    return ''


def _too_long(template: str, position: int, limit: int) -> TemplateError:
    return TemplateError(f'output over {limit} characters', template=template, position=position)


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    escape: Callable[[str], str] | None = None,
) -> Rendered:
    """Render a template.

    Args:
        template: The template text.
        context: The data, as built by build_context.
        escape: Applied to each substituted value (not to the template's own text); the
            ``matches`` condition passes ``re.escape`` so issue data cannot become regex syntax.

    Returns:
        The text and the unknown paths (each once, in order of appearance).

    Raises:
        TemplateError: On a syntax error or output over MAX_OUTPUT_CHARS.
    """
    out: list[str] = []
    unknown: list[str] = []
    size = 0
    position = 0
    while True:
        start = template.find(OPEN, position)
        piece = template[position:] if start < 0 else template[position:start]
        out.append(piece)
        size += len(piece)
        if size > MAX_OUTPUT_CHARS:
            raise _too_long(template, position, MAX_OUTPUT_CHARS)
        if start < 0:
            break
        end = template.find(CLOSE, start + len(OPEN))
        if end < 0:
            raise TemplateError('unclosed "{{"', template=template, position=start)
        path = template[start + len(OPEN) : end].strip()
        if not path:
            raise TemplateError('empty "{{}}"', template=template, position=start)
        if not _PATH.fullmatch(path) or path.count('.') >= MAX_PATH_SEGMENTS:
            # The message quotes the template's own text only, never data.
            raise TemplateError(f'invalid path {path[:40]!r}', template=template, position=start)
        found, value = lookup(context, path)
        if not found:
            unknown.append(path)
        text = to_text(value)
        if escape is not None:
            text = escape(text)
        out.append(text)
        size += len(text)
        if size > MAX_OUTPUT_CHARS:
            raise _too_long(template, start, MAX_OUTPUT_CHARS)
        position = end + len(CLOSE)
    return Rendered(''.join(out), tuple(dict.fromkeys(unknown)))


def render_value(value: Any, context: Mapping[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """Render every string inside a JSON value (the values of an edit action).

    Args:
        value: Any JSON value; dict keys are kept as they are, only string leaves are rendered.
        context: The data, as built by build_context.

    Returns:
        The new value and the unknown paths of all its strings.

    Raises:
        TemplateError: On a syntax error, or when all strings together render to more
            than MAX_VALUE_OUTPUT_CHARS.
    """
    unknown: list[str] = []
    budget = [MAX_VALUE_OUTPUT_CHARS]

    def visit(item: Any) -> Any:
        if isinstance(item, str):
            rendered = render(item, context)
            budget[0] -= len(rendered.text)
            if budget[0] < 0:
                raise _too_long(item, 0, MAX_VALUE_OUTPUT_CHARS)
            unknown.extend(rendered.unknown_paths)
            return rendered.text
        if isinstance(item, Mapping):
            return {key: visit(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [visit(inner) for inner in item]
        return item

    result = visit(value)
    return result, tuple(dict.fromkeys(unknown))
