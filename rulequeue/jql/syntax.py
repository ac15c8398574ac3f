"""JQL text to a tree: the lexer, the node types and a recursive-descent parser.

Precedence, loosest first: ``OR`` (also ``||``, ``|``), ``AND`` (``&&``, ``&``), ``NOT``
(``!``), then a clause or a parenthesised query, as in Jira: ``a OR b AND c`` is
``a OR (b AND c)``. Keywords, operators and function names ignore case; field names are kept as
written and resolved case-insensitively later. A value is a quoted string (``"…"`` or ``'…'``;
a backslash escapes the quote, a backslash, ``\\n``, ``\\t`` and ``\\uXXXX``), an unquoted word, a
function call, ``EMPTY``/``NULL``, or for ``IN`` a parenthesised list of those. ``ORDER BY`` is
parsed and kept, but plays no part in matching. Errors carry the offset of the fault.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from rulequeue import constants
from rulequeue.errors import JqlError
from rulequeue.jql.lexer import Token, tokenize

UNSUPPORTED_OPERATORS = frozenset({'was', 'changed'})


@dataclass(frozen=True)
class Value:
    """A literal; ``quoted`` tells ``"EMPTY"`` (a word) from ``EMPTY`` (the keyword)."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Empty:
    pass


@dataclass(frozen=True)
class Function:
    name: str  # as written; matched case-insensitively
    args: tuple[str, ...] = ()


Operand = Value | Empty | Function | tuple[Value | Empty | Function, ...]


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # '=', '!=', '>', '>=', '<', '<=', '~', '!~', 'in', 'not in', 'is', 'is not'
    operand: Operand
    position: int = dataclasses.field(default=0, compare=False)  # where the clause starts, for messages


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Clause | And | Or | Not


@dataclass(frozen=True)
class Query:
    where: Node | None
    order_by: tuple[tuple[str, str], ...] = ()  # (field, 'asc' | 'desc')


class _Parser:
    def __init__(self, jql: str) -> None:
        self.jql = jql
        self.tokens = tokenize(jql)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def fail(self, message: str, token: Token | None = None) -> JqlError:
        return JqlError(message, jql=self.jql, position=(token or self.token).position)

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def at_op(self, *ops: str) -> bool:
        return self.token.kind == 'op' and self.token.text in ops

    def at_keyword(self, *words: str) -> bool:
        return self.token.keyword() in words

    def query(self) -> Query:
        where = None if self.at_keyword('order') or self.token.kind == 'end' else self.or_()
        order: list[tuple[str, str]] = []
        if self.at_keyword('order'):
            self.advance()
            if not self.at_keyword('by'):
                raise self.fail('expected BY after ORDER')
            self.advance()
            order.append(self.order_item())
            while self.at_op(','):
                self.advance()
                order.append(self.order_item())
        if self.token.kind != 'end':
            raise self.fail(f'unexpected {self.token.text!r}')
        return Query(where, tuple(order))

    def order_item(self) -> tuple[str, str]:
        name = self.field()
        direction = 'asc'
        if self.at_keyword('asc', 'desc'):
            direction = self.advance().text.lower()
        return name, direction

    def or_(self) -> Node:
        items = [self.and_()]
        while self.at_keyword('or') or self.at_op('||', '|'):
            self.advance()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.at_keyword('and') or self.at_op('&&', '&'):
            self.advance()
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Node:
        if self.at_keyword('not') or self.at_op('!'):
            self.advance()
            return Not(self.nested(self.not_))
        if self.at_op('('):
            opening = self.advance()
            node = self.nested(self.or_)
            if not self.at_op(')'):
                raise self.fail('expected ")"') if self.token.kind != 'end' else self.fail('unclosed "("', opening)
            self.advance()
            return node
        return self.clause()

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > constants.JQL_MAX_DEPTH:
            # At the NOT or "(" that went one level too deep.
            raise self.fail(f'nested deeper than {constants.JQL_MAX_DEPTH}', self.tokens[self.index - 1])
        try:
            return parse()
        finally:
            self.depth -= 1

    def field(self) -> str:
        token = self.token
        if token.kind == 'string' or (token.kind == 'word' and token.keyword() is None):
            self.advance()
            return token.text
        raise self.fail('expected a field name' if token.kind != 'end' else 'unexpected end of query')

    def operator(self) -> str:
        token = self.token
        if token.kind == 'op' and token.text in ('=', '!=', '>', '>=', '<', '<=', '~', '!~'):
            self.advance()
            return token.text
        word = token.text.lower() if token.kind == 'word' else ''
        if word in ('in', 'is'):
            self.advance()
            return word
        if word == 'not':
            self.advance()
            if not self.at_keyword('in'):
                raise self.fail('expected IN after NOT')
            self.advance()
            return 'not in'
        if word in UNSUPPORTED_OPERATORS:
            raise self.fail(f'the {word.upper()} operator is not supported')
        raise self.fail('expected an operator' if token.kind != 'end' else 'unexpected end of query')

    def clause(self) -> Clause:
        start = self.token
        name = self.field()
        op = self.operator()
        if op == 'is' and self.at_keyword('not'):
            self.advance()
            op = 'is not'
        if op in ('is', 'is not'):
            if not self.at_keyword('empty', 'null'):
                raise self.fail(f'{op.upper()} takes EMPTY or NULL')
            self.advance()
            return Clause(name, op, Empty(), start.position)
        if op in ('in', 'not in'):
            return Clause(name, op, self.value_list(), start.position)
        return Clause(name, op, self.value(), start.position)

    def value_list(self) -> tuple[Value | Empty | Function, ...]:
        if not self.at_op('('):
            start = self.token
            function = self.value()
            if isinstance(function, Function):
                return (function,)
            raise self.fail('IN takes a list in parentheses', start)
        opening = self.advance()
        values = [self.value()]
        while self.at_op(','):
            self.advance()
            values.append(self.value())
        if not self.at_op(')'):
            if self.token.kind == 'end':
                raise self.fail('unclosed "("', opening)
            raise self.fail('expected "," or ")"')
        self.advance()
        return tuple(values)

    def value(self) -> Value | Empty | Function:
        token = self.token
        if token.kind == 'string':
            self.advance()
            return Value(token.text, quoted=True)
        if token.kind != 'word':
            raise self.fail('expected a value' if token.kind != 'end' else 'unexpected end of query')
        if token.keyword() in ('empty', 'null'):
            self.advance()
            return Empty()
        if token.keyword() is not None:
            raise self.fail(f'{token.text.upper()} is a reserved word: quote it to use it as a value')
        self.advance()
        if not self.at_op('('):
            return Value(token.text)
        self.advance()
        args: list[str] = []
        if not self.at_op(')'):
            args.append(self.argument())
            while self.at_op(','):
                self.advance()
                args.append(self.argument())
        if not self.at_op(')'):
            raise self.fail('expected "," or ")"')
        self.advance()
        return Function(token.text, tuple(args))

    def argument(self) -> str:
        token = self.token
        if token.kind in ('string', 'word'):
            self.advance()
            return token.text
        raise self.fail('expected a function argument')


def parse(jql: str) -> Query:
    """Parse a JQL query; JqlError with the offset of the fault if it is not valid."""
    if len(jql) > constants.JQL_MAX_CHARS:
        raise JqlError(f'query longer than {constants.JQL_MAX_CHARS} characters', jql=jql, position=0)
    return _Parser(jql).query()
