"""JQL text to tokens: words, quoted strings (with their escapes decoded), operators.

A quoted string is ``"…"`` or ``'…'``; a backslash escapes the quote, a backslash, a space,
``\\n``, ``\\t``, ``\\r`` and ``\\uXXXX``; any other escape is an error at its offset. An unquoted
word stops at space, quotes, parentheses, commas and operator characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rulequeue.errors import JqlError

KEYWORDS = frozenset({'and', 'or', 'not', 'in', 'is', 'empty', 'null', 'order', 'by', 'asc', 'desc'})
_SPACE = re.compile(r'\s+')
_OPERATOR = re.compile(r'!=|!~|>=|<=|&&|\|\||[=~<>!(),&|]')
# An unquoted word stops at space, quotes, parentheses, commas and operator characters.
_WORD = re.compile(r'[^\s"\'(),=!<>~&|]+')
_ESCAPES = {'n': '\n', 't': '\t', 'r': '\r', '"': '"', "'": "'", '\\': '\\', ' ': ' '}


@dataclass(frozen=True)
class Token:
    kind: str  # 'word', 'string', 'op', 'end'
    text: str
    position: int

    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == 'word' and self.text.lower() in KEYWORDS else None


def _string(jql: str, start: int) -> tuple[str, int]:
    quote, index = jql[start], start + 1
    out: list[str] = []
    while index < len(jql):
        char = jql[index]
        if char == quote:
            return ''.join(out), index + 1
        if char == '\\':
            following = jql[index + 1 : index + 2]
            if following == 'u' and re.fullmatch(r'[0-9a-fA-F]{4}', jql[index + 2 : index + 6]):
                out.append(chr(int(jql[index + 2 : index + 6], 16)))
                index += 6
                continue
            if following not in _ESCAPES:
                raise JqlError('invalid escape sequence', jql=jql, position=index)
            out.append(_ESCAPES[following])
            index += 2
            continue
        out.append(char)
        index += 1
    raise JqlError('unterminated string', jql=jql, position=start)


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    index = 0
    while index < len(jql):
        space = _SPACE.match(jql, index)
        if space:
            index = space.end()
            continue
        if jql[index] in '"\'':
            text, end = _string(jql, index)
            tokens.append(Token('string', text, index))
            index = end
            continue
        op = _OPERATOR.match(jql, index)
        if op:
            tokens.append(Token('op', op.group(0), index))
            index = op.end()
            continue
        word = _WORD.match(jql, index)
        if word is None:  # pragma: no cover - every character is space, quote, operator or word
            raise JqlError('unexpected character', jql=jql, position=index)
        tokens.append(Token('word', word.group(0), index))
        index = word.end()
    tokens.append(Token('end', '', len(jql)))
    return tokens
