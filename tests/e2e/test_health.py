"""`rulequeue health` against a real worker process: alive while it runs, gone once it stops."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.worker_health import WorkerHealth, live_workers
from tests.harness import System

BIN = Path(sys.executable).parent
RULEQUEUE = str(BIN / 'rulequeue')


async def _health(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [RULEQUEUE, 'health', *args],
        env=system.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def _wait_for_record(redis: aioredis.Redis, pid: int, *, limit_seconds: float = 15) -> None:
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        if any(w.pid == pid for w in await live_workers(redis, now=time.time())):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f'worker {pid} wrote no health record within {limit_seconds} s')


def _start_worker(system: System) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [RULEQUEUE, 'worker', '--concurrency', '3'],
        env=system.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(60)
async def test_health_follows_a_real_worker_process(system: System, redis: aioredis.Redis) -> None:
    host = socket.gethostname()
    before = await _health(system)
    assert before.returncode == 1
    assert before.stdout.strip() == f'unhealthy: no live worker process on host {host}'

    worker = _start_worker(system)
    try:
        await _wait_for_record(redis, worker.pid)
        record = await redis.hgetall(constants.WORKER_KEY.format(host=host, pid=worker.pid))
        assert record[b'host'] == host.encode()
        assert record[b'concurrency'] == b'3'
        assert record[b'jobs_done'] == record[b'jobs_failed'] == record[b'jobs_running'] == b'0'
        ttl = await redis.ttl(constants.WORKER_KEY.format(host=host, pid=worker.pid))
        assert 0 < ttl <= constants.WORKER_RECORD_TTL_SECONDS

        alive = await _health(system)
        assert alive.returncode == 0, alive.stdout
        assert alive.stdout.startswith(f'ok: 1 live worker process(es) on host {host}, last heartbeat ')
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(worker.communicate, timeout=30)
    assert worker.returncode == 0, stderr

    # A clean stop removes the record and its index entry at once, not three heartbeats later.
    assert await redis.exists(constants.WORKER_KEY.format(host=host, pid=worker.pid)) == 0
    assert await redis.zcard(constants.WORKERS_KEY) == 0
    after = await _health(system)
    assert after.returncode == 1
    assert after.stdout.strip() == f'unhealthy: no live worker process on host {host}'


async def test_health_is_per_host_unless_any_host(system: System, redis: aioredis.Redis) -> None:
    await WorkerHealth(redis, concurrency=5, host='another-host', pid=4242).beat()

    this_host = await _health(system)
    assert this_host.returncode == 1
    assert this_host.stdout.startswith('unhealthy: no live worker process on host ')

    any_host = await _health(system, '--any-host')
    assert any_host.returncode == 0
    assert any_host.stdout.startswith('ok: 1 live worker process(es) on any host')


async def test_a_record_past_its_heartbeats_is_not_alive(redis: aioredis.Redis) -> None:
    # A SIGKILLed process leaves its record until the TTL; readers must not trust it longer.
    stale = time.time() - constants.WORKER_RECORD_TTL_SECONDS - 1
    await WorkerHealth(redis, concurrency=1, host='h', pid=1, clock=lambda: stale).beat()
    fresh = WorkerHealth(redis, concurrency=1, host='h', pid=2)
    await fresh.beat()
    assert [w.pid for w in await live_workers(redis, now=time.time())] == [2]
    # The next beat of a live process prunes the dead one from the index.
    await fresh.beat()
    assert await redis.zrange(constants.WORKERS_KEY, 0, -1) == [constants.WORKER_KEY.format(host='h', pid=2).encode()]
