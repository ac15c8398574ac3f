"""SIGTERM lets a running execution finish (within JOB_COMPLETION_WAIT_SECONDS) before exit."""

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


@pytest.mark.timeout(60)
async def test_sigterm_finishes_the_running_execution(system: System) -> None:
    await system.add_rule(TRIAGE)
    system.sim.delay_seconds = 1.0  # four calls: the execution takes about four seconds
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    settings = system.settings
    env = system.env(JOB_COMPLETION_WAIT_SECONDS='20')
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / 'rulequeue'),
        'worker',
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not system.sim.calls and time.monotonic() < deadline:  # noqa: ASYNC110 - another process's effect
        await asyncio.sleep(0.05)
    assert system.sim.calls, 'the worker never started the execution'
    worker.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(worker.communicate(), timeout=30)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert system.sim.issues[issue['key']]['fields']['status']['name'] == 'Triage'
    assert await snapshot_keys(settings) == []
