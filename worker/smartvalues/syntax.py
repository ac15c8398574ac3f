"""Parse a smart-value template into a tree; every node keeps its offset in the template.

Grammar (Automation for Jira's Mustache dialect)::

    template := (text | '{{' tag '}}')*
    tag      := expr                         a value:        {{issue.summary.toUpperCase()}}
              | '#=' | '#' expr | '^' expr   a section:      {{#=}}1 + 2{{/}}, {{#issue.labels}}{{.}}{{/}}
              | '/' anything                 closes the innermost section
    expr     := chain ('|' (string | number | chain))*     defaults, tried left to right
    chain    := ('.' | segment) ('.' segment)*
    segment  := name ('(' [arg (',' arg)*] ')')?
    arg      := string | number | true | false | chain
    string   := '"' … '"' or "'" … "'"   (a backslash escapes the quote and itself only, so
                                           regular expressions keep theirs)

A name is any run of characters other than ``. ( ) | , " ' { }``, trimmed: custom fields are
read by their display name, spaces included (``{{issue.Story point estimate}}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rulequeue.errors import TemplateError

OPEN, CLOSE = '{{', '}}'
_NAME_STOP = '.()|,"\'{}'
_NUMBER = re.compile(r'-?\d+(?:\.\d+)?')


@dataclass(frozen=True)
class Literal:
    value: str | int | float | bool
    position: int


@dataclass(frozen=True)
class Segment:
    name: str
    position: int
    args: tuple[Arg, ...] | None = None  # None: no parentheses (a key, or a property)


@dataclass(frozen=True)
class Chain:
    segments: tuple[Segment, ...]
    position: int
    text: str
    current: bool = False  # starts at '.', the item of the innermost section


Arg = Literal | Chain


@dataclass(frozen=True)
class Expr:
    chain: Chain
    defaults: tuple[Arg, ...]
    position: int


@dataclass(frozen=True)
class Text:
    text: str
    position: int


@dataclass(frozen=True)
class Output:
    expr: Expr
    position: int


@dataclass
class Section:
    """``{{#x}}…{{/}}`` (iterate or test x), ``{{^x}}…{{/}}`` (when x is empty), ``{{#=}}…{{/}}``."""

    expr: Expr | None  # None: a maths section
    inverted: bool
    position: int
    body: list[Node] = field(default_factory=list)


Node = Text | Output | Section


class _Cursor:
    """Reads one tag's text; offsets are absolute in the template."""

    def __init__(self, template: str, start: int, end: int) -> None:
        self.template, self.index, self.end = template, start, end

    def fail(self, message: str, position: int | None = None) -> TemplateError:
        return TemplateError(message, template=self.template, position=self.index if position is None else position)

    def skip_space(self) -> None:
        while self.index < self.end and self.template[self.index].isspace():
            self.index += 1

    def peek(self) -> str:
        self.skip_space()
        return self.template[self.index] if self.index < self.end else ''

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.index += 1
            return True
        return False

    def string(self) -> Literal:
        quote, start = self.template[self.index], self.index
        self.index += 1
        out: list[str] = []
        while self.index < self.end:
            char = self.template[self.index]
            if char == '\\' and self.index + 1 < self.end and self.template[self.index + 1] in (quote, '\\'):
                out.append(self.template[self.index + 1])
                self.index += 2
                continue
            self.index += 1
            if char == quote:
                return Literal(''.join(out), start)
            out.append(char)
        raise self.fail('unterminated string', start)

    def name(self) -> tuple[str, int]:
        self.skip_space()
        start = self.index
        while self.index < self.end and self.template[self.index] not in _NAME_STOP:
            self.index += 1
        text = self.template[start : self.index].strip()
        if not text:
            raise self.fail('expected a name', start)
        return text, start

    def arg(self) -> Arg:
        char, start = self.peek(), self.index
        if char in ('"', "'"):
            return self.string()
        number = _NUMBER.match(self.template, start, self.end)
        if number is not None and not self._name_continues(number.end()):
            self.index = number.end()
            text = number.group(0)
            return Literal(float(text) if '.' in text else int(text), start)
        chain = self.chain()
        if not chain.current and len(chain.segments) == 1 and chain.segments[0].name in ('true', 'false'):
            return Literal(chain.segments[0].name == 'true', start)
        return chain

    def _name_continues(self, index: int) -> bool:
        return index < self.end and self.template[index] not in _NAME_STOP and not self.template[index].isspace()

    def segment(self) -> Segment:
        name, start = self.name()
        if not self.take('('):
            return Segment(name, start)
        args: list[Arg] = []
        if not self.take(')'):
            args.append(self.arg())
            while self.take(','):
                args.append(self.arg())
            if not self.take(')'):
                raise self.fail('expected "," or ")"')
        return Segment(name, start, tuple(args))

    def chain(self) -> Chain:
        self.skip_space()
        start = self.index
        current = self.take('.')
        segments: list[Segment] = []
        if not current or self.peek() not in ('', '|', ',', ')'):
            segments.append(self.segment())
            while self.take('.'):
                segments.append(self.segment())
        return Chain(tuple(segments), start, self.template[start : self.index].strip(), current)

    def expr(self) -> Expr:
        start = self.index
        chain = self.chain()
        defaults: list[Arg] = []
        while self.take('|'):
            defaults.append(self.arg())
        if self.peek():
            raise self.fail(f'unexpected {self.peek()!r}')
        return Expr(chain, tuple(defaults), start)


def _tag_end(template: str, start: int) -> int:
    """The offset of the ``}}`` closing the tag opened at ``start``, skipping quoted text."""
    index, quote, opened = start + len(OPEN), '', 0
    while index < len(template):
        char = template[index]
        if quote:
            if char == '\\':
                index += 1
            elif char == quote:
                quote = ''
        elif char in ('"', "'"):
            quote, opened = char, index
        elif template.startswith(CLOSE, index):
            return index
        index += 1
    if quote:
        raise TemplateError('unterminated string', template=template, position=opened)
    raise TemplateError('unclosed "{{"', template=template, position=start)


def parse(template: str, *, max_depth: int) -> list[Node]:
    """Parse a template; TemplateError with the offset of the fault on a syntax error."""
    root: list[Node] = []
    stack: list[Section] = []
    position = 0
    while True:
        start = template.find(OPEN, position)
        body = stack[-1].body if stack else root
        text = template[position:] if start < 0 else template[position:start]
        if text:
            body.append(Text(text, position))
        if start < 0:
            break
        end = _tag_end(template, start)
        cursor = _Cursor(template, start + len(OPEN), end)
        head = cursor.peek()
        if not head:
            raise TemplateError('empty "{{}}"', template=template, position=start)
        if head == '/':
            if not stack:
                raise TemplateError('"{{/}}" closes no section', template=template, position=start)
            stack.pop()
        elif head in '#^':
            cursor.index += 1
            maths = head == '#' and cursor.take('=')
            if maths and cursor.peek():
                raise cursor.fail('"{{#=}}" takes nothing else')
            section = Section(None if maths else cursor.expr(), head == '^', start)
            body.append(section)
            stack.append(section)
            if len(stack) > max_depth:
                raise TemplateError(f'sections nested deeper than {max_depth}', template=template, position=start)
        else:
            body.append(Output(cursor.expr(), start))
        position = end + len(CLOSE)
    if stack:
        raise TemplateError('section not closed with "{{/}}"', template=template, position=stack[-1].position)
    return root
