"""Run an ASGI app with uvicorn inside the current event loop, on a port bound up front.

Used by the demo and the tests to run the producer and the Jira simulator over real HTTP
without subprocesses; ``rulequeue producer`` uses uvicorn directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp

from rulequeue import constants


def free_port(host: str = '127.0.0.1') -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_in_background(app: ASGIApp, host: str = '127.0.0.1', port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` until the block exits; yields its base URL (``http://host:port``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level='warning',
        lifespan='on',
        access_log=False,
        h11_max_incomplete_event_size=constants.MAX_REQUEST_HEADER_BYTES,
    )
    server = uvicorn.Server(config)
    # uvicorn would take over SIGINT/SIGTERM for the whole process; the caller owns signals.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError('server stopped during start-up')
            await asyncio.sleep(0.01)
        yield f'http://{host}:{bound_port}'
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
