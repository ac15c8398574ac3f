"""Smart values: Automation for Jira's Mustache dialect, sandboxed.

``{{issue.summary.toUpperCase()}}``, ``{{#issue.labels}}{{.}}{{^last}}, {{/}}{{/}}``,
``{{#=}}{{issue.Story points}} * 2{{/}}``, ``{{issue.duedate.format("dd/MM/yyyy")|"none"}}``.
The pieces: syntax (the parser), evaluate (paths and sections), functions (text, list, number
and date functions), dates (Java-style patterns), maths (``{{#=}}``), context (the data).

A template is parsed, then evaluated over plain JSON data; it can reach dict keys and list items
only, and call only the functions in functions.py. Output, steps and time are bounded (see
rulequeue.constants). Every error is a TemplateError carrying the template and the offset of
the fault; an unknown path renders empty and is reported so the audit entry can note it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rulequeue.errors import TemplateError
from worker.smartvalues.context import build_context
from worker.smartvalues.evaluate import MISSING, Evaluator, Limits
from worker.smartvalues.syntax import Chain, Segment, parse
from worker.smartvalues.values import to_text

__all__ = ['Limits', 'Rendered', 'TemplateError', 'build_context', 'lookup', 'render', 'render_value', 'to_text']


@dataclass(frozen=True)
class Rendered:
    """The text of a rendered template and the paths that were not found (rendered empty)."""

    text: str
    unknown_paths: tuple[str, ...]


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    escape: Callable[[str], str] | None = None,
    limits: Limits | None = None,
) -> Rendered:
    """Render a template.

    Args:
        template: The template text.
        context: The data, as built by build_context.
        escape: Applied to each substituted value (not to the template's own text); the
            ``matches`` condition passes ``regex.escape`` so issue data cannot become regex syntax.
        limits: Output, steps, time and nesting bounds (rulequeue.constants by default).

    Returns:
        The text and the unknown paths (each once, in order of appearance).

    Raises:
        TemplateError: On a syntax error, a bad function call or a bound exceeded.
    """
    limits = limits or Limits()
    nodes = parse(template, max_depth=limits.max_depth)
    evaluator = Evaluator(template, context, escape, limits)
    out: list[str] = []
    evaluator.render(nodes, out)
    return Rendered(''.join(out), tuple(dict.fromkeys(evaluator.unknown)))


def render_value(
    value: Any, context: Mapping[str, Any], *, limits: Limits | None = None
) -> tuple[Any, tuple[str, ...]]:
    """Render every string inside a JSON value (the values of an edit action).

    Dict keys are kept as they are; only string leaves are rendered, and all of them together
    may produce at most 8 x the output bound of one template.

    Returns:
        The new value and the unknown paths of all its strings.

    Raises:
        TemplateError: As render, or when the strings together render too long.
    """
    limits = limits or Limits()
    unknown: list[str] = []
    budget = [8 * limits.max_output_chars]

    def visit(item: Any) -> Any:
        if isinstance(item, str):
            rendered = render(item, context, limits=limits)
            budget[0] -= len(rendered.text)
            if budget[0] < 0:
                raise TemplateError(f'output over {8 * limits.max_output_chars} characters', template=item, position=0)
            unknown.extend(rendered.unknown_paths)
            return rendered.text
        if isinstance(item, Mapping):
            return {key: visit(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [visit(inner) for inner in item]
        return item

    return visit(value), tuple(dict.fromkeys(unknown))


def lookup(context: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Resolve a dotted path (keys, list indexes, ``fields`` optional) without functions.

    Returns:
        ``(found, value)``; a found path may have the value None (a field Jira sent as null).
    """
    names = path.split('.')
    if not all(names):
        return False, None
    chain = Chain(tuple(Segment(name, 0) for name in names), 0, path)
    value = Evaluator(path, context, None, Limits()).chain(chain)
    return (False, None) if value is MISSING else (True, value)
