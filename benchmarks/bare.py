"""The baseline of the ingest benchmark: a bare ASGI app that reads the body and answers 202.

Served by the same uvicorn setup as the producer (one process, default loop and HTTP
implementation, no access log), so the ratio shows what the producer's own work costs.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

_HEADERS = [(b'content-type', b'application/json'), (b'content-length', b'2')]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                await send({'type': 'lifespan.shutdown.complete'})
                return
    if scope['type'] != 'http':
        return
    more = True
    while more:
        message = await receive()
        more = message.get('more_body', False)
    await send({'type': 'http.response.start', 'status': 202, 'headers': _HEADERS})
    await send({'type': 'http.response.body', 'body': b'{}'})
