"""The arithmetic of ``{{#=}}…{{/}}``: numbers, ``+ - * / %``, unary minus and parentheses.

The body is rendered first (``{{#=}}{{issue.Story points}} * 2{{/}}``), then parsed here by a
small recursive-descent parser over decimals: no names, no calls, nothing but arithmetic.
"""

from __future__ import annotations

import re
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext

_TOKEN = re.compile(r'\s*(?:(\d+(?:\.\d*)?|\.\d+)|(.))')
MAX_TOKENS = 1000
MAX_NESTING = 50


class MathsError(ValueError):
    """The text is not an arithmetic expression, or divides by zero."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str | Decimal] = []
        for match in _TOKEN.finditer(text):
            number, symbol = match.groups()
            if number is not None:
                self.tokens.append(Decimal(number))
            elif symbol is not None and not symbol.isspace():
                self.tokens.append(symbol)
        if len(self.tokens) > MAX_TOKENS:
            raise MathsError(f'more than {MAX_TOKENS} tokens')
        self.index = 0
        self.depth = 0

    def peek(self) -> str | Decimal | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def sum(self) -> Decimal:
        value = self.product()
        while self.peek() in ('+', '-'):
            op = self.tokens[self.index]
            self.index += 1
            right = self.product()
            value = value + right if op == '+' else value - right
        return value

    def product(self) -> Decimal:
        value = self.unary()
        while self.peek() in ('*', '/', '%'):
            op = self.tokens[self.index]
            self.index += 1
            right = self.unary()
            if op != '*' and right == 0:
                raise MathsError('division by zero')
            value = value * right if op == '*' else value / right if op == '/' else value % right
        return value

    def unary(self) -> Decimal:
        item = self.peek()
        if item in ('-', '+'):
            self.index += 1
            value = self.unary()
            return -value if item == '-' else value
        if item == '(':
            self.index += 1
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise MathsError('parentheses nested too deep')
            value = self.sum()
            if self.peek() != ')':
                raise MathsError('missing ")"')
            self.index += 1
            self.depth -= 1
            return value
        if isinstance(item, Decimal):
            self.index += 1
            return item
        # The text may hold issue data (rendered into the body): the message never quotes it.
        raise MathsError('expected a number' if item is None else 'unexpected symbol')


def evaluate(text: str) -> Decimal:
    """The value of an arithmetic expression (28 significant digits)."""
    with localcontext() as context:
        context.prec = 28
        parser = _Parser(text)
        try:
            value = parser.sum()
        except (DivisionByZero, InvalidOperation) as exc:
            raise MathsError(f'invalid arithmetic: {type(exc).__name__}') from None
        if parser.peek() is not None:
            raise MathsError('unexpected symbol')
        return value
