"""Scrub tokens and secrets from every log event, structlog's and the standard library's.

Our own log calls carry ids only; this is the net under them: a field named like a secret, a
JWT anywhere in a string (an exception message, a traceback, a third-party log line) and an
``Authorization`` header value are replaced before anything is written.

Tracebacks keep their frames (file, line, function) but never local variables, and keep an
exception's message only for errors whose messages hold no data: ours (errors.py promises it)
and connection errors. Any other message (a KeyError of a field name, a pydantic error quoting
its input, a database error quoting a value) may carry issue data, so only its type is written.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator, MutableMapping
from types import TracebackType
from typing import Any

import httpx
import redis.exceptions
from structlog.tracebacks import ExceptionDictTransformer

from rulequeue.errors import RulequeueError

REDACTED = '[redacted]'
_SECRET_NAMES = re.compile(r'(authorization|token|secret|password|passwd|jwt|api[_-]?key|cookie)', re.IGNORECASE)
# Three base64url segments, the first two starting like a JSON object ('eyJ' = '{"').
_JWT = re.compile(r'eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*')
_AUTH_HEADER = re.compile(r'(?i)\b(JWT|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}')
_DSN_PASSWORD = re.compile(r'(?i)\b(\w+://[^:/\s@]+:)[^@\s]+@')


def redact_text(text: str) -> str:
    text = _JWT.sub(REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: f'{m.group(1)} {REDACTED}', text)
    return _DSN_PASSWORD.sub(lambda m: f'{m.group(1)}{REDACTED}@', text)


def redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _secret_name(k) else redact_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, depth + 1) for v in value]
    return value


def _secret_name(name: object) -> bool:
    return isinstance(name, str) and bool(_SECRET_NAMES.search(name)) and not name.endswith(('_id', '_ref'))


# Errors whose messages are about connections and timeouts, or ours: kept in logs.
SAFE_MESSAGE_ERRORS: tuple[type[BaseException], ...] = (
    RulequeueError,
    OSError,
    httpx.TransportError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def exception_message(exc: BaseException) -> str:
    """The exception's message if it is safe to log, else a placeholder naming its type."""
    if isinstance(exc, SAFE_MESSAGE_ERRORS):
        return redact_text(str(exc))
    return f'[message of {type(exc).__name__} withheld: it may hold issue data]'


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes and contexts, outermost first (as Python prints them reversed)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def safe_traceback_text(exc: BaseException) -> str:
    """A traceback like Python's, with frames but without unsafe messages (no locals ever)."""
    parts = []
    for position, item in enumerate(reversed(list(_chain(exc)))):
        if position:
            parts.append('\nThe above exception was followed by:\n\n')
        parts.append('Traceback (most recent call last):\n')
        parts.extend(traceback.format_tb(item.__traceback__))
        parts.append(f'{type(item).__module__}.{type(item).__qualname__}: {exception_message(item)}\n')
    return ''.join(parts).rstrip('\n')


_dict_transformer = ExceptionDictTransformer(show_locals=False)


def safe_dict_tracebacks(exc_info: ExcInfo) -> list[dict[str, Any]]:
    """structlog's structured traceback without locals and with unsafe messages withheld."""
    stacks: list[dict[str, Any]] = _dict_transformer(exc_info)
    chain = list(_chain(exc_info[1]))
    for position, stack in enumerate(stacks):
        item = chain[position] if position < len(chain) else None
        if item is None or type(item).__name__ != stack.get('exc_type'):
            stack['exc_value'] = '[withheld]'
        else:
            stack['exc_value'] = exception_message(item)
        stack.pop('exceptions', None)  # exception groups' members: not walked, so not written
    return stacks


def safe_text_tracebacks(exc_info: ExcInfo) -> str:
    return safe_traceback_text(exc_info[1])


def redact_processor(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor; runs after exceptions are formatted, so tracebacks are scrubbed too."""
    for key in list(event):
        event[key] = REDACTED if _secret_name(key) else redact_value(event[key])
    return event


class RedactingFilter(logging.Filter):
    """The same scrubbing for standard-library records (arq, uvicorn, asyncio)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            # arq logs a failed job as '... failed, %s: %s' with the exception itself as an argument.
            record.args = tuple(exception_message(a) if isinstance(a, BaseException) else a for a in record.args)
        message = record.getMessage()
        record.msg, record.args = redact_text(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = safe_traceback_text(record.exc_info[1])
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
