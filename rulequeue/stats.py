"""Queue statistics: what ``rulequeue stats``, the /ops page and the queue gauges show.

arq keeps a job in its queue ZSET while it runs, and parks deferred jobs (retry back-off,
ordering waits) there at future scores, so ``ZCARD`` counts all three (ARQ.md; STYLE.md B2).
Here a member with an in-progress key is *running*; the others are *ready* (score <= now) or
*deferred* (score > now). Redis work is O(queue) in pipelined batches; Postgres work is two
aggregate queries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from arq.constants import in_progress_key_prefix, job_key_prefix
from pydantic import BaseModel
from redis.asyncio import Redis

from rulequeue import constants, queue
from rulequeue.metrics import QueueGaugeValues
from rulequeue.store.db import Pool
from rulequeue.worker_health import live_workers
from schemas.audit import AuditStatus

BATCH = 1000
WINDOWS = {'1m': 1, '5m': 5, '15m': 15}


class WorkerStats(BaseModel):
    host: str
    pid: int
    heartbeat_age_seconds: float
    jobs_done: int
    jobs_failed: int
    jobs_running: int
    concurrency: int


class TenantBacklog(BaseModel):
    client_key: str
    ready: int
    deferred: int
    backlog: int


class QueueStats(BaseModel):
    """A snapshot of the queue; ``model_dump(mode='json')`` is the ``stats --json`` output."""

    ready: int
    deferred: int
    running: int
    oldest_ready_age_seconds: float
    dead_letters: int
    # Audit rows per minute, by window ('1m', '5m', '15m') then audit status.
    executions_per_minute: dict[str, dict[str, float]]
    top_tenants: list[TenantBacklog]
    workers: list[WorkerStats]


@dataclass(frozen=True)
class QueueDepth:
    """The Redis side: job ids waiting now and later, and how many run."""

    ready: list[str]
    deferred: list[str]
    running: int
    oldest_ready_age_seconds: float


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def queue_depth(redis: Redis, *, now: datetime) -> QueueDepth:
    now_ms = now.timestamp() * 1000
    members = [(_text(m), s) for m, s in await redis.zrange(constants.QUEUE_NAME, 0, -1, withscores=True)]
    ready: list[str] = []
    deferred: list[str] = []
    oldest: float | None = None
    running = 0
    for start in range(0, len(members), BATCH):
        batch = members[start : start + BATCH]
        async with redis.pipeline(transaction=False) as pipe:
            for job_id, _ in batch:
                pipe.exists(in_progress_key_prefix + job_id)
            in_progress = await pipe.execute()
        for (job_id, score), busy in zip(batch, in_progress, strict=True):
            if busy:
                running += 1
            elif score <= now_ms:
                ready.append(job_id)
                oldest = score if oldest is None else min(oldest, score)
            else:
                deferred.append(job_id)
    age = 0.0 if oldest is None else max(0.0, (now_ms - oldest) / 1000)
    return QueueDepth(ready, deferred, running, round(age, 3))


async def _tenants_of(redis: Redis, job_ids: list[str]) -> list[str | None]:
    """The tenant (clientKey) in each job's arguments; None for other jobs (cron) or gone ones."""
    tenants: list[str | None] = []
    for start in range(0, len(job_ids), BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids[start : start + BATCH]:
                pipe.get(job_key_prefix + job_id)
            payloads = await pipe.execute()
        for payload in payloads:
            tenants.append(_tenant(payload))
    return tenants


def _tenant(payload: bytes | None) -> str | None:
    if payload is None:
        return None
    try:
        job = queue.deserialize(payload)
        args = job.get('a') or []
        if job.get('f') != constants.JOB_FUNCTION or not args or not isinstance(args[0], dict):
            return None
        client_key = args[0].get('client_key')
    except ValueError:
        return None
    return client_key if isinstance(client_key, str) else None


async def top_tenants(redis: Redis, depth: QueueDepth, limit: int = constants.STATS_TOP_TENANTS) -> list[TenantBacklog]:
    ready = Counter(t for t in await _tenants_of(redis, depth.ready) if t is not None)
    deferred = Counter(t for t in await _tenants_of(redis, depth.deferred) if t is not None)
    backlog = ready + deferred
    ranked = sorted(backlog, key=lambda t: (-backlog[t], t))[:limit]
    return [TenantBacklog(client_key=t, ready=ready[t], deferred=deferred[t], backlog=backlog[t]) for t in ranked]


async def dead_letter_count(pool: Pool) -> int:
    count: int = await pool.fetchval('SELECT count(*) FROM dead_letters')
    return count


async def executions_per_minute(pool: Pool, *, now: datetime) -> dict[str, dict[str, float]]:
    """Audit rows per minute over the last 1, 5 and 15 minutes, by status (every status listed)."""
    rows = await pool.fetch(
        """
        SELECT status,
               count(*) FILTER (WHERE created_at > $1::timestamptz - interval '1 minute') AS m1,
               count(*) FILTER (WHERE created_at > $1::timestamptz - interval '5 minutes') AS m5,
               count(*) AS m15
        FROM audit_log
        WHERE created_at > $1::timestamptz - interval '15 minutes'
        GROUP BY status
        """,
        now,
    )
    counts = {row['status']: {'1m': row['m1'], '5m': row['m5'], '15m': row['m15']} for row in rows}
    statuses = [s.value for s in AuditStatus] + sorted(set(counts) - {s.value for s in AuditStatus})
    return {
        window: {status: counts.get(status, {}).get(window, 0) / minutes for status in statuses}
        for window, minutes in WINDOWS.items()
    }


async def worker_stats(redis: Redis, *, now: datetime) -> list[WorkerStats]:
    records = await live_workers(redis, now=now.timestamp())
    return [
        WorkerStats(
            host=r.host,
            pid=r.pid,
            heartbeat_age_seconds=round(max(0.0, now.timestamp() - r.heartbeat_at), 3),
            jobs_done=r.jobs_done,
            jobs_failed=r.jobs_failed,
            jobs_running=r.jobs_running,
            concurrency=r.concurrency,
        )
        for r in records
    ]


async def collect_stats(redis: Redis, pool: Pool, *, now: datetime) -> QueueStats:
    """Everything ``rulequeue stats`` shows, as of ``now`` (timezone-aware)."""
    depth = await queue_depth(redis, now=now)
    return QueueStats(
        ready=len(depth.ready),
        deferred=len(depth.deferred),
        running=depth.running,
        oldest_ready_age_seconds=depth.oldest_ready_age_seconds,
        dead_letters=await dead_letter_count(pool),
        executions_per_minute=await executions_per_minute(pool, now=now),
        top_tenants=await top_tenants(redis, depth),
        workers=await worker_stats(redis, now=now),
    )


async def queue_gauge_values(redis: Redis, pool: Pool, *, now: datetime) -> QueueGaugeValues:
    """The cheap part of :func:`collect_stats` (no job payloads, no audit scan), for the gauges."""
    depth = await queue_depth(redis, now=now)
    workers = await live_workers(redis, now=now.timestamp())
    return QueueGaugeValues(
        ready=len(depth.ready),
        deferred=len(depth.deferred),
        running=depth.running,
        oldest_ready_age_seconds=depth.oldest_ready_age_seconds,
        dead_letters=await dead_letter_count(pool),
        worker_processes=len(workers),
    )
