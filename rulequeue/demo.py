"""``rulequeue demo``: the whole system against a simulated Jira site, checked at the end.

Starts (or uses) Redis and Postgres, the Jira simulator, the producer and a worker in one
process; installs the app with a signed install; loads ``examples/rules/``; plays a stream of
issue stories; then prints audit outcomes per rule against what each story should produce,
the calls Jira received, and a privacy check. Exits 1 if anything is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from arq.constants import in_progress_key_prefix, retry_key_prefix

from rulequeue import constants, demo_report, demo_triggers
from rulequeue.demo_scenarios import STALE_CRON
from rulequeue.embedded import embedded_postgres, embedded_redis
from rulequeue.logs import configure_logging
from rulequeue.serve import free_port, serve_in_background
from rulequeue.settings import Settings, load_settings
from rulequeue.simulator import JiraSimulator
from rulequeue.store.db import create_pool, migrate
from rulequeue.store.tenants import Transport

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples' / 'rules'
DRAIN_TIMEOUT_SECONDS = 180.0


@contextlib.asynccontextmanager
async def _services(stack_out: list[str]) -> AsyncIterator[tuple[str, str]]:
    """The user's DATABASE_URL/REDIS_URL when set, else private embedded servers."""
    async with contextlib.AsyncExitStack() as stack:
        db = os.environ.get('DATABASE_URL')
        redis_url = os.environ.get('REDIS_URL')
        if db is None:
            db = await stack.enter_async_context(embedded_postgres())
            stack_out.append(f'embedded PostgreSQL at {db}')
        else:
            stack_out.append('PostgreSQL from DATABASE_URL')
        if redis_url is None:
            # AOF on, as production should run it (README, 'Running Redis so nothing is lost').
            redis_url = await stack.enter_async_context(embedded_redis(appendonly=True))
            stack_out.append(f'embedded Redis at {redis_url}')
        else:
            stack_out.append('Redis from REDIS_URL')
        yield db, redis_url


def load_example_rules(directory: Path = EXAMPLES) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(directory.glob('*.json'))]


async def _drop_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def run_demo(events: int = 200, seed: int = 7, out: Any = None, transport: Transport = 'connect') -> int:
    out = out or sys.stdout
    configure_logging('warning', 'console', cache=False)
    notes: list[str] = []
    schema = 'rulequeue_demo_' + secrets.token_hex(4)
    async with _services(notes) as (db, redis_url):
        port = free_port()
        settings = load_settings(
            database_url=db,
            redis_url=redis_url,
            database_schema=schema,
            app_base_url=f'http://127.0.0.1:{port}',
            secret_key=os.environ.get('SECRET_KEY') or secrets.token_urlsafe(32),
            connect_install_keys_url='http://127.0.0.1:9',  # replaced below, once the simulator runs
            retry_base_seconds=0.2,
            retry_cap_seconds=2.0,
            # The demo plays the scheduler's tick itself (demo_triggers.scheduled_tick): the worker's own
            # cron would also run the example scheduled rule if the demo ran across its real tick.
            scheduler_enabled=False,
            forge_sweep_minutes=0,  # nothing the demo plays is older than the sweep's 3 minutes
            log_format='console',
            log_level='warning',
        )
        try:
            return await _run(settings, port, events, seed, notes, out, transport)
        finally:
            await _drop_schema(db, schema)


async def _run(
    settings: Settings, port: int, events: int, seed: int, notes: list[str], out: Any, transport: Transport
) -> int:
    from producer.app import create_app
    from worker.resilient import ResilientWorker
    from worker.settings import build_worker_settings

    sim = JiraSimulator()
    async with sim.running():
        settings = settings.model_copy(update={'connect_install_keys_url': sim.install_keys_url})
        if transport == 'forge':
            # Forge's JWKS and the site's REST API are the simulator's (FORGE_TEST_API_BASE_URL).
            forge = {**sim.forge.settings_overrides(sim.base_url), 'forge_test_api_base_url': sim.base_url}
            settings = settings.model_copy(update=forge)
            sim.forge.api_base_override = sim.base_url
        pool = await create_pool(settings.database_url, schema=settings.database_schema)
        await migrate(pool, schema=settings.database_schema)
        redis = aioredis.Redis.from_url(settings.redis_url)
        worker = ResilientWorker(**build_worker_settings(settings, handle_signals=False, poll_delay=0.05))
        worker_task = asyncio.create_task(worker.main())
        try:
            async with serve_in_background(create_app(settings), port=port) as url, httpx.AsyncClient() as http:
                over = 'Forge Remote' if transport == 'forge' else 'Atlassian Connect'
                print(f'rulequeue demo: {events} issue events against a simulated Jira site, over {over}', file=out)
                for note in notes:
                    print(f'  {note}', file=out)
                print(
                    f'  producer {url}, Jira simulator {sim.base_url}, worker concurrency '
                    f'{settings.worker_concurrency}',
                    file=out,
                )
                client_key = await _install(sim, url, transport, functools.partial(_settled, redis))
                rules = load_example_rules()
                for rule in rules:
                    request = http.build_request('POST', url + '/api/rules', json=rule)
                    request.headers['Authorization'] = demo_triggers.admin_authorization(sim, 'POST', str(request.url))
                    created = await http.send(request)
                    created.raise_for_status()
                print(f'  installed the app and loaded {len(rules)} rules from examples/rules/', file=out)
                played = await demo_report.play(sim, events, seed, out)
                if transport == 'forge':
                    # Forge deliveries are answered 204 without a body: the ids are the producer's.
                    played.delivery_ids = [
                        r['delivery_id'] for r in await pool.fetch('SELECT delivery_id FROM deliveries')
                    ]
                played.delivery_ids += await demo_triggers.scheduled_tick(sim, settings, pool, STALE_CRON, out)
                started = time.perf_counter()
                await _wait_for_executions(redis, client_key, played.delivery_ids)
                print(
                    f'  all {len(played.delivery_ids)} accepted deliveries executed in '
                    f'{time.perf_counter() - started:.1f} s',
                    file=out,
                )
                return await demo_report.report(settings, pool, redis, sim, played, out)
        finally:
            worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker_task
            await worker.close()
            await redis.aclose()
            await pool.close()


async def _install(sim: JiraSimulator, url: str, transport: Transport, settle: Callable[[], Awaitable[None]]) -> str:
    """Install the app over ``transport``; the tenant's client key.

    Over Forge the worker reads each issue when its rule runs (snapshot by fetch), so the demo
    lets each event run before the next change (``settle``), as people's changes are spaced;
    otherwise a rule would see a later state than its event, and the expected outcomes differ.
    """
    if transport == 'connect':
        await sim.install(url + '/atlassian-connect.json')
        return sim.client_key
    # A site that only ever had the Forge app: installed, then every change sent as Forge events
    # (Forge's own envelope, {"payload": ...}), and Jira read with the app system token.
    sim.forge_events.app_url = url
    sim.forge_events.envelope = 'payload'
    sim.forge_events.settle = settle
    installed = await sim.forge_events.lifecycle('installed')
    if installed is None or installed.status_code != 204:
        raise RuntimeError(f'the Forge install was answered {installed and installed.status_code}')
    return 'forge:' + sim.forge.cloud_id


async def _settled(redis: aioredis.Redis) -> None:
    """Until no execution is due or running (deferred ones, e.g. after a delay, may wait)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    prefix = in_progress_key_prefix.encode()
    while time.monotonic() < deadline:
        due = await redis.zcount(constants.QUEUE_NAME, '-inf', time.time() * 1000)
        # Executions' job ids are digests; the worker's crons are named rulequeue:<cron>:<time>.
        running = [k async for k in redis.scan_iter(match=in_progress_key_prefix + '*') if b':' not in k[len(prefix) :]]
        if not due and not running and not await _retrying(redis):
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f'executions did not settle within {DRAIN_TIMEOUT_SECONDS:.0f} s')


async def _retrying(redis: aioredis.Redis) -> bool:
    """Whether a queued job waits out a retry (after Jira's 429 + Retry-After): arq keeps its try
    counter until it ends. A deferred continuation after a delay has none, and is not waited for."""
    queued = await redis.zrange(constants.QUEUE_NAME, 0, -1)
    return bool(queued) and await redis.exists(*(retry_key_prefix + job.decode() for job in queued)) > 0


async def _wait_for_executions(redis: aioredis.Redis, client_key: str, delivery_ids: list[str]) -> None:
    """Until every accepted delivery has its done marker (written when its execution ends)."""
    keys = [constants.DONE_KEY.format(execution=constants.execution_id(client_key, d)) for d in delivery_ids]
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        # Then the executions those spawned (branch items, continuations after a delay) too.
        if (not keys or await redis.exists(*keys) == len(keys)) and not await redis.zcard(constants.QUEUE_NAME):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f'executions did not finish within {DRAIN_TIMEOUT_SECONDS:.0f} s')
