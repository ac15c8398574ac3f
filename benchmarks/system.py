"""The system under test, as the benchmarks set it up.

The Jira simulator runs in the benchmark's own process (it answers the worker's REST calls at
once; the benchmark process does nothing else while a measurement runs but sample Redis). The
app is installed with a real signed install; the producer, workers and load generator each run
in their own process, configured through the environment as in production.

Deviations from production defaults, all on purpose:

* the per-tenant rate limit is raised to 1,000,000/s (burst 10,000,000): the token bucket
  script still runs on every webhook, but never refuses one;
* ``JOB_COMPLETION_WAIT_SECONDS=0`` so workers stop at once when a measurement ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from benchmarks import common
from benchmarks.payloads import RULE, body_template, create_issues, render
from producer.app import create_app
from rulequeue import constants
from rulequeue.serve import serve_in_background
from rulequeue.settings import Settings, load_settings
from rulequeue.simulator import JiraSimulator
from rulequeue.store import rules
from rulequeue.store.db import Pool, create_pool, migrate
from schemas.rules import Rule


@dataclass
class Bench:
    settings: Settings
    sim: JiraSimulator
    pool: Pool
    redis: aioredis.Redis
    port: int
    template: str
    workdir: Path
    children: list[common.Process] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        s = self.settings
        return common.system_env(
            {
                'DATABASE_URL': s.database_url,
                'DATABASE_SCHEMA': s.database_schema or '',
                'REDIS_URL': s.redis_url,
                'APP_BASE_URL': s.app_base_url,
                'SECRET_KEY': s.secret_key.get_secret_value(),
                'CONNECT_INSTALL_KEYS_URL': s.connect_install_keys_url,
                'RATE_LIMIT_TENANT_PER_SECOND': str(s.rate_limit_tenant_per_second),
                'RATE_LIMIT_TENANT_BURST': str(s.rate_limit_tenant_burst),
                'JOB_COMPLETION_WAIT_SECONDS': str(s.job_completion_wait_seconds),
                'WORKER_CONCURRENCY': str(s.worker_concurrency),
                'LOG_FORMAT': s.log_format,
                'LOG_LEVEL': s.log_level,
                **self.forge_env,
            }
        )

    @property
    def forge_env(self) -> dict[str, str]:
        """The Forge settings (the simulator's JWKS and REST API), when the bench has Forge on."""
        s = self.settings
        if not s.forge_app_ids:
            return {}
        return {
            'FORGE_APP_IDS': ','.join(s.forge_app_ids),
            'FORGE_JWKS_URL': s.forge_jwks_url,
            'FORGE_STAGING_JWKS_URL': s.forge_staging_jwks_url,
            **({'FORGE_IC_JWKS_TEMPLATE': s.forge_ic_jwks_template} if s.forge_ic_jwks_template else {}),
            **({'FORGE_TEST_API_BASE_URL': s.forge_test_api_base_url} if s.forge_test_api_base_url else {}),
        }

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def log(self, name: str) -> Path:
        return self.workdir / f'{name}.log'

    # -- processes -------------------------------------------------------------------------

    def start_producer(self) -> common.Process:
        args = [common.RULEQUEUE, 'producer', '--host', '127.0.0.1', '--port', str(self.port)]
        process = common.start('producer', args, self.env, log=self.log('producer'))
        self.children.append(process)
        common.wait_for_port(self.port, process)
        return process

    def start_bare(self) -> common.Process:
        args = [*common.uvicorn_args('benchmarks.bare:app', self.port), '--log-level', 'warning', '--no-access-log']
        process = common.start('bare-asgi', args, self.env, log=self.log('bare'))
        self.children.append(process)
        common.wait_for_port(self.port, process)
        return process

    def start_workers(self, count: int, *, noop: bool = False) -> list[common.Process]:
        args = [common.PYTHON, '-m', 'benchmarks.noop_worker'] if noop else [common.RULEQUEUE, 'worker']
        started = []
        for n in range(count):
            name = f'{"noop-" if noop else ""}worker-{n}'
            started.append(common.start(name, args, self.env, log=self.log(name)))
        self.children.extend(started)
        return started

    def stop(self, processes: Sequence[common.Process]) -> None:
        for process in processes:
            process.stop()
            if process in self.children:
                self.children.remove(process)

    # -- load ------------------------------------------------------------------------------

    async def loadgen(self, **spec: Any) -> dict[str, Any]:
        """Run the load generator process against ``self.port``; its decoded output."""
        secret = self.sim.shared_secret
        assert secret is not None
        full = {
            'port': self.port,
            'secret': secret,
            'issuer': self.sim.client_key,
            'template': self.template,
            **spec,
        }
        spec_path = self.workdir / 'loadgen-spec.json'
        out_path = self.workdir / 'loadgen-out.json'
        spec_path.write_text(json.dumps(full))
        out_path.unlink(missing_ok=True)
        process = await asyncio.create_subprocess_exec(
            common.PYTHON,
            '-m',
            'benchmarks.loadgen',
            str(spec_path),
            str(out_path),
            env=self.env,
            cwd=common.ROOT,
        )
        code = await process.wait()
        if code != 0:
            raise RuntimeError(f'load generator exited with {code}')
        result: dict[str, Any] = json.loads(out_path.read_text())
        return result

    async def enqueue(self, first_index: int, count: int, prefix: str, concurrency: int = 32) -> None:
        """Queue ``count`` deliveries through the producer's own service function (no HTTP)."""
        from producer.deps import open_deps
        from producer.services import Outcome, accept_webhook
        from rulequeue.store.tenants import get_tenant
        from schemas.events import WebhookEvent

        async with open_deps(self.settings) as deps:
            tenant = await get_tenant(deps.pool, deps.cipher, self.sim.client_key)
            assert tenant is not None
            semaphore = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                body = render(self.template, first_index + i)
                event = WebhookEvent.model_validate_json(body)
                async with semaphore:
                    outcome = await accept_webhook(deps, tenant, f'{prefix}-{i:07d}', event, body)
                if outcome is not Outcome.ACCEPTED:
                    raise RuntimeError(f'delivery {i} was {outcome}')

            await asyncio.gather(*(one(i) for i in range(count)))

    async def queue_depth(self) -> int:
        return int(await self.redis.zcard(constants.QUEUE_NAME))

    async def reset_queue(self) -> None:
        """Empty the Redis database (between phases; nothing may be running)."""
        await self.redis.flushdb()


@contextlib.asynccontextmanager
async def bench_system(
    *, issues: int = 0, concurrency: int = constants.DEFAULT_CONCURRENCY, forge: bool = False
) -> AsyncIterator[Bench]:
    """Schema, Redis db, simulator with ``issues`` issues, installed app and the benchmark rule.

    With ``forge``, Forge is configured too (as tests/harness.py does): the simulator's JWKS
    and its REST API as the tokens' apiBaseUrl. The Forge app is not installed.
    """
    with common.redis_database() as redis_url, tempfile.TemporaryDirectory(prefix='rulequeue-bench-') as workdir:
        schema = common.new_schema_name()
        sim = JiraSimulator()
        try:
            async with sim.running():
                create_issues(sim, issues)
                port = common.free_port()
                forge_settings: dict[str, object] = {}
                if forge:
                    sim.forge.api_base_override = sim.base_url
                    forge_settings = {
                        **sim.forge.settings_overrides(sim.base_url),
                        'forge_test_api_base_url': sim.base_url,
                    }
                settings = load_settings(
                    database_url=common.DATABASE_URL,
                    database_schema=schema,
                    redis_url=redis_url,
                    app_base_url=f'http://127.0.0.1:{port}',
                    secret_key=common.SECRET_KEY,
                    connect_install_keys_url=sim.install_keys_url,
                    rate_limit_tenant_per_second=1_000_000.0,
                    rate_limit_tenant_burst=10_000_000,
                    job_completion_wait_seconds=0,
                    worker_concurrency=concurrency,
                    log_format='json',
                    log_level='info',
                    **forge_settings,
                )
                pool = await create_pool(settings.database_url, schema=schema, max_size=4)
                redis = aioredis.Redis.from_url(redis_url)
                try:
                    await migrate(pool, schema=schema)
                    # Install over real HTTP with the in-process producer, then free the port.
                    async with serve_in_background(create_app(settings), port=port) as url:
                        await sim.install(url + '/atlassian-connect.json')
                    await rules.create_rule(pool, sim.client_key, Rule.model_validate(RULE))
                    bench = Bench(settings, sim, pool, redis, port, body_template(sim.base_url), Path(workdir))
                    try:
                        yield bench
                    finally:
                        bench.stop(list(bench.children))
                finally:
                    await redis.aclose()
                    await pool.close()
        finally:
            await common.drop_schema(schema)


async def wait_until_drained(
    bench: Bench, total: int, limit_seconds: float, interval: float = 0.01
) -> list[tuple[float, int]]:
    """Sample the queue size until it is empty; ``(monotonic time, depth)`` samples."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        depth = await bench.queue_depth()
        samples.append((time.monotonic(), depth))
        if depth == 0:
            return samples
        await asyncio.sleep(interval)
    raise RuntimeError(f'queue not drained within {limit_seconds:.0f} s ({samples[-1][1]} of {total} left)')


def steady_rate(samples: Sequence[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9) -> float:
    """Completions per second between ``low`` and ``high`` of the work done (start-up and tail excluded)."""

    def when(fraction: float) -> float:
        target = total * (1 - fraction)
        for (t0, d0), (t1, d1) in itertools.pairwise(samples):
            if d0 <= target:
                return t0
            if d1 <= target:
                return t0 + (t1 - t0) * (d0 - target) / (d0 - d1)
        return samples[-1][0]

    t_low, t_high = when(low), when(high)
    return (high - low) * total / (t_high - t_low) if t_high > t_low else float('nan')
