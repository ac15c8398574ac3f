"""Accepted deliveries: the durable record that lets a reconciler re-run what Redis lost."""

from __future__ import annotations

from typing import Any

from rulequeue.store.db import Pool, row_dict, storable
from rulequeue.store.dead_letters import envelope_of
from schemas.events import WebhookEvent
from schemas.job_options import JobOptions

DONE_RETENTION_DAYS = 7


async def record(
    pool: Pool,
    client_key: str,
    delivery_id: str,
    execution_id: str,
    event: WebhookEvent,
    *,
    licensed: bool = True,
    options: JobOptions | None = None,
) -> None:
    await pool.execute(
        """
        INSERT INTO deliveries (client_key, delivery_id, execution_id, issue_key, issue_id, envelope, licensed,
                                job_options)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (client_key, delivery_id) DO NOTHING
        """,
        client_key,
        delivery_id,
        execution_id,
        event.issue.key,
        event.issue.id,
        storable(envelope_of(event)),
        licensed,
        storable(options.storable()) if options is not None else None,
    )


async def name_issue(pool: Pool, client_key: str, delivery_id: str, issue_key: str) -> None:
    """Fill in the key of a delivery admitted with its issue's id only (a link or worklog event),
    once the worker has read the issue (producer/link_worklog.py)."""
    await pool.execute(
        "UPDATE deliveries SET issue_key = $3 WHERE client_key = $1 AND delivery_id = $2 AND issue_key = ''",
        client_key,
        delivery_id,
        issue_key,
    )


async def finished(pool: Pool, client_key: str, delivery_id: str, outcome: str) -> None:
    await pool.execute(
        'UPDATE deliveries SET state = $3, finished_at = now() WHERE client_key = $1 AND delivery_id = $2',
        client_key,
        delivery_id,
        outcome,
    )


async def overdue(pool: Pool, older_than_seconds: float, limit: int = 100) -> list[dict[str, Any]]:
    """Deliveries accepted long enough ago that they should have run, oldest first."""
    rows = await pool.fetch(
        """
        SELECT * FROM deliveries
        WHERE state = 'accepted' AND received_at < now() - make_interval(secs => $1)
        ORDER BY received_at LIMIT $2
        """,
        older_than_seconds,
        limit,
    )
    return [row_dict(r) for r in rows]


async def count_requeue(pool: Pool, client_key: str, delivery_id: str) -> None:
    await pool.execute(
        'UPDATE deliveries SET requeued = requeued + 1 WHERE client_key = $1 AND delivery_id = $2',
        client_key,
        delivery_id,
    )


async def prune(pool: Pool) -> None:
    await pool.execute(
        "DELETE FROM deliveries WHERE state <> 'accepted' AND finished_at < now() - make_interval(days => $1)",
        DONE_RETENTION_DAYS,
    )


async def exists(pool: Pool, client_key: str, delivery_id: str) -> bool:
    """Whether the delivery was recorded: the durable half of a duplicate check."""
    found = await pool.fetchval(
        'SELECT 1 FROM deliveries WHERE client_key = $1 AND delivery_id = $2', client_key, delivery_id
    )
    return found is not None
