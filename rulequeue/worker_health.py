"""Per-process worker health records in Redis: written by each worker, read by the CLI and stats.

arq's own health key is shared by every worker of a queue and refreshed hourly (arq #276), so it
cannot tell whether *this* host's worker is alive. Each worker process here keeps a hash of its
own (``rulequeue:worker:<host>:<pid>``) that expires after three missed heartbeats, plus an
entry in an index ZSET scored by its last beat. The job counters are plain in-process integers:
the job path only increments them, and they reach Redis with the next heartbeat.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from rulequeue import constants

log = structlog.get_logger('rulequeue.worker')


class WorkerRecord(BaseModel):
    """One worker process as its last heartbeat described it (times are Unix seconds)."""

    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    jobs_done: int
    jobs_failed: int
    jobs_running: int
    concurrency: int

    @property
    def key(self) -> str:
        return constants.WORKER_KEY.format(host=self.host, pid=self.pid)


@dataclass
class JobCounters:
    """Executions of this process: ended normally, ended in an error, running now."""

    done: int = 0
    failed: int = 0
    running: int = 0

    @contextmanager
    def job(self) -> Iterator[None]:
        """Count one job run; an exception other than a cancellation counts as failed."""
        self.running += 1
        try:
            yield
        except Exception:
            self.failed += 1
            raise
        finally:
            self.running -= 1


class WorkerHealth:
    """The health record of this process. :meth:`run` beats until cancelled."""

    def __init__(
        self,
        redis: Redis,
        *,
        concurrency: int,
        host: str | None = None,
        pid: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters = JobCounters()
        self._redis = redis
        self._clock = clock
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.concurrency = concurrency
        self.started_at = clock()
        self.key = constants.WORKER_KEY.format(host=self.host, pid=self.pid)

    def record(self) -> WorkerRecord:
        return WorkerRecord(
            host=self.host,
            pid=self.pid,
            started_at=self.started_at,
            heartbeat_at=self._clock(),
            jobs_done=self.counters.done,
            jobs_failed=self.counters.failed,
            jobs_running=self.counters.running,
            concurrency=self.concurrency,
        )

    async def beat(self) -> None:
        """Write the record, refresh its TTL and index entry, and drop index entries of dead processes."""
        record = self.record()
        ttl = constants.WORKER_RECORD_TTL_SECONDS
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping={k: str(v) for k, v in record.model_dump().items()})
            pipe.expire(self.key, int(ttl))
            pipe.zadd(constants.WORKERS_KEY, {self.key: record.heartbeat_at})
            pipe.zremrangebyscore(constants.WORKERS_KEY, '-inf', record.heartbeat_at - ttl)
            await pipe.execute()

    async def remove(self) -> None:
        """A clean stop: the process is gone at once, not three heartbeats later."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            pipe.zrem(constants.WORKERS_KEY, self.key)
            await pipe.execute()

    async def run(self, interval: float = constants.WORKER_HEARTBEAT_SECONDS) -> None:
        """After the first :meth:`beat` (the caller's), beat every ``interval`` s until cancelled.

        A Redis outage only skips beats: three in a row and the record expires, as it should.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except (RedisError, OSError) as exc:
                log.warning('worker heartbeat failed', error=type(exc).__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def live_workers(redis: Redis, *, now: float, host: str | None = None) -> list[WorkerRecord]:
    """Worker processes whose record is still there and fresh, optionally of one host only.

    O(processes): the index ZSET gives the candidates, one pipelined HGETALL reads them.
    """
    ttl = constants.WORKER_RECORD_TTL_SECONDS
    keys = await redis.zrangebyscore(constants.WORKERS_KEY, now - ttl, '+inf')
    if not keys:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        hashes = await pipe.execute()
    records = []
    for raw in hashes:
        if not raw:  # expired between the two reads
            continue
        record = WorkerRecord.model_validate({_text(k): _text(v) for k, v in raw.items()})
        if now - record.heartbeat_at <= ttl and (host is None or record.host == host):
            records.append(record)
    return sorted(records, key=lambda r: (r.host, r.pid))


async def health_report(redis: Redis, *, now: float, host: str | None) -> tuple[bool, str]:
    """``rulequeue health``: whether a live worker process exists (on ``host``, or anywhere), and one line saying so."""
    where = 'on any host' if host is None else f'on host {host}'
    try:
        workers = await live_workers(redis, now=now, host=host)
    except (RedisError, OSError) as exc:
        return False, f'unhealthy: cannot read worker records from Redis ({type(exc).__name__})'
    if not workers:
        return False, f'unhealthy: no live worker process {where}'
    newest = max(w.heartbeat_at for w in workers)
    return (
        True,
        f'ok: {len(workers)} live worker process(es) {where}, last heartbeat {max(0.0, now - newest):.0f} s ago',
    )
