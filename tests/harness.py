"""The whole system in one event loop, for integration and end-to-end tests.

The producer is served over real HTTP on a free port, the Jira simulator on another, and a
burst arq worker drains the queue on demand. Nothing is mocked but Jira.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from arq.worker import Worker

from producer.app import create_app
from rulequeue import constants
from rulequeue.serve import free_port, serve_in_background
from rulequeue.settings import Settings
from rulequeue.simulator import JiraSimulator
from rulequeue.store.db import Pool, create_pool, migrate
from tests.conftest import make_settings
from worker.settings import build_worker_settings


@dataclass
class System:
    settings: Settings
    sim: JiraSimulator
    url: str
    http: httpx.AsyncClient
    pool: Pool

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a `rulequeue`/`arq` subprocess needs to join this system."""
        return {
            **os.environ,
            'DATABASE_URL': self.settings.database_url,
            'DATABASE_SCHEMA': self.settings.database_schema or '',
            'REDIS_URL': self.settings.redis_url,
            'APP_BASE_URL': self.settings.app_base_url,
            'SECRET_KEY': self.settings.secret_key.get_secret_value(),
            'LOG_FORMAT': 'json',
            'WORKER_METRICS_PORT': '0',
            **extra,
        }

    async def drain(self, **overrides: Any) -> Worker:
        """Run a burst worker until the queue is empty (deferred retries included)."""
        kwargs = build_worker_settings(self.settings, burst=True, poll_delay=0.01, handle_signals=False, **overrides)
        worker = Worker(**kwargs)
        try:
            await worker.main()
        finally:
            await worker.close()
        return worker

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the rules/audit API as the tenant's app page would (a request-bound token)."""
        request = self.http.build_request(method, self.url + path, **kwargs)
        token = self.sim.sign_request(method, str(request.url))
        request.headers['Authorization'] = f'JWT {token}'
        return await self.http.send(request)

    async def add_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        response = await self.api('POST', '/api/rules', json=rule)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def audit(self, **params: str) -> list[dict[str, Any]]:
        response = await self.api('GET', '/api/audit', params=params)
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()['entries']
        return entries


async def redis_keys(settings: Settings, pattern: str = '*') -> list[bytes]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        return [k async for k in client.scan_iter(match=pattern)]
    finally:
        await client.aclose()


async def snapshot_keys(settings: Settings) -> list[bytes]:
    return await redis_keys(settings, constants.snapshot_pattern())


@contextlib.asynccontextmanager
async def running_system(
    schema: str, *, install: bool = True, forge: bool = False, **overrides: Any
) -> AsyncIterator[System]:
    """Producer and simulator; ``install`` installs the Connect app. With ``forge``, Forge is
    configured too (the simulator's JWKS, its REST API as the apiBaseUrl); the site's Forge sends
    nothing until :func:`install_forge` installs the Forge app."""
    sim = JiraSimulator()
    async with sim.running():
        port = free_port()
        overrides.setdefault('connect_install_keys_url', sim.install_keys_url)
        if forge:
            sim.forge.api_base_override = sim.base_url
            overrides = {
                **sim.forge.settings_overrides(sim.base_url),
                'forge_test_api_base_url': sim.base_url,
                **overrides,
            }
        settings = make_settings(schema, app_base_url=f'http://127.0.0.1:{port}', **overrides)
        pool = await create_pool(settings.database_url, schema=schema)
        await migrate(pool, schema=schema)
        try:
            async with (
                serve_in_background(create_app(settings), port=port) as url,
                httpx.AsyncClient(timeout=10) as http,
            ):
                system = System(settings, sim, url, http, pool)
                if install:
                    await sim.install(url + '/atlassian-connect.json')
                yield system
        finally:
            await pool.close()


async def install_forge(system: System) -> None:
    """The site's admin installs the Forge app: from now on Forge calls the producer, first its
    lifecycle route (204)."""
    system.sim.forge_events.app_url = system.url
    answer = await system.sim.forge_events.lifecycle('installed')
    assert answer is not None
    assert answer.status_code == 204, answer.text
