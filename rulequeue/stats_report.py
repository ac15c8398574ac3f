"""``rulequeue health`` and ``rulequeue stats``: connect, read, print. The figures come from
:mod:`rulequeue.stats` and :mod:`rulequeue.worker_health`."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TextIO

from redis.asyncio import Redis

from rulequeue.settings import Settings
from rulequeue.stats import WINDOWS, QueueStats, collect_stats
from rulequeue.store.db import Pool, create_pool
from rulequeue.worker_health import health_report

CLEAR_SCREEN = '\x1b[H\x1b[2J'


@asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Redis]:
    redis = Redis.from_url(settings.redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def check_health(settings: Settings, *, any_host: bool) -> tuple[bool, str]:
    async with _redis(settings) as redis:
        return await health_report(redis, now=time.time(), host=None if any_host else socket.gethostname())


def render_table(stats: QueueStats, now: datetime) -> str:
    """The readable form: queue figures, executions per minute, top tenants, workers."""
    lines = [
        f'rulequeue stats at {now.isoformat(timespec="seconds")}',
        '',
        f'  ready      {stats.ready:>8}   (due now, not running)',
        f'  deferred   {stats.deferred:>8}   (retry back-off, ordering waits)',
        f'  running    {stats.running:>8}',
        f'  lag        {stats.oldest_ready_age_seconds:>8.1f} s (oldest ready job)',
        f'  dead       {stats.dead_letters:>8}   (dead letters)',
        '',
        'executions per minute  ' + ''.join(f'{w:>8}' for w in WINDOWS),
    ]
    for status in stats.executions_per_minute['1m']:
        figures = ''.join(f'{stats.executions_per_minute[w][status]:>8.1f}' for w in WINDOWS)
        lines.append(f'  {status:<21}{figures}')
    lines += ['', 'top tenants by backlog']
    if not stats.top_tenants:
        lines.append('  (no queued jobs)')
    for tenant in stats.top_tenants:
        lines.append(
            f'  {tenant.backlog:>6}  ready {tenant.ready:>6}  deferred {tenant.deferred:>6}  {tenant.client_key}'
        )
    lines += ['', 'worker processes']
    if not stats.workers:
        lines.append('  (none alive)')
    for w in stats.workers:
        lines.append(
            f'  {w.host}:{w.pid:<8} heartbeat {w.heartbeat_age_seconds:>5.1f} s ago  done {w.jobs_done:>7}'
            f'  failed {w.jobs_failed:>5}  running {w.jobs_running:>3}/{w.concurrency}'
        )
    return '\n'.join(lines)


async def _print_once(redis: Redis, pool: Pool, *, as_json: bool, out: TextIO) -> None:
    now = datetime.now(UTC)
    stats = await collect_stats(redis, pool, now=now)
    if as_json:
        print(json.dumps(stats.model_dump(mode='json')), file=out, flush=True)
    else:
        print(render_table(stats, now), file=out, flush=True)


async def print_stats(
    settings: Settings, *, as_json: bool, watch_seconds: float | None, out: TextIO = sys.stdout
) -> None:
    """Print the stats once, or every ``watch_seconds`` until interrupted (one JSON line each with --json)."""
    pool = await create_pool(settings.database_url, schema=settings.database_schema, min_size=1, max_size=1)
    try:
        async with _redis(settings) as redis:
            await _print_once(redis, pool, as_json=as_json, out=out)
            while watch_seconds is not None:
                await asyncio.sleep(watch_seconds)
                if not as_json and out.isatty():
                    print(CLEAR_SCREEN, end='', file=out)
                await _print_once(redis, pool, as_json=as_json, out=out)
    finally:
        await pool.close()
