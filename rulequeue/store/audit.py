"""Audit entries: one row per (delivery, rule), written by the worker, read by the API."""

from __future__ import annotations

from typing import Any

from rulequeue.store.db import Executor, Pool, row_dict, storable
from schemas.audit import AuditEntry

MAX_AUDIT_PAGE = 500


async def record(pool: Executor, entry: AuditEntry) -> bool:
    """Insert the entry; False if this (delivery, rule) already has one (a retry or re-delivery).

    ``pool`` may be a connection inside a transaction that writes related rows (the outbox).
    """
    status = await pool.execute(
        """
        INSERT INTO audit_log (client_key, rule_id, rule_name, rule_version, status, issue_key, issue_id,
                               delivery_id, event_type, actions, messages, attempts, started_at, duration_ms)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (client_key, delivery_id, rule_id) DO NOTHING
        """,
        entry.client_key,
        entry.rule_id,
        entry.rule_name,
        entry.rule_version,
        entry.status.value,
        entry.issue_key,
        entry.issue_id,
        entry.delivery_id,
        entry.event_type,
        storable([a.model_dump(mode='json') for a in entry.actions]),
        storable(entry.messages),
        entry.attempts,
        entry.started_at,
        entry.duration_ms,
    )
    return bool(status == 'INSERT 0 1')


async def audited_rules(pool: Pool, client_key: str, delivery_id: str) -> set[str]:
    """Rule ids that already have an audit row for this delivery (skipped on a retry)."""
    rows = await pool.fetch(
        'SELECT rule_id FROM audit_log WHERE client_key = $1 AND delivery_id = $2', client_key, delivery_id
    )
    return {str(r['rule_id']) for r in rows}


async def search(
    pool: Pool,
    client_key: str,
    *,
    issue: str | None = None,
    rule: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first, filtered; ``limit`` is capped at MAX_AUDIT_PAGE."""
    clauses = ['client_key = $1']
    args: list[Any] = [client_key]
    for column, value in (('issue_key', issue), ('rule_id::text', rule), ('status', status)):
        if value is not None:
            args.append(value)
            clauses.append(f'{column} = ${len(args)}')
    args.append(max(1, min(limit, MAX_AUDIT_PAGE)))
    rows = await pool.fetch(
        f'SELECT * FROM audit_log WHERE {" AND ".join(clauses)} ORDER BY id DESC LIMIT ${len(args)}',  # noqa: S608
        *args,
    )
    entries = []
    for row in rows:
        data = row_dict(row)
        data['rule_id'] = str(data['rule_id'])
        entries.append(AuditEntry.model_validate(data))
    return entries
