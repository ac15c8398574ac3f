"""Redis or Postgres unreachable: 503 so Jira retries, and nothing half-accepted.

These tests start private servers (never touching the shared ones) and stop them mid-test.
"""

from __future__ import annotations

import pytest

from rulequeue.embedded import embedded_postgres, embedded_redis
from tests.harness import running_system


@pytest.mark.timeout(90)
async def test_redis_down_answers_503_and_readyz_fails(schema: str) -> None:
    async with embedded_redis() as redis_url, running_system(schema, redis_url=redis_url) as system:
        _, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='before')
        assert [r.status_code for r in responses] == [202]
        # Stop the private Redis under the running producer.
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_url)
        await client.shutdown(nosave=True)
        await client.aclose()
        _, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='during')
        assert [r.status_code for r in responses] == [503]
        assert 'retry' in responses[0].json()['error']
        ready = await system.http.get(system.url + '/readyz')
        assert ready.status_code == 503
        assert ready.json()['checks']['redis'].startswith('failing')


@pytest.mark.timeout(90)
async def test_postgres_down_answers_503(redis: object) -> None:
    async with embedded_postgres() as dsn, running_system('public', database_url=dsn) as system:
        await system.pool.close()
        import asyncpg

        conn = await asyncpg.connect(dsn.rsplit('/', 1)[0] + '/template1')
        # Terminate every other backend and stop accepting connections to this database.
        await conn.execute('ALTER DATABASE postgres ALLOW_CONNECTIONS false')
        await conn.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()')
        await conn.close()
        _, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='x')
        assert [r.status_code for r in responses] == [503]
        ready = await system.http.get(system.url + '/readyz')
        assert ready.status_code == 503
        assert ready.json()['checks']['postgres'].startswith('failing')


@pytest.mark.timeout(90)
async def test_worker_retries_through_a_postgres_outage(redis: object) -> None:
    """Postgres refusing connections is transient for the worker: the execution waits it out."""
    import asyncio

    import asyncpg

    from rulequeue.simulator import ALICE
    from tests.e2e.test_pipeline import TRIAGE

    async with (
        embedded_postgres() as dsn,
        running_system('public', database_url=dsn, max_attempts=50) as system,
    ):
        await system.add_rule(TRIAGE)
        issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='x', reporter=ALICE)
        admin = await asyncpg.connect(dsn.rsplit('/', 1)[0] + '/template1')
        await admin.execute('ALTER DATABASE postgres ALLOW_CONNECTIONS false')
        await admin.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()')
        drain = asyncio.create_task(system.drain())
        await asyncio.sleep(1.5)
        assert not drain.done()
        await admin.execute('ALTER DATABASE postgres ALLOW_CONNECTIONS true')
        await admin.close()
        await asyncio.wait_for(drain, timeout=60)
        assert len(system.sim.comments[issue['key']]) == 1
        entries = await system.audit()
        assert [e['status'] for e in entries] == ['SUCCESS']
        assert entries[0]['attempts'] > 1


@pytest.mark.timeout(90)
async def test_postgres_stopped_mid_execution_then_started_runs_it_once(redis: object) -> None:
    """A real Postgres shutdown under a worker process: the execution retries, nothing repeats."""
    import asyncio
    import signal
    import sys
    from pathlib import Path

    import redis.asyncio as aioredis
    from arq.constants import in_progress_key_prefix

    from rulequeue.embedded import postgres_server
    from rulequeue.simulator import ALICE
    from tests.e2e.test_pipeline import TRIAGE

    async with (
        postgres_server() as server,
        running_system('public', database_url=server.url, max_attempts=50) as system,
    ):
        await system.add_rule(TRIAGE)
        env = system.env(MAX_ATTEMPTS='50', RETRY_BASE_SECONDS='0.2', RETRY_CAP_SECONDS='1')
        rulequeue = str(Path(sys.executable).parent / 'rulequeue')
        worker = await asyncio.create_subprocess_exec(
            rulequeue, 'worker', env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            system.sim.delay_seconds = 1.0  # the execution is in its Jira calls when Postgres stops
            issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='x', reporter=ALICE)
            # Stop Postgres only once the worker process runs the execution (its start is slow on a busy machine).
            running = aioredis.Redis.from_url(system.settings.redis_url)
            try:
                for _ in range(300):
                    keys = [k async for k in running.scan_iter(match=in_progress_key_prefix + '*')]
                    # An execution (its job id is a digest), not one of the worker's crons (rulequeue:<name>:<time>).
                    if any(b':' not in k[len(in_progress_key_prefix) :] for k in keys):
                        break
                    await asyncio.sleep(0.1)
            finally:
                await running.aclose()
            await asyncio.sleep(0.3)
            await server.stop()  # fast shutdown: every session ends, new ones are refused
            await asyncio.sleep(4.0)
            await server.start()
            system.sim.delay_seconds = 0.0
            entries: list[dict[str, object]] = []
            for _ in range(300):
                entries = await system.audit()
                if entries:
                    break
                await asyncio.sleep(0.1)
            assert worker.returncode is None, 'the worker exited while Postgres was down'
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = await worker.communicate()
        assert worker.returncode == 0, stderr.decode()[-2000:]
        assert [e['status'] for e in entries] == ['SUCCESS']
        assert entries[0]['attempts'] > 1, 'Postgres stopped while nothing needed it'
        assert len(system.sim.comments[issue['key']]) == 1
        transitions = [c for c in system.sim.calls if c.method == 'POST' and c.path.endswith('/transitions')]
        assert len([c for c in transitions if c.status == 204]) == 1
