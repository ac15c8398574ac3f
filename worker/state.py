"""An execution's state in Redis: progress of actions, our attempt counter, the final purge.

Progress and attempts hold ids and the changes made (what the audit row holds anyway), never
issue data. ``finish`` is the one step that ends an execution: it writes the done marker and
deletes the snapshot, progress and counter in a single MULTI.
"""

from __future__ import annotations

from redis.asyncio import Redis

from rulequeue import constants
from schemas.audit import ActionResult
from schemas.jobs import ExecutionJob


def _keys(job: ExecutionJob) -> tuple[str, str, str]:
    return (
        constants.DONE_KEY.format(execution=job.execution_id),
        constants.PROGRESS_KEY.format(execution=job.execution_id),
        constants.ATTEMPTS_KEY.format(execution=job.execution_id),
    )


def progress_field(rule_id: str, version: int, index: int | str) -> str:
    """``index`` is an action's place: 3, or "3.then.0" inside an ``if`` (worker/action_list.py)."""
    return f'{rule_id}:{version}:{index}'


async def is_done(redis: Redis, job: ExecutionJob) -> bool:
    return bool(await redis.exists(_keys(job)[0]))


async def load_progress(redis: Redis, job: ExecutionJob) -> dict[str, ActionResult]:
    raw: dict[bytes, bytes] = await redis.hgetall(_keys(job)[1])  # type: ignore[misc]
    return {k.decode(): ActionResult.model_validate_json(v) for k, v in raw.items()}


async def save_progress(redis: Redis, job: ExecutionJob, field: str, result: ActionResult) -> None:
    key = _keys(job)[1]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, field, result.model_dump_json())
        pipe.expire(key, constants.SNAPSHOT_TTL_SECONDS)
        await pipe.execute()


async def attempts_so_far(redis: Redis, job: ExecutionJob) -> int:
    return int(await redis.get(_keys(job)[2]) or 0)


async def count_failed_attempt(redis: Redis, job: ExecutionJob) -> int:
    key = _keys(job)[2]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, constants.SNAPSHOT_TTL_SECONDS)
        count, _ = await pipe.execute()
    return int(count)


async def finish(redis: Redis, job: ExecutionJob, outcome: str) -> None:
    """Mark the execution done and purge everything it kept in Redis, atomically."""
    done, progress, attempts = _keys(job)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(done, outcome, ex=constants.DONE_TTL_SECONDS)
        pipe.delete(job.snapshot_key, progress, attempts, constants.WAITS_KEY.format(execution=job.execution_id))
        if job.order_key and job.order_member:
            pipe.zrem(job.order_key, job.order_member)
        await pipe.execute()
