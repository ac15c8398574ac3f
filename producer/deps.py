"""The producer's composition root: every resource it uses, built once from settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from arq.connections import ArqRedis

from rulequeue import queue
from rulequeue.connect.install_keys import InstallKeys
from rulequeue.crypto import Cipher
from rulequeue.errors import ServiceUnavailable
from rulequeue.forge.jwks import JwksCache
from rulequeue.metrics import ProducerMetrics
from rulequeue.settings import Settings
from rulequeue.store.db import Pool, create_pool
from worker.credentials import tenant_credentials
from worker.jira import JiraClient


@dataclass(frozen=True)
class Deps:
    settings: Settings
    redis: ArqRedis
    pool: Pool
    cipher: Cipher
    install_keys: InstallKeys
    metrics: ProducerMetrics
    # Outbound HTTP (install keys, and Jira reads of a rule dry-run); owned by open_deps.
    http: httpx.AsyncClient | None = None
    # Keys of Forge Invocation Tokens, fetched over ``http`` (producer/forge_routes.py).
    forge_jwks: JwksCache | None = None

    @property
    def base_path(self) -> str:
        """Path of APP_BASE_URL: requests are signed relative to it."""
        return urlsplit(self.settings.app_base_url).path


@contextlib.asynccontextmanager
async def open_deps(settings: Settings, *, http: httpx.AsyncClient | None = None) -> AsyncIterator[Deps]:
    """Open Redis, Postgres and an HTTP client; close them when the block ends."""
    async with contextlib.AsyncExitStack() as stack:
        client = http if http is not None else await stack.enter_async_context(httpx.AsyncClient(timeout=5.0))
        redis = await queue.connect(settings)
        stack.push_async_callback(redis.aclose)
        pool = await create_pool(settings.database_url, schema=settings.database_schema, max_size=10)
        stack.push_async_callback(pool.close)
        yield Deps(
            settings=settings,
            redis=redis,
            pool=pool,
            cipher=Cipher(settings.secret_keys),
            install_keys=InstallKeys(settings.connect_install_keys_url, client),
            # One registry per process (per app): never prometheus_client's global one.
            metrics=ProducerMetrics(),
            http=client,
            forge_jwks=JwksCache(client, cooldown_seconds=settings.forge_jwks_cooldown_seconds),
        )


def jira_client(deps: Deps) -> JiraClient:
    """The producer's own Jira client (a dry-run's issue read, a manual run's issue lookup), with
    both transports' credentials: a Forge tenant's calls carry its system token, never a JWT."""
    if deps.http is None:
        raise ServiceUnavailable('no outbound HTTP client')
    return JiraClient(
        deps.http,
        credentials=tenant_credentials(deps.settings.app_key, deps.pool, deps.cipher),
        timeout=deps.settings.jira_timeout_seconds,
    )
