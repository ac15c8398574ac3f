"""Fixtures shared by every test: real Postgres and Redis, isolated per test.

Each test gets its own Postgres schema (dropped afterwards) and a flushed Redis database, so
tests never see each other's rows or keys. Services are the machine's own (see
shared/SERVICES.md); point TEST_DATABASE_URL / TEST_REDIS_URL elsewhere if needed.
"""

from __future__ import annotations

import atexit
import functools
import os
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import pytest
import redis
import redis.asyncio as aioredis
import structlog
from hypothesis import HealthCheck, settings

from rulequeue.settings import Settings, load_settings

if TYPE_CHECKING:
    from tests.harness import System

# Property-based tests: a bounded budget in CI; `make fuzz` runs the long profile.
settings.register_profile('ci', max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile('long', max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))

DATABASE_URL = os.environ.get('TEST_DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/test')
TEST_DATABASES = range(9, 16)


def _release(client: redis.Redis, lock: str) -> None:
    client.delete(lock)
    client.close()


@functools.cache
def redis_url() -> str:
    """A Redis database of this test process's own, so concurrent test runs never share a queue.

    Claimed with a lock key in db 0 (released at exit, or after an hour if the run died).
    """
    if 'TEST_REDIS_URL' in os.environ:
        return os.environ['TEST_REDIS_URL']
    client = redis.Redis(host='127.0.0.1', port=6379, db=0)
    for number in TEST_DATABASES:
        lock = f'rulequeue-test-db:{number}'
        if client.set(lock, os.getpid(), nx=True, ex=3600):
            atexit.register(_release, client, lock)
            return f'redis://127.0.0.1:6379/{number}'
    client.close()
    raise RuntimeError(f'every test Redis database {list(TEST_DATABASES)} is claimed by another run')


SECRET_KEY = 'test-secret-key-0123456789abcdef-0123456789'


@pytest.fixture(autouse=True)
def _reset_structlog() -> None:
    structlog.reset_defaults()


@pytest.fixture(name='schema')
async def _schema() -> AsyncIterator[str]:
    name = 't_' + uuid.uuid4().hex[:16]
    yield name
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(name='redis')
async def _redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url())
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def make_settings(schema: str, app_base_url: str = 'http://127.0.0.1:9', **overrides: object) -> Settings:
    values: dict[str, object] = {
        'database_url': DATABASE_URL,
        'database_schema': schema,
        'redis_url': redis_url(),
        'app_base_url': app_base_url,
        'secret_key': SECRET_KEY,
        'retry_base_seconds': 0.05,
        'retry_cap_seconds': 0.5,
        'job_completion_wait_seconds': 0,
        'log_format': 'json',
        # In-process test workers serve no /metrics: parallel runs would fight over one port.
        'worker_metrics_port': 0,
        # Tests call worker.scheduled.run_due on ticks they choose: a worker's real-time cron must
        # not add one when a test happens to run across a rule's tick.
        'scheduler_enabled': False,
        # Likewise the Forge sweep (tests call worker.forge_sweep.run_sweep): a tick during a
        # test's burst worker would add a search to the Jira calls the test counts.
        'forge_sweep_minutes': 0,
        **overrides,
    }
    return load_settings(**values)


@pytest.fixture(name='system')
async def _system(schema: str, redis: aioredis.Redis) -> AsyncIterator[System]:
    """The whole system, installed: simulator, producer over HTTP, a drainable worker."""
    from tests.harness import running_system  # here: the harness imports this module

    async with running_system(schema) as system:
        yield system
