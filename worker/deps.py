"""What an execution works with and how it reports back: the worker's resources, its summary,
and the one exception that asks arq to run it again later.

Kept apart from worker.execute so the arq job, the scheduler, the reconciler and the demo can
build and use them without the execution logic.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import httpx
from redis.asyncio import Redis

from rulequeue import queue
from rulequeue.crypto import Cipher
from rulequeue.settings import Settings
from rulequeue.store.db import Pool
from worker.credentials import tenant_credentials
from worker.jira import JiraClient
from worker.web_request import WebRequester

# Postgres unreachable or failing: the execution retries within its budget (worker.endings).
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)


@dataclass(frozen=True)
class WorkerDeps:
    settings: Settings
    redis: Redis
    pool: Pool
    cipher: Cipher
    jira: JiraClient
    web: WebRequester | None = None  # the web_request action's guarded client


class RetryLater(Exception):
    """Run the execution again after ``defer`` seconds: a transient failure, or a wait."""

    def __init__(self, defer: float, reason: str, *, waiting: bool = False) -> None:
        super().__init__(reason)
        self.defer = defer
        self.reason = reason
        self.waiting = waiting


@dataclass
class Summary:
    outcome: str
    rules_matched: int = 0
    statuses: list[str] = field(default_factory=list)
    attempts: int = 1

    @property
    def dead_lettered(self) -> bool:
        """Whether a dead letter was recorded (giving up with no rule left to fail records none)."""
        return self.outcome == 'retries-exhausted' or (self.outcome == 'dead-lettered' and bool(self.statuses))


@contextlib.asynccontextmanager
async def borrowed_deps(settings: Settings, pool: Pool) -> AsyncIterator[WorkerDeps]:
    """WorkerDeps around a Postgres pool the caller owns, for work done outside a worker process
    (the demo's scheduler tick, tests calling the scheduler or the reconciler): its own Redis
    connection and HTTP client, closed at the end; Jira called with both transports' credentials."""
    redis = await queue.connect(settings)
    cipher = Cipher(settings.secret_keys)
    try:
        async with httpx.AsyncClient() as http:
            credentials = tenant_credentials(settings.app_key, pool, cipher)
            jira = JiraClient(http, timeout=settings.jira_timeout_seconds, credentials=credentials)
            yield WorkerDeps(settings=settings, redis=redis, pool=pool, cipher=cipher, jira=jira)
    finally:
        await redis.aclose()
