"""Retention: old per-event records go after AUDIT_RETENTION_DAYS; an uninstalled tenant's data
after UNINSTALL_GRACE_DAYS, unless it re-installed meanwhile.

Both run as daily arq crons (one worker at a time) and delete in batches of
``constants.RETENTION_BATCH`` rows, one short statement each, so no delete holds locks for long
or bloats one transaction; a run stops at its deadline and the next run carries on.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from rulequeue import constants
from rulequeue.store.db import Pool
from rulequeue.store.deliveries import DONE_RETENTION_DAYS

log = structlog.get_logger('rulequeue.worker')

# Per-event records and the condition that makes a row old; $1 is the retention in days.
# Deliveries keep their own, shorter period (they only serve the reconciler).
_AGED: dict[str, str] = {
    'audit_log': 'created_at < now() - make_interval(days => $1)',
    'dead_letters': 'created_at < now() - make_interval(days => $1)',
    'forge_rejected_events': 'created_at < now() - make_interval(days => $1)',
    'evaluations': 'created_at < now() - make_interval(days => $1)',
    'outbox': 'coalesce(sent_at, created_at) < now() - make_interval(days => $1)',
    'deliveries': "state <> 'accepted' AND finished_at < now() - make_interval(days => $1)",
}
# Everything of a tenant, children before the tenant row; owner contacts live in rules and outbox.
TENANT_TABLES = (
    'audit_log',
    'evaluations',
    'outbox',
    'dead_letters',
    'forge_rejected_events',
    'deliveries',
    'rules',
    'forge_installations',
)
_STILL_UNINSTALLED = "EXISTS (SELECT 1 FROM tenants t WHERE t.client_key = $1 AND t.state = 'uninstalled')"


async def _delete_batches(pool: Pool, table: str, where: str, arg: Any, *, batch: int, until: float) -> int:
    """Delete rows of ``table`` matching ``where`` (with ``$1`` = arg), ``batch`` rows per statement."""
    sql = (
        f'DELETE FROM {table} WHERE ctid = ANY(ARRAY('  # noqa: S608 - table and clause are our constants
        f'SELECT ctid FROM {table} WHERE {where} LIMIT $2))'
    )
    total = 0
    while True:
        status = await pool.execute(sql, arg, batch)
        count = int(status.rsplit(' ', 1)[-1])
        total += count
        if count < batch or time.monotonic() >= until:
            return total


async def prune_old_records(
    pool: Pool,
    retention_days: int,
    *,
    batch: int = constants.RETENTION_BATCH,
    deadline_seconds: float = constants.RETENTION_RUN_SECONDS,
) -> dict[str, int]:
    """Delete audit entries, evaluations, dead letters, outbox mails and finished deliveries past retention."""
    until = time.monotonic() + deadline_seconds
    removed = {}
    for table, where in _AGED.items():
        days = min(retention_days, DONE_RETENTION_DAYS) if table == 'deliveries' else retention_days
        removed[table] = await _delete_batches(pool, table, where, days, batch=batch, until=until)
    if any(removed.values()):
        log.info('retention', removed=removed, retention_days=retention_days)
    return removed


async def purge_uninstalled(
    pool: Pool,
    grace_days: int,
    *,
    batch: int = constants.RETENTION_BATCH,
    deadline_seconds: float = constants.RETENTION_RUN_SECONDS,
) -> list[str]:
    """Delete every row of tenants uninstalled more than ``grace_days`` ago; returns their keys.

    Each batch re-checks that the tenant is still uninstalled, so a re-install racing the purge
    stops it; the tenant row goes last and only if it is still uninstalled past the grace.
    """
    until = time.monotonic() + deadline_seconds
    rows = await pool.fetch(
        "SELECT client_key FROM tenants WHERE state = 'uninstalled' "
        'AND uninstalled_at < now() - make_interval(days => $1) ORDER BY uninstalled_at',
        grace_days,
    )
    purged = []
    for row in rows:
        client_key = row['client_key']
        for table in TENANT_TABLES:
            where = f'client_key = $1 AND {_STILL_UNINSTALLED}'
            await _delete_batches(pool, table, where, client_key, batch=batch, until=until)
        if time.monotonic() >= until:
            break  # the tenant row last, once its rows are gone: its cascade would be one big delete
        status = await pool.execute(
            "DELETE FROM tenants WHERE client_key = $1 AND state = 'uninstalled' "
            'AND uninstalled_at < now() - make_interval(days => $2)',
            client_key,
            grace_days,
        )
        if status == 'DELETE 1':
            purged.append(client_key)
    if purged:
        log.info('uninstalled tenants purged', count=len(purged), grace_days=grace_days)
    return purged


def _deadline(ctx: dict[str, Any]) -> float:
    # Under the job's own timeout, so arq never cancels a run mid-statement.
    return float(min(constants.RETENTION_RUN_SECONDS, ctx['deps'].settings.job_timeout_seconds * 0.75))


async def retention_job(ctx: dict[str, Any]) -> int:
    """The daily arq cron: old per-event records."""
    deps = ctx['deps']
    removed = await prune_old_records(deps.pool, deps.settings.audit_retention_days, deadline_seconds=_deadline(ctx))
    return sum(removed.values())


async def uninstall_purge_job(ctx: dict[str, Any]) -> int:
    """The daily arq cron: tenants past the uninstall grace period."""
    deps = ctx['deps']
    purged = await purge_uninstalled(deps.pool, deps.settings.uninstall_grace_days, deadline_seconds=_deadline(ctx))
    return len(purged)
