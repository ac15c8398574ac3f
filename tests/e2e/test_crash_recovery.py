"""SIGKILL: another worker takes the execution over within 90 s, and nothing is done twice."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from rulequeue.simulator import ALICE
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, snapshot_keys

RULEQUEUE = str(Path(sys.executable).parent / 'rulequeue')


@pytest.mark.timeout(150)
async def test_killed_worker_execution_is_resumed_once(system: System) -> None:
    await system.add_rule(TRIAGE)
    system.sim.delay_seconds = 1.0
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    first = await asyncio.create_subprocess_exec(
        RULEQUEUE, 'worker', env=system.env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not system.sim.comments.get(issue['key']) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert system.sim.comments[issue['key']], 'the first worker never commented'
    first.send_signal(signal.SIGKILL)  # mid-execution: the edit and transition are still to come
    await first.wait()
    killed_at = time.monotonic()
    system.sim.delay_seconds = 0.0
    second = await asyncio.create_subprocess_exec(
        RULEQUEUE,
        'worker',
        '--burst',
        env=system.env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(second.wait(), timeout=120) == 0
    assert time.monotonic() - killed_at < 90
    assert len(system.sim.comments[issue['key']]) == 1
    assert system.sim.issues[issue['key']]['fields']['status']['name'] == 'Triage'
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert await snapshot_keys(system.settings) == []
