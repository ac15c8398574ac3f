"""Housekeeping: a dangerous Redis is reported at worker start; orphan snapshots are swept."""

from __future__ import annotations

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.embedded import embedded_redis
from worker.maintenance import redis_risks, sweep_snapshots


async def test_safe_redis_has_no_risks_and_unsafe_settings_are_named() -> None:
    async with embedded_redis(appendonly=True) as url:
        client = aioredis.Redis.from_url(url)
        try:
            assert await redis_risks(client) == []
            await client.config_set('maxmemory-policy', 'allkeys-lru')
            await client.config_set('appendonly', 'no')
            risks = await redis_risks(client)
        finally:
            await client.aclose()
    assert len(risks) == 2
    assert 'allkeys-lru' in risks[0]
    assert 'appendonly' in risks[1]


async def test_sweeper_removes_only_orphans_past_the_grace(redis: aioredis.Redis) -> None:
    old_ttl = constants.SNAPSHOT_TTL_SECONDS - 3600
    orphan = constants.snapshot_key('jira:t', 'a' * 32)
    fresh_orphan = constants.snapshot_key('jira:t', 'b' * 32)
    queued = constants.snapshot_key('jira:t', 'c' * 32)
    running = constants.snapshot_key('jira:t', 'd' * 32)
    await redis.set(orphan, b'x', ex=old_ttl)
    await redis.set(fresh_orphan, b'x', ex=constants.SNAPSHOT_TTL_SECONDS)
    await redis.set(queued, b'x', ex=old_ttl)
    await redis.set(f'arq:job:{"c" * 32}', b'{}', ex=60)
    await redis.set(running, b'x', ex=old_ttl)
    await redis.set(f'arq:in-progress:{"d" * 32}', b'1', ex=60)
    assert await sweep_snapshots(redis) == 1
    assert not await redis.exists(orphan)
    assert await redis.exists(fresh_orphan, queued, running) == 3


async def test_a_killed_workers_job_is_taken_over_within_90_seconds() -> None:
    """arq lets another worker take a job once its in-progress key expires: the largest
    timeout registered on the worker plus 10 s. Every timeout must keep that under 90 s.

    Async only so that arq's Worker finds a running loop instead of creating one it never closes.
    """
    from arq.worker import Worker

    from tests.conftest import make_settings
    from worker.settings import build_worker_settings

    worker = Worker(**build_worker_settings(make_settings('public'), handle_signals=False))
    assert worker.in_progress_timeout_s == 60 + 10
    assert worker.in_progress_timeout_s < 90
