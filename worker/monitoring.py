"""A worker process's own health record, /metrics server and (for one worker) the queue gauges.

Started from the worker's ``on_startup`` and stopped from its ``on_shutdown``; everything runs
beside the jobs (background tasks, a server thread) and never fails a job or the worker: a
Redis outage skips a beat, a metrics port already taken is logged and metrics are off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from rulequeue import constants
from rulequeue.metrics import WorkerMetrics, serve_metrics
from rulequeue.stats import queue_gauge_values
from rulequeue.store.db import Pool
from rulequeue.worker_health import WorkerHealth

log = structlog.get_logger('rulequeue.worker')

# Take the lease if free, or extend it if ours; 1 when this process holds it afterwards.
_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


async def hold_lease(redis: Redis, holder: str, seconds: float) -> bool:
    held = await redis.eval(_LEASE, 1, constants.QUEUE_GAUGES_LEASE_KEY, holder, str(int(seconds * 1000)))  # type: ignore[misc]
    return bool(held)


async def release_lease(redis: Redis, holder: str) -> None:
    await redis.eval(_RELEASE, 1, constants.QUEUE_GAUGES_LEASE_KEY, holder)  # type: ignore[misc]


async def refresh_queue_gauges(redis: Redis, pool: Pool, metrics: WorkerMetrics, holder: str) -> bool:
    """One round: export the gauges if this process holds the lease, else stop exporting them."""
    if not await hold_lease(redis, holder, constants.QUEUE_GAUGES_LEASE_SECONDS):
        metrics.queue.values = None
        return False
    metrics.queue.values = await queue_gauge_values(redis, pool, now=datetime.now(UTC))
    return True


async def _queue_gauges_loop(redis: Redis, pool: Pool, metrics: WorkerMetrics, holder: str) -> None:
    while True:
        try:
            await refresh_queue_gauges(redis, pool, metrics, holder)
        except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Stale figures are worse than none: an alert on absent() is clearer than a frozen lag.
            metrics.queue.values = None
            log.warning('queue gauges not refreshed', error=type(exc).__name__)
        await asyncio.sleep(constants.QUEUE_GAUGES_SECONDS)


@dataclass
class Monitoring:
    """What :func:`start_monitoring` started, for :meth:`stop`."""

    health: WorkerHealth
    metrics: WorkerMetrics
    redis: Redis
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop_server: Callable[[], None] | None = None

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.stop_server is not None:
            await asyncio.to_thread(self.stop_server)
        with contextlib.suppress(RedisError, OSError):
            await release_lease(self.redis, self.health.key)
            await self.health.remove()


async def start_monitoring(redis: Redis, pool: Pool, *, concurrency: int, metrics_port: int) -> Monitoring:
    """Start the heartbeat, the /metrics server (port 0: none) and the competition for the gauges."""
    health = WorkerHealth(redis, concurrency=concurrency)
    monitoring = Monitoring(health, WorkerMetrics(), redis)
    if metrics_port:
        try:
            monitoring.stop_server = serve_metrics(monitoring.metrics.registry, metrics_port)
        except OSError as exc:
            # A second worker on the same port must not stop executions over its metrics.
            log.error('worker metrics not served', port=metrics_port, error=type(exc).__name__)
    # The first beat before the worker takes jobs: once started, it is visible (health, gauges).
    await health.beat()
    monitoring.tasks.append(asyncio.create_task(health.run(), name='rulequeue-heartbeat'))
    monitoring.tasks.append(
        asyncio.create_task(
            _queue_gauges_loop(redis, pool, monitoring.metrics, health.key), name='rulequeue-queue-gauges'
        )
    )
    return monitoring
