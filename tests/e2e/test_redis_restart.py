"""Redis restarts: with AOF, what the producer acknowledged survives, and workers ride it out.

Each test runs its own redis-server (rulequeue.embedded.RedisServer) so it can be killed and
started again on the same port and data directory.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from rulequeue.embedded import redis_server
from rulequeue.simulator import ALICE
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, running_system, snapshot_keys

RULEQUEUE = str(Path(sys.executable).parent / 'rulequeue')


async def _wait_for_comment(system: System, key: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not system.sim.comments.get(key) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert system.sim.comments.get(key), f'{key} was never commented on'


async def _assert_triaged_once(system: System, keys: list[str]) -> None:
    for key in keys:
        assert len(system.sim.comments[key]) == 1, key
        assert system.sim.issues[key]['fields']['status']['name'] == 'Triage'
    entries = await system.audit()
    assert sorted(e['issue_key'] for e in entries) == sorted(keys)
    assert {e['status'] for e in entries} == {'SUCCESS'}
    assert await snapshot_keys(system.settings) == []


@pytest.mark.timeout(90)
async def test_acknowledged_deliveries_survive_a_redis_sigkill_with_appendfsync_always(schema: str) -> None:
    async with (
        redis_server(appendonly=True, fsync='always') as server,
        running_system(schema, redis_url=server.url) as system,
    ):
        await system.add_rule(TRIAGE)
        keys = []
        for n in range(5):
            issue, answers = await system.sim.create_issue(issuetype='Bug', summary=f'crash {n}', reporter=ALICE)
            assert [a.status_code for a in answers] == [202]
            keys.append(issue['key'])
        await server.stop(signal.SIGKILL)  # no shutdown, no final AOF rewrite: only what was fsynced
        await server.start()
        await system.drain()
        await _assert_triaged_once(system, keys)


@pytest.mark.timeout(90)
async def test_a_worker_process_rides_out_a_redis_restart_mid_execution(schema: str) -> None:
    # A short job timeout: an execution whose end Redis missed is taken over 5 + 10 s later, not 70.
    async with (
        redis_server(appendonly=True) as server,
        running_system(schema, redis_url=server.url, job_timeout_seconds=5) as system,
    ):
        await system.add_rule(TRIAGE)
        worker = await asyncio.create_subprocess_exec(
            RULEQUEUE,
            'worker',
            env=system.env(JOB_TIMEOUT_SECONDS='5'),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            before, _ = await system.sim.create_issue(issuetype='Bug', summary='before', reporter=ALICE)
            await _wait_for_comment(system, before['key'])
            system.sim.delay_seconds = 1.5  # the next execution is in a Jira call when Redis goes
            during, _ = await system.sim.create_issue(issuetype='Bug', summary='during', reporter=ALICE)
            await asyncio.sleep(0.7)
            await server.stop(signal.SIGTERM)
            await asyncio.sleep(2.0)
            await server.start()
            system.sim.delay_seconds = 0.0
            after, _ = await system.sim.create_issue(issuetype='Bug', summary='after', reporter=ALICE)
            await _wait_for_comment(system, after['key'])
            await system.drain()  # whatever the restart left for another worker to take over
            assert worker.returncode is None, 'the worker exited when Redis restarted'
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = await worker.communicate()
        assert worker.returncode == 0, stderr.decode()[-2000:]
        assert b'redis unavailable' in stderr
        await _assert_triaged_once(system, [before['key'], during['key'], after['key']])
