"""Events of one issue run in the order Jira produced them; different issues run in parallel.

The producer registers every execution in a per-issue sorted set, scored by the webhook's
timestamp with the changelog id breaking ties. An execution runs only when it is the first
pending one of its issue; otherwise it is deferred for a moment (a wait, not a failed
attempt). A held execution cannot block its issue forever: once a later event has waited
ORDER_HOLD_SECONDS, the holder is taken out of line and marked, and when it runs it is
dead-lettered instead of acting out of order.
"""

from __future__ import annotations

import time
from enum import StrEnum

import structlog
from redis.asyncio import Redis

from rulequeue import constants
from schemas.jobs import ExecutionJob

log = structlog.get_logger('rulequeue.worker')


class Turn(StrEnum):
    GO = 'go'
    WAIT = 'wait'
    EVICTED = 'evicted'


async def take_turn(redis: Redis, job: ExecutionJob, hold_seconds: float) -> Turn:
    if not job.order_key or not job.order_member:
        return Turn.GO
    if await redis.exists(constants.EVICTED_KEY.format(execution=job.execution_id)):
        return Turn.EVICTED
    for _ in range(100):  # each pass either returns or evicts one holder
        head = await redis.zrange(job.order_key, 0, 0)
        if not head or head[0].decode() == job.order_member:
            return Turn.GO
        if await redis.zscore(job.order_key, job.order_member) is None:
            return Turn.GO  # our entry is gone (its set expired): nothing left to wait for
        if time.time() - job.received_at <= hold_seconds:
            await _count_wait(redis, job)
            return Turn.WAIT
        holder = head[0].decode()
        holder_execution = holder.split(':', 1)[1]
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(job.order_key, holder)
            pipe.set(constants.EVICTED_KEY.format(execution=holder_execution), '1', ex=constants.SNAPSHOT_TTL_SECONDS)
            await pipe.execute()
        log.warning('ordering bound passed', held_by=holder_execution, hold_seconds=hold_seconds)
    return Turn.GO


async def _count_wait(redis: Redis, job: ExecutionJob) -> None:
    key = constants.WAITS_KEY.format(execution=job.execution_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, constants.SNAPSHOT_TTL_SECONDS)
        await pipe.execute()


async def waits_so_far(redis: Redis, job: ExecutionJob) -> int:
    return int(await redis.get(constants.WAITS_KEY.format(execution=job.execution_id)) or 0)
