"""structlog configuration: once per process, JSON off a TTY, readable console on one.

Each unit of work (a webhook, an execution) emits one canonical line with its ids, outcome and
duration; context such as ``delivery_id`` is bound with contextvars. Log lines carry ids and
outcomes only: never a token, a shared secret or an issue field value.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from rulequeue.redaction import RedactingFilter, redact_processor, safe_dict_tracebacks, safe_text_tracebacks

_LEVELS = {'debug': logging.DEBUG, 'info': logging.INFO, 'warning': logging.WARNING, 'error': logging.ERROR}


def configure_logging(
    level: str = 'info', fmt: Literal['auto', 'json', 'console'] = 'auto', *, cache: bool = True
) -> None:
    json_output = fmt == 'json' or (fmt == 'auto' and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt='iso', utc=True),
            # Not structlog's defaults: its dict tracebacks include every frame's local variables.
            structlog.processors.ExceptionRenderer(safe_dict_tracebacks if json_output else safe_text_tracebacks),
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=cache,
    )
    # arq logs job arguments on start and results at the end; ours hold ids only, but keep
    # its chatter down to warnings and our own canonical lines.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format='%(levelname)s %(name)s %(message)s')
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    logging.getLogger('arq').setLevel(logging.WARNING)
