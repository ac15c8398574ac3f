"""`rulequeue stats` against a queue state built by hand: every figure, exactly.

No worker runs here, so the state stays as built: ready, deferred and running jobs in arq's
ZSET (a running job stays there: STYLE.md B2), a dead letter, audit rows of several ages.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from arq.constants import in_progress_key_prefix

from rulequeue import constants, queue
from rulequeue.worker_health import WorkerHealth
from schemas.jobs import ExecutionJob
from tests.harness import System

RULEQUEUE = str(Path(sys.executable).parent / 'rulequeue')


async def _stats(system: System, *args: str) -> str:
    result = await asyncio.to_thread(
        subprocess.run,
        [RULEQUEUE, 'stats', *args],
        env=system.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _enqueue(system: System, tenant: str, name: str, score_seconds: float) -> str:
    """An execution job of ``tenant`` whose ZSET score (when it is due) is ``score_seconds``."""
    redis = await queue.connect(system.settings)
    try:
        job = ExecutionJob(
            execution_id=name, client_key=tenant, delivery_id=name, snapshot_key='unused', received_at=time.time()
        )
        assert await queue.enqueue_execution(redis, job)
        await redis.zadd(constants.QUEUE_NAME, {name: score_seconds * 1000}, xx=True)
    finally:
        await redis.aclose()
    return name


async def _audit_row(system: System, status: str, age_seconds: float) -> None:
    await system.pool.execute(
        """
        INSERT INTO audit_log (client_key, rule_id, rule_name, rule_version, status, issue_key, issue_id,
                               delivery_id, event_type, actions, messages, attempts, started_at, duration_ms,
                               created_at)
        VALUES ($1, $2, 'r', 1, $3, 'PROJ-1', '10001', $4, 'jira:issue_created', '[]', '[]', 1,
                now() - make_interval(secs => $5), 5, now() - make_interval(secs => $5))
        """,
        system.sim.client_key,
        uuid.uuid4(),
        status,
        uuid.uuid4().hex,
        age_seconds,
    )


async def _build_state(system: System, redis: aioredis.Redis) -> float:
    """The queue state of the test; returns the score (Unix s) of the oldest ready job."""
    now = time.time()
    oldest = now - 120
    for name, score in [('a-ready-1', oldest), ('a-ready-2', now - 30), ('a-ready-3', now - 1)]:
        await _enqueue(system, 'tenant-a', name, score)
    await _enqueue(system, 'tenant-a', 'a-retry', now + 300)  # retry back-off
    await _enqueue(system, 'tenant-b', 'b-ready', now - 5)
    await _enqueue(system, 'tenant-b', 'b-wait-1', now + 60)
    await _enqueue(system, 'tenant-b', 'b-wait-2', now + 3600)
    # Running: in the ZSET with a past score (as arq leaves it) and an in-progress key. It is
    # older than every ready job, so counting it as ready would also change the lag.
    await _enqueue(system, 'tenant-a', 'a-running', now - 600)
    await redis.set(in_progress_key_prefix + 'a-running', b'1', px=60_000)
    # An in-progress key of a job no longer in the queue (arq keeps a cron's for 60 s): not running.
    await redis.set(in_progress_key_prefix + 'cron:rulequeue:sweep:123', b'1', px=60_000)
    # A job that is not an execution: ready, but of no tenant.
    arq = await queue.connect(system.settings)
    try:
        assert await arq.enqueue_job('rulequeue:sweep', _job_id='sweep', _queue_name=constants.QUEUE_NAME)
    finally:
        await arq.aclose()

    await system.pool.execute(
        """
        INSERT INTO dead_letters (client_key, delivery_id, execution_id, issue_key, issue_id, envelope, rule_ids,
                                  error, attempts)
        VALUES ($1, 'd-1', 'e-1', 'PROJ-1', '10001', '{}', '[]', 'Jira answered 503', 5)
        """,
        system.sim.client_key,
    )
    # Ages chosen far from the window edges: 20 s (1m, 5m, 15m), 3 min (5m, 15m), 10 min (15m), 20 min (none).
    for status, age in [
        ('SUCCESS', 20),
        ('SUCCESS', 20),
        ('FAILURE', 20),
        ('SUCCESS', 180),
        ('SOME_ERRORS', 180),
        ('NO_ACTIONS_PERFORMED', 600),
        ('SUCCESS', 1200),
    ]:
        await _audit_row(system, status, age)

    worker = WorkerHealth(redis, concurrency=20, host='worker-host', pid=4321)
    worker.counters.done, worker.counters.failed, worker.counters.running = 7, 1, 2
    await worker.beat()
    return oldest


async def test_stats_json_counts_ready_deferred_and_running_apart(system: System, redis: aioredis.Redis) -> None:
    oldest = await _build_state(system, redis)
    before = time.time()
    stats: dict[str, Any] = json.loads(await _stats(system, '--json'))
    after = time.time()

    assert stats['ready'] == 5  # three of tenant-a, one of tenant-b, the sweep
    assert stats['deferred'] == 3
    assert stats['running'] == 1
    assert before - oldest - 0.01 <= stats['oldest_ready_age_seconds'] <= after - oldest + 0.01
    assert stats['dead_letters'] == 1
    epm = stats['executions_per_minute']
    assert epm['1m'] == {'SUCCESS': 2.0, 'NO_ACTIONS_PERFORMED': 0.0, 'SOME_ERRORS': 0.0, 'FAILURE': 1.0, **_zeros(epm)}
    assert epm['5m'] == {
        'SUCCESS': 3 / 5,
        'NO_ACTIONS_PERFORMED': 0.0,
        'SOME_ERRORS': 1 / 5,
        'FAILURE': 1 / 5,
        **_zeros(epm),
    }
    assert epm['15m'] == {
        'SUCCESS': 3 / 15,
        'NO_ACTIONS_PERFORMED': 1 / 15,
        'SOME_ERRORS': 1 / 15,
        'FAILURE': 1 / 15,
        **_zeros(epm),
    }
    assert stats['top_tenants'] == [
        {'client_key': 'tenant-a', 'ready': 3, 'deferred': 1, 'backlog': 4},
        {'client_key': 'tenant-b', 'ready': 1, 'deferred': 2, 'backlog': 3},
    ]
    [worker] = stats['workers']
    assert {k: v for k, v in worker.items() if k != 'heartbeat_age_seconds'} == {
        'host': 'worker-host',
        'pid': 4321,
        'jobs_done': 7,
        'jobs_failed': 1,
        'jobs_running': 2,
        'concurrency': 20,
    }
    assert 0 <= worker['heartbeat_age_seconds'] <= after - before + 15


def _zeros(epm: dict[str, dict[str, float]]) -> dict[str, float]:
    """Statuses other than the four classic ones (added later) must be listed at 0 in this state."""
    classic = {'SUCCESS', 'NO_ACTIONS_PERFORMED', 'SOME_ERRORS', 'FAILURE'}
    return {status: 0.0 for status in epm['1m'] if status not in classic}


async def test_stats_table_is_readable(system: System, redis: aioredis.Redis) -> None:
    await _build_state(system, redis)
    lines = (await _stats(system)).splitlines()
    assert lines[0].startswith('rulequeue stats at ')
    figures = {line.split()[0]: line.split()[1] for line in lines[2:7]}
    assert figures == {'ready': '5', 'deferred': '3', 'running': '1', 'lag': figures['lag'], 'dead': '1'}
    assert float(figures['lag']) >= 120
    assert '       4  ready      3  deferred      1  tenant-a' in lines
    assert any(line.strip().startswith('worker-host:4321') and 'done       7' in line for line in lines)
