"""Render a parsed template over the rule's data, within bounded output, steps and time.

Paths only walk dict keys and list items of the data (never attributes of Python objects).
A key is looked up, in order: as given; for an issue (a dict with ``fields``) among its fields,
so ``fields`` is optional; case-insensitively; by a custom field's display name (from the
issue's ``names`` map, or the context's ``fieldNames``). A name that is not a key of a list's
items maps over the list (``{{issue.components.name}}`` = ``Web, Auth``). A name that is no key
at all may be a function without arguments (``{{issue.labels.size}}``, ``{{now.jiraDate}}``).
The first name of a path is looked up in the innermost section's item, then the outer ones,
then the context, then the issue (``{{priority.name}}``). ``url``/``toUrl`` of an issue give
``{baseUrl}/browse/{key}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rulequeue import constants
from rulequeue.errors import TemplateError
from worker.smartvalues import functions, maths
from worker.smartvalues.syntax import Arg, Chain, Expr, Literal, Node, Output, Section, Segment, Text
from worker.smartvalues.values import is_empty, number_text, to_text

MISSING: Any = object()
_MAX_INDEX_DIGITS = 9


@dataclass(frozen=True)
class Limits:
    """Bounds on one rendering. The defaults come from rulequeue.constants."""

    max_output_chars: int = constants.SMART_VALUE_MAX_OUTPUT_CHARS
    max_steps: int = constants.SMART_VALUE_MAX_STEPS
    timeout_seconds: float = constants.SMART_VALUE_TIMEOUT_SECONDS
    max_depth: int = constants.SMART_VALUE_MAX_DEPTH


@dataclass(frozen=True)
class _Frame:
    item: Any
    index: int
    size: int

    def meta(self, name: str) -> Any:
        meta = {'index': self.index, 'first': self.index == 0, 'last': self.index == self.size - 1}
        return meta.get(name, MISSING)


def _is_issue(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get('fields'), Mapping)


def _folded(mapping: Mapping[str, Any], name: str) -> Any:
    folded = name.casefold()
    for key, value in mapping.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return MISSING


class Evaluator:
    """One rendering of one template; collects the unknown paths."""

    def __init__(
        self, template: str, context: Mapping[str, Any], escape: Callable[[str], str] | None, limits: Limits
    ) -> None:
        self.template, self.context, self.escape, self.limits = template, context, escape, limits
        self.deadline = time.monotonic() + limits.timeout_seconds
        self.steps = 0
        self.size = 0
        self.unknown: list[str] = []
        self.frames: list[_Frame] = []
        names = context.get('fieldNames')
        self.field_names: Mapping[str, Any] = names if isinstance(names, Mapping) else {}

    def fail(self, message: str, position: int) -> TemplateError:
        return TemplateError(message, template=self.template, position=position)

    def step(self, position: int) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise self.fail(f'evaluation over {self.limits.max_steps} steps', position)
        if time.monotonic() > self.deadline:
            raise self.fail(f'evaluation over {self.limits.timeout_seconds} s', position)

    def emit(self, out: list[str], text: str, position: int) -> None:
        self.size += len(text)
        if self.size > self.limits.max_output_chars:
            raise self.fail(f'output over {self.limits.max_output_chars} characters', position)
        out.append(text)

    # -- nodes -------------------------------------------------------------------------------

    def render(self, nodes: list[Node], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.emit(out, node.text, node.position)
            elif isinstance(node, Output):
                self.step(node.position)
                text = to_text(self.expr(node.expr))
                self.emit(out, self.escape(text) if self.escape else text, node.position)
            else:
                self.section(node, out)

    def section(self, node: Section, out: list[str]) -> None:
        self.step(node.position)
        if node.expr is None:
            inner: list[str] = []
            self.render(node.body, inner)
            try:
                result = number_text(maths.evaluate(''.join(inner)))
            except maths.MathsError as exc:
                raise self.fail(f'maths: {exc}', node.position) from None
            self.emit(out, result, node.position)
            return
        value = self.expr(node.expr, record=False)
        if node.inverted or is_empty(value):
            if node.inverted and is_empty(value):
                self.render(node.body, out)
            return
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            self.step(node.position)
            self.frames.append(_Frame(item, index, len(items)))
            try:
                self.render(node.body, out)
            finally:
                self.frames.pop()

    # -- expressions -------------------------------------------------------------------------

    def expr(self, expr: Expr, *, record: bool = True) -> Any:
        value = self.chain(expr.chain)
        for default in expr.defaults:
            if value is not MISSING and value is not None and value != '' and value != []:
                break
            value = self.arg(default)
        if value is MISSING:
            if record and not expr.defaults:
                self.unknown.append(expr.chain.text)
            return None
        return value

    def arg(self, arg: Arg) -> Any:
        if isinstance(arg, Literal):
            return arg.value
        value = self.chain(arg)
        return None if value is MISSING else value

    def chain(self, chain: Chain) -> Any:
        segments = list(chain.segments)
        if chain.current:
            value = self.frames[-1].item if self.frames else MISSING
        else:
            first = segments.pop(0)
            if first.args is not None:
                raise self.fail(f'{first.name}(…) must follow a value', first.position)
            value = self.root(first.name)
        for segment in segments:
            if value is MISSING:
                return MISSING
            self.step(segment.position)
            value = self.segment(value, segment)
        return value

    def root(self, name: str) -> Any:
        for frame in reversed(self.frames):
            if isinstance(frame.item, Mapping):
                found = self.key(frame.item, name)
                if found is not MISSING:
                    return found
            found = frame.meta(name)
            if found is not MISSING:
                return found
        if name in self.context:
            return self.context[name]
        issue = self.context.get('issue')
        return self.key(issue, name) if isinstance(issue, Mapping) else MISSING

    def segment(self, value: Any, segment: Segment) -> Any:
        # A list's own functions come first: {{issue.labels.size}} is the list's size.
        if segment.args is None and not (isinstance(value, list) and functions.is_function(segment.name)):
            found = self.key(value, segment.name)
            if found is not MISSING or not functions.is_function(segment.name):
                return found
        args = [self.arg(arg) for arg in segment.args or ()]
        remaining = max(0.0, self.deadline - time.monotonic())
        try:
            result = functions.apply(segment.name, value, args, regex_timeout=remaining)
        except (functions.FunctionError, ArithmeticError, OverflowError, ValueError) as exc:
            raise self.fail(f'{segment.name}: {exc}', segment.position) from None
        if isinstance(result, str) and len(result) > self.limits.max_output_chars:
            raise self.fail(f'output over {self.limits.max_output_chars} characters', segment.position)
        return result

    def key(self, value: Any, name: str) -> Any:
        if isinstance(value, list):
            return self.list_key(value, name)
        if not isinstance(value, Mapping):
            return MISSING
        if name in value:
            return value[name]
        fields = value.get('fields') if _is_issue(value) else None
        if isinstance(fields, Mapping) and name in fields:
            return fields[name]
        if fields is not None and name in ('url', 'toUrl') and isinstance(value.get('key'), str):
            return f'{to_text(self.context.get("baseUrl"))}/browse/{value["key"]}'
        found = _folded(value, name)
        if found is MISSING and isinstance(fields, Mapping):
            found = _folded(fields, name)
            if found is MISSING:
                found = self.by_display_name(value, fields, name)
        return found

    def by_display_name(self, issue: Mapping[str, Any], fields: Mapping[str, Any], name: str) -> Any:
        names = issue.get('names')
        for mapping in (names if isinstance(names, Mapping) else {}, self.field_names):
            for field_id, display in mapping.items():
                if isinstance(display, str) and display.casefold() == name.casefold() and field_id in fields:
                    return fields[field_id]
        return MISSING

    def list_key(self, items: list[Any], name: str) -> Any:
        if name.isascii() and name.isdigit() and len(name) <= _MAX_INDEX_DIGITS:
            index = int(name)
            return items[index] if index < len(items) else MISSING
        if not items:
            return []
        found = [self.key(item, name) for item in items]
        hits = [item for item in found if item is not MISSING]
        return hits if hits else MISSING
