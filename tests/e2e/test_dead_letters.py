"""Executions that run out of attempts land in the dead-letter table and can be replayed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from producer.replay import replay
from rulequeue.simulator import ALICE
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, snapshot_keys

BIN = Path(sys.executable).parent


async def _cli(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [str(BIN / 'rulequeue'), *args],
        env=system.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.timeout(90)
async def test_exhausted_execution_is_dead_lettered_and_replayed(system: System) -> None:
    await system.add_rule(TRIAGE)
    system.sim.fail_next(status=503, times=100, method='POST')
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='dlq-canary', reporter=ALICE)
    await system.drain()
    [letter] = await system.pool.fetch('SELECT * FROM dead_letters')
    assert letter['issue_key'] == issue['key']
    assert letter['attempts'] == system.settings.max_attempts
    assert '503' in letter['error']
    assert 'dlq-canary' not in json.dumps({k: str(v) for k, v in dict(letter.items()).items()})
    assert await snapshot_keys(system.settings) == []

    listed = await _cli(system, 'dlq', 'list')
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout.splitlines()[0])['id'] == letter['id']
    shown = await _cli(system, 'dlq', 'show', str(letter['id']))
    assert json.loads(shown.stdout)['issue_key'] == issue['key']
    assert (await _cli(system, 'dlq', 'show', '999999')).returncode == 1

    system.sim.faults.clear()  # Jira is healthy again
    delivery_id = await replay(system.settings, letter['id'])
    await system.drain()
    entries = await system.audit()
    replayed = [e for e in entries if e['delivery_id'] == delivery_id]
    assert [e['status'] for e in replayed] == ['SUCCESS']
    assert len(system.sim.comments[issue['key']]) == 1
    marked = await system.pool.fetchrow('SELECT replayed_at, replay_delivery_id FROM dead_letters')
    assert marked is not None
    assert marked['replay_delivery_id'] == delivery_id
    assert marked['replayed_at'] is not None
