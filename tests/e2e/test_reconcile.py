"""Nothing accepted is lost: a delivery whose job Redis lost is found and run by the reconciler."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from rulequeue.crypto import Cipher
from rulequeue.simulator import ALICE
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, snapshot_keys
from worker.deps import WorkerDeps
from worker.jira import JiraClient
from worker.reconcile import reconcile


async def test_delivery_lost_by_redis_is_run_again(system: System, redis: aioredis.Redis) -> None:
    await system.add_rule(TRIAGE)
    issue, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    assert responses[0].status_code == 202
    row = await system.pool.fetchrow('SELECT state, envelope FROM deliveries')
    assert row is not None
    assert row['state'] == 'accepted'
    assert 's' not in str(row['envelope'].get('summary', ''))  # ids and field names only
    await redis.flushdb()  # Redis lost its data: job, snapshot and all
    from rulequeue import queue

    arq_redis = await queue.connect(system.settings)
    async with httpx.AsyncClient() as http:
        deps = WorkerDeps(
            settings=system.settings,
            redis=arq_redis,
            pool=system.pool,
            cipher=Cipher(system.settings.secret_keys),
            jira=JiraClient(http, app_key='rulequeue', timeout=5),
        )
        assert await reconcile(deps, deadline_seconds=0) == 1
        assert await reconcile(deps, deadline_seconds=0) == 0  # queued now: not twice
    await arq_redis.aclose()
    await system.drain()
    assert len(system.sim.comments[issue['key']]) == 1
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    state = await system.pool.fetchval('SELECT state FROM deliveries')
    assert state == 'done'
    assert await snapshot_keys(system.settings) == []


async def test_finished_deliveries_are_closed(system: System) -> None:
    await system.add_rule(TRIAGE)
    await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    await system.drain()
    rows = await system.pool.fetch('SELECT state, finished_at FROM deliveries')
    assert [(r['state'], r['finished_at'] is not None) for r in rows] == [('done', True)]
