"""The operator entry points run the same pipeline: `rulequeue worker`, `arq …WorkerSettings`, migrate."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rulequeue.simulator import ALICE
from rulequeue.store.db import migrate
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, snapshot_keys

BIN = Path(sys.executable).parent


async def _run(command: list[str], env: dict[str, str], *, limit_seconds: float) -> subprocess.CompletedProcess[str]:
    # In a thread: the producer under test is served by this same event loop.
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=limit_seconds, check=False
    )


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    'command',
    [
        [str(BIN / 'rulequeue'), 'worker', '--burst', '--concurrency', '4'],
        [str(BIN / 'arq'), 'worker.settings.WorkerSettings', '--burst'],
    ],
    ids=['rulequeue-worker', 'arq-cli'],
)
async def test_worker_processes_drain_the_queue(system: System, command: list[str]) -> None:
    await system.add_rule(TRIAGE)
    issue, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    assert responses[0].status_code == 202
    result = await _run(command, system.env(), limit_seconds=80)
    assert result.returncode == 0, result.stderr
    assert len(system.sim.comments[issue['key']]) == 1
    assert [e['status'] for e in await system.audit()] == ['SUCCESS']
    assert await snapshot_keys(system.settings) == []
    # One canonical JSON line per execution, with ids and outcome but no issue data.
    lines = [line for line in result.stderr.splitlines() if '"event": "execution"' in line]
    assert len(lines) == 1
    assert '"outcome": "done"' in lines[0]
    assert issue['key'] not in result.stderr
    assert system.sim.shared_secret not in result.stderr


SCHEMA_SQL = Path(__file__).resolve().parents[2] / 'schemas' / 'schema.sql'


async def test_migrate_is_idempotent(system: System) -> None:
    await migrate(system.pool, schema=system.settings.database_schema)
    result = await _run([str(BIN / 'rulequeue'), 'migrate'], system.env(), limit_seconds=30)
    assert result.returncode == 0, result.stderr
    assert 'up to date' in result.stdout
    tables = await system.pool.fetch(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1', system.settings.database_schema
    )
    schema_sql = SCHEMA_SQL.read_text()
    expected = set(re.findall(r'CREATE TABLE IF NOT EXISTS (\w+)', schema_sql))
    assert {'tenants', 'rules', 'audit_log', 'deliveries'} <= expected
    assert {t['table_name'] for t in tables} == expected
