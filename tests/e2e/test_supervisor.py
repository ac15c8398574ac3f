"""`rulequeue worker --processes N`: real child processes restarted, stopped gracefully, or given up on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from rulequeue.errors import WorkerCrashLoop
from rulequeue.serve import free_port
from rulequeue.simulator import ALICE
from rulequeue.supervisor import RestartPolicy, Supervisor, worker_command
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, snapshot_keys

RULEQUEUE = str(Path(sys.executable).parent / 'rulequeue')


class Lines:
    """The JSON log lines a supervisor and its children write to stderr, read as they come."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.records: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            text = line.decode(errors='replace').strip()
            self.raw.append(text)
            with contextlib.suppress(ValueError):
                record = json.loads(text)
                if isinstance(record, dict):
                    self.records.append(record)

    def events(self, name: str, **fields: object) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get('event') == name and all(r.get(k) == v for k, v in fields.items())]

    async def until(self, found: Callable[[], list[dict[str, Any]]], what: str, seconds: float = 20) -> Any:
        deadline = time.monotonic() + seconds
        while not (result := found()):
            if time.monotonic() > deadline:
                raise AssertionError(f'never saw {what}; last lines: ' + '\n'.join(self.raw[-20:]))
            await asyncio.sleep(0.05)
        return result

    async def close(self) -> None:
        await asyncio.wait_for(self._task, timeout=10)


@contextlib.asynccontextmanager
async def supervisor(system: System, *args: str, **env: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, Lines]]:
    process = await asyncio.create_subprocess_exec(
        RULEQUEUE,
        'worker',
        *args,
        env=system.env(**env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines = Lines(process.stderr)
    try:
        yield process, lines
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await lines.close()


async def _metrics(url: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return (await client.get(url)).text
            except httpx.TransportError:
                assert time.monotonic() < deadline, f'nothing served at {url}'
                await asyncio.sleep(0.1)


async def _audited(system: System, count: int, seconds: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while len(entries := await system.audit()) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    return entries


@pytest.mark.timeout(60)
async def test_a_killed_child_is_replaced_and_jobs_still_run(system: System) -> None:
    await system.add_rule(TRIAGE)
    metrics_base = free_port()
    async with supervisor(system, '--processes', '2', '--concurrency', '2', WORKER_METRICS_PORT=str(metrics_base)) as (
        process,
        lines,
    ):
        first = await lines.until(lambda: lines.events('worker process started'), 'a child start')
        await lines.until(lambda: lines.events('worker process started', index=1 - first[0]['index']), 'both')
        victim, index = first[0]['pid'], first[0]['index']
        os.kill(victim, signal.SIGKILL)
        exited = await lines.until(lambda: lines.events('worker process exited', pid=victim), 'the exit')
        assert exited[0]['returncode'] == -signal.SIGKILL
        restarted = await lines.until(lambda: lines.events('worker process started', index=index)[1:], 'a restart')
        replacement = restarted[0]['pid']
        assert replacement != victim
        os.kill(replacement, 0)  # raises if the new child is not running
        assert lines.events('worker process restarting', index=index)[0]['delay_seconds'] == 0.5

        issues = [
            (await system.sim.create_issue(project='PROJ', issuetype='Bug', summary=f's{n}', reporter=ALICE))[0]
            for n in range(3)
        ]
        entries = await _audited(system, 3)
        assert sorted(e['status'] for e in entries) == ['SUCCESS'] * 3
        for issue in issues:
            assert len(system.sim.comments[issue['key']]) == 1
        assert process.returncode is None, 'the supervisor itself must survive a child being killed'
        # The replacement serves its metrics on the port of its slot: base + index.
        metrics = await _metrics(f'http://127.0.0.1:{metrics_base + index}/metrics')
        assert 'rulequeue_executions_total' in metrics


@pytest.mark.timeout(60)
async def test_sigterm_stops_every_child_gracefully_and_the_running_job_completes(system: System) -> None:
    await system.add_rule(TRIAGE)
    system.sim.delay_seconds = 1.0  # four Jira calls: the execution takes about four seconds
    # Metrics off: two children on fixed ports could collide with other test runs.
    args = ('--processes', '2', '--concurrency', '2')
    async with supervisor(system, *args, JOB_COMPLETION_WAIT_SECONDS='20', WORKER_METRICS_PORT='0') as (process, lines):
        await lines.until(lambda: lines.events('worker process started')[1:], 'two children')
        issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
        deadline = time.monotonic() + 20
        while not system.sim.calls and time.monotonic() < deadline:  # noqa: ASYNC110 - another process's effect
            await asyncio.sleep(0.05)
        assert system.sim.calls, 'no child started the execution'
        children = {r['pid'] for r in lines.events('worker process started')}
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=40) == 0
    exits = {r['pid']: r['returncode'] for r in lines.events('worker process exited')}
    assert exits == dict.fromkeys(children, 0)
    assert lines.events('supervisor stopped')
    assert not lines.events('worker process restarting')
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert system.sim.issues[issue['key']]['fields']['status']['name'] == 'Triage'
    assert await snapshot_keys(system.settings) == []


@pytest.mark.timeout(60)
async def test_children_crashing_at_once_make_the_supervisor_give_up(system: System) -> None:
    # The real worker command with a setting it refuses: each child exits 2 at start.
    environ = {k: v for k, v in system.env().items() if k != 'SECRET_KEY'}
    policy = RestartPolicy(base_seconds=0.05, cap_seconds=0.2, max_crashes=2, window_seconds=60)
    supervisor = Supervisor(worker_command(2), 2, environ=environ, stop_grace_seconds=10, policy=policy)
    with capture_logs() as logs, pytest.raises(WorkerCrashLoop, match='crashed 3 times within 60 s'):
        await supervisor.run()
    assert supervisor.pids() == []
    [gave_up] = [r for r in logs if r['event'] == 'worker processes keep crashing']
    slot = gave_up['index']
    assert len([r for r in logs if r['event'] == 'worker process started' and r['index'] == slot]) == 3
    exits = [r for r in logs if r['event'] == 'worker process exited']
    assert [r['returncode'] for r in exits if r['index'] == slot] == [2, 2, 2]
    # The other child crashed the same way, or was being started again and got the stop's SIGTERM.
    assert {r['returncode'] for r in exits} <= {2, -signal.SIGTERM}
    delays = [r['delay_seconds'] for r in logs if r['event'] == 'worker process restarting' and r['index'] == slot]
    assert delays == [0.05, 0.1]
