"""A JQL tree back to text, quoting values only where JQL needs it.

``parse(to_jql(q)) == q`` for every parsed query; the worker uses it to wrap a rule's query as
``key = X AND (…)`` for a signed Jira search.
"""

from __future__ import annotations

import re

from rulequeue.jql.lexer import KEYWORDS
from rulequeue.jql.syntax import And, Clause, Empty, Function, Node, Not, Operand, Query

_PLAIN = re.compile(r'[^\s"\'(),=!<>~&|\\]+')
_ESCAPE = {'\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r'}


def quoted(text: str) -> str:
    """``text`` as a double-quoted JQL string."""
    return '"' + ''.join(_ESCAPE.get(char, char) for char in text) + '"'


def quote(text: str) -> str:
    """``text`` as a JQL word if it can be one, else as a double-quoted string."""
    return text if _PLAIN.fullmatch(text) and text.lower() not in KEYWORDS else quoted(text)


def _operand(operand: Operand) -> str:
    if isinstance(operand, tuple):
        return '(' + ', '.join(_operand(item) for item in operand) + ')'
    if isinstance(operand, Empty):
        return 'EMPTY'
    if isinstance(operand, Function):
        return f'{operand.name}(' + ', '.join(quote(arg) for arg in operand.args) + ')'
    return quoted(operand.text) if operand.quoted else quote(operand.text)


def _node(node: Node, parent: str = '') -> str:
    if isinstance(node, Clause):
        op = node.op.upper() if node.op[0].isalpha() else node.op
        return f'{quote(node.field)} {op} {_operand(node.operand)}'
    if isinstance(node, Not):
        return f'NOT {_node(node.item, "not")}'
    joiner, kind = (' AND ', 'and') if isinstance(node, And) else (' OR ', 'or')
    text = joiner.join(_node(item, kind) for item in node.items)
    # Parentheses where the parent binds tighter than this node.
    return f'({text})' if parent in ('not', kind) or (parent == 'and' and kind == 'or') else text


def to_jql(query: Query) -> str:
    """The query as JQL text."""
    text = _node(query.where) if query.where is not None else ''
    if query.order_by:
        order = ', '.join(f'{quote(name)} {direction.upper()}' for name, direction in query.order_by)
        text = f'{text} ORDER BY {order}'.strip()
    return text


def restrict_to_issue(query: Query, key: str) -> str:
    """``key = X AND (…)``: the query limited to one issue, without its ORDER BY."""
    if query.where is None:
        return f'key = {quote(key)}'
    return f'key = {quote(key)} AND ({_node(query.where)})'
