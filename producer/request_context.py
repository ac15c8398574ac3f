"""Binds a request id to every log line of a request and returns it as ``X-Request-Id``.

A caller's ``X-Request-Id`` is kept when it is a short token (so a proxy's id can be followed
through); anything else is replaced by a fresh one, so a header cannot inject text into logs.
"""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = 'X-Request-Id'
_SAFE_ID = re.compile(r'^[A-Za-z0-9._-]{8,64}$')


def request_id_for(given: str | None) -> str:
    return given if given and _SAFE_ID.match(given) else uuid.uuid4().hex


class RequestContext:
    """Pure ASGI middleware (no body buffering): the id is bound before any handler runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(Headers(scope=scope).get(HEADER))

        async def send_with_id(message: Message) -> None:
            if message['type'] == 'http.response.start':
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
