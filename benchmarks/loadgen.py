"""A small HTTP/1.1 load generator for signed Jira webhooks, run in its own process.

``python -m benchmarks.loadgen SPEC.json OUT.json``. Pure asyncio streams (no HTTP library in
the timed loop), keep-alive connections, every request built and its Connect JWT signed before
the clock starts. Two modes:

* ``closed``: ``connections`` clients each send the next request as soon as the previous answer
  arrived, until ``count`` requests are done (the throughput a server sustains);
* ``open``: requests are *scheduled* at ``rate`` per second for ``duration`` seconds whatever
  the answers do; latency is measured from the scheduled time, so a stalling server cannot
  hide its queueing (no coordinated omission). New connections are opened when all are busy.

Only 127.0.0.1 is allowed as a target.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.payloads import render
from rulequeue.connect.descriptor import WEBHOOK_PATH
from rulequeue.connect.tokens import sign_tenant_request

MAX_OPEN_CONNECTIONS = 512
TOKEN_LIFETIME_SECONDS = 900


@dataclass
class Spec:
    port: int
    mode: str
    count: int
    connections: int
    secret: str
    issuer: str
    template: str
    delivery_prefix: str
    first_index: int = 0
    rate: float = 0.0
    warmup: int = 0
    path: str = WEBHOOK_PATH
    host: str = '127.0.0.1'
    # A JSON file {"ids": [...], "requests": [...]} of whole HTTP/1.1 requests built by the
    # caller (e.g. Forge calls, whose tokens only the simulator's keys can sign); the first
    # ``count`` are sent instead of signed Connect webhooks.
    prebuilt: str | None = None


@dataclass
class Result:
    delivery_ids: list[str] = field(default_factory=list)
    sent_wall: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def build_requests(spec: Spec) -> tuple[list[str], list[bytes]]:
    if spec.prebuilt is not None:
        loaded = json.loads(Path(spec.prebuilt).read_text())
        return list(loaded['ids'][: spec.count]), [r.encode() for r in loaded['requests'][: spec.count]]
    ids, requests = [], []
    for i in range(spec.count):
        delivery = f'{spec.delivery_prefix}-{i:07d}'
        body = render(spec.template, spec.first_index + i)
        token = sign_tenant_request(
            method='POST',
            path=spec.path,
            raw_query='',
            secret=spec.secret,
            issuer=spec.issuer,
            lifetime=TOKEN_LIFETIME_SECONDS,
        )
        head = (
            f'POST {spec.path} HTTP/1.1\r\n'
            f'Host: {spec.host}:{spec.port}\r\n'
            f'Authorization: JWT {token}\r\n'
            'Content-Type: application/json\r\n'
            'User-Agent: Atlassian Webhook HTTP Client\r\n'
            f'X-Atlassian-Webhook-Identifier: {delivery}\r\n'
            f'Content-Length: {len(body)}\r\n\r\n'
        )
        ids.append(delivery)
        requests.append(head.encode() + body)
    return ids, requests


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closed = False

    @classmethod
    async def open(cls, spec: Spec) -> Connection:
        reader, writer = await asyncio.open_connection(spec.host, spec.port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole answer; the status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        status = int(lines[0].split(' ', 2)[1])
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(':')
            name = name.strip().lower()
            if name == 'content-length':
                length = int(value.strip())
            elif name == 'transfer-encoding' and 'chunked' in value.lower():
                chunked = True
            elif name == 'connection' and value.strip().lower() == 'close':
                self.closed = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b'\r\n')).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.closed = True
        self.writer.close()


# The server closed the connection (uvicorn drops keep-alive connections idle for 5 s).
_CLOSED = (asyncio.IncompleteReadError, ConnectionError)


async def send(spec: Spec, conn: Connection, request: bytes) -> tuple[Connection, int]:
    """Send on ``conn``; once more on a new connection if the server had closed it. Status 0 = failed."""
    try:
        return conn, await conn.exchange(request)
    except _CLOSED:
        conn.close()
    conn = await Connection.open(spec)
    try:
        return conn, await conn.exchange(request)
    except _CLOSED:
        conn.close()
        return conn, 0


async def closed_loop(spec: Spec, ids: list[str], requests: list[bytes]) -> tuple[Result, float]:
    result = Result()
    next_index = 0
    started = 0.0

    async def client() -> None:
        nonlocal next_index, started
        conn = await Connection.open(spec)
        try:
            while next_index < len(requests):
                i = next_index
                next_index += 1
                if i == spec.warmup:
                    started = time.perf_counter()
                wall, t0 = time.time(), time.perf_counter()
                conn, status = await send(spec, conn, requests[i])
                if i >= spec.warmup:
                    _record(result, ids[i], wall, time.perf_counter() - t0, status)
                if conn.closed:
                    conn = await Connection.open(spec)
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(spec.connections)))
    return result, time.perf_counter() - started


async def open_loop(spec: Spec, ids: list[str], requests: list[bytes]) -> tuple[Result, float]:
    result = Result()
    idle: list[Connection] = [await Connection.open(spec) for _ in range(spec.connections)]
    opened = len(idle)
    freed = asyncio.Condition()
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, scheduled: float, scheduled_wall: float) -> None:
        nonlocal opened
        async with freed:
            while not idle and opened >= MAX_OPEN_CONNECTIONS:
                await freed.wait()
            if idle:
                conn = idle.pop()
            else:
                opened += 1
                conn = None
        if conn is None:
            conn = await Connection.open(spec)
        conn, status = await send(spec, conn, requests[i])
        _record(result, ids[i], scheduled_wall, time.perf_counter() - scheduled, status)
        async with freed:
            if conn.closed:
                opened -= 1
            else:
                idle.append(conn)
            freed.notify()

    start, start_wall = time.perf_counter(), time.time()
    for i in range(len(requests)):
        offset = i / spec.rate
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, start + offset, start_wall + offset))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.close()
    result.meta['max_connections_opened'] = opened
    return result, elapsed


def _record(result: Result, delivery: str, wall: float, latency: float, status: int) -> None:
    result.delivery_ids.append(delivery)
    result.sent_wall.append(wall)
    result.latency.append(latency)
    result.status.append(status)


def main(argv: list[str]) -> int:
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    raw: dict[str, Any] = json.loads(spec_path.read_text())
    spec = Spec(**raw)
    if spec.host != '127.0.0.1':
        raise SystemExit('the load generator only sends to 127.0.0.1')
    ids, requests = build_requests(spec)
    runner = closed_loop if spec.mode == 'closed' else open_loop
    result, elapsed = asyncio.run(runner(spec, ids, requests))
    document = {
        'mode': spec.mode,
        'elapsed_seconds': elapsed,
        'requests': len(result.latency),
        **result.meta,
        'delivery_ids': result.delivery_ids,
        'sent_wall': result.sent_wall,
        'latency': result.latency,
        'status': result.status,
    }
    out_path.write_text(json.dumps(document))
    return 0


if __name__ == '__main__':
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
