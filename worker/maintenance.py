"""Housekeeping that runs beside executions: the Redis configuration check and the sweeper.

* At start, a worker reports a Redis that can lose accepted jobs: eviction enabled (jobs and
  snapshots silently dropped under memory pressure) or no AOF (a restart loses the queue).
* Every few minutes one worker (arq cron, unique per run) deletes snapshots whose execution
  no longer exists, for the cases where our code never reached its purge: arq's own
  try limit, a job that expired before running, a worker killed between steps. Snapshots
  younger than a grace period are left alone: the producer writes the snapshot just before
  it enqueues the job.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from rulequeue import constants

log = structlog.get_logger('rulequeue.worker')
SWEEP_GRACE_SECONDS = 300
SAFE_EVICTION_POLICY = 'noeviction'


async def redis_risks(redis: Redis) -> list[str]:
    """What in this Redis's configuration could lose accepted work (empty when all is well)."""
    risks: list[str] = []
    try:
        policy = (await redis.config_get('maxmemory-policy')).get('maxmemory-policy')
        appendonly = (await redis.config_get('appendonly')).get('appendonly')
    except ResponseError:
        return ['CONFIG GET is not allowed for this Redis user: persistence and eviction could not be checked']
    if policy not in (SAFE_EVICTION_POLICY, SAFE_EVICTION_POLICY.encode()):
        risks.append(f'maxmemory-policy is {policy!r}: Redis may evict queued jobs and snapshots; use noeviction')
    if appendonly not in ('yes', b'yes'):
        risks.append('appendonly is off: a Redis restart loses every queued job; enable AOF')
    return risks


async def check_redis(redis: Redis) -> list[str]:
    risks = await redis_risks(redis)
    for risk in risks:
        log.error('redis configuration risk', risk=risk)
    return risks


async def sweep_snapshots(redis: Redis, *, grace_seconds: int = SWEEP_GRACE_SECONDS) -> int:
    """Delete snapshots whose arq job is gone; returns how many were removed."""
    removed = 0
    youngest_ttl = constants.SNAPSHOT_TTL_SECONDS - grace_seconds
    async for key in redis.scan_iter(match=constants.snapshot_pattern(), count=500):
        execution = key.decode().rsplit(':', 1)[-1]
        if await redis.exists(f'arq:job:{execution}', f'arq:in-progress:{execution}'):
            continue
        ttl = await redis.ttl(key)
        if ttl > youngest_ttl:
            continue  # just written; its job is being enqueued
        removed += int(await redis.delete(key))
    if removed:
        log.warning('orphan snapshots purged', count=removed)
    return removed


async def sweep_job(ctx: dict[str, Any]) -> int:
    """The arq cron entry point."""
    return await sweep_snapshots(ctx['redis'])
