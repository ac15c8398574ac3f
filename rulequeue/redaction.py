"""Scrub tokens and secrets from every log event, structlog's and the standard library's.

Our own log calls carry ids only; this is the net under them: a field named like a secret, a
JWT anywhere in a string (an exception message, a traceback, a third-party log line) and an
``Authorization`` header value are replaced before anything is written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

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


def redact_processor(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor; runs after exceptions are formatted, so tracebacks are scrubbed too."""
    for key in list(event):
        event[key] = REDACTED if _secret_name(key) else redact_value(event[key])
    return event


class RedactingFilter(logging.Filter):
    """The same scrubbing for standard-library records (arq, uvicorn, asyncio)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
