"""The arq side shared by producer and worker: connection, JSON serializer, enqueue.

Jobs are serialized as JSON, never pickle: with pickle, write access to Redis would mean code
execution in every worker (ARQ.md section 7). Both sides must use the same pair.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool

from rulequeue import constants
from rulequeue.settings import Settings
from schemas.jobs import ExecutionJob


def serialize(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(',', ':')).encode()


def deserialize(data: bytes) -> dict[str, Any]:
    decoded = json.loads(data)
    if not isinstance(decoded, dict):
        raise ValueError('job payload is not a JSON object')
    return decoded


def redis_settings(settings: Settings) -> RedisSettings:
    # Retry transient connection errors instead of letting a blip kill the process (arq #435).
    base = RedisSettings.from_dsn(settings.redis_url)
    return dataclasses.replace(base, conn_retries=10, conn_retry_delay=1, retry_on_timeout=True)


async def connect(settings: Settings) -> ArqRedis:
    return await create_pool(
        redis_settings(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=constants.QUEUE_NAME,
    )


async def enqueue_execution(redis: ArqRedis, job: ExecutionJob, *, defer_seconds: float = 0.0) -> bool:
    """Enqueue one execution under its deterministic id; False if it is already queued or running.

    ``defer_seconds`` (a delay's continuation) holds the job back in arq's queue, in Redis.
    """
    # A licensed job is written without the field, as before it existed, so workers of the
    # previous release (which refuse unknown fields) still run jobs during a rolling deploy;
    # likewise branch and resume, written only when set.
    omitted = {'licensed'} if job.licensed else set()
    omitted |= {name for name in ('branch', 'resume') if getattr(job, name) is None}
    queued = await redis.enqueue_job(
        constants.JOB_FUNCTION,
        job.model_dump(mode='json', exclude=omitted or None),
        _job_id=job.execution_id,
        _queue_name=constants.QUEUE_NAME,
        _expires=constants.JOB_EXPIRES_SECONDS + defer_seconds,
        _defer_by=defer_seconds or None,
    )
    return queued is not None
