"""The dead-letter table: executions that ran out of attempts, kept for inspection and replay."""

from __future__ import annotations

from typing import Any

from rulequeue.store.db import Pool, row_dict, storable
from schemas.events import ISSUE_LINK_CREATED, WORKLOG_CREATED, WebhookEvent

MAX_ERROR_TEXT = 500


def envelope_of(event: WebhookEvent) -> dict[str, Any]:
    """What a replay needs to match triggers again, without any field value."""
    items = event.changelog.items if event.changelog else []
    return {
        'webhookEvent': event.webhookEvent,
        'issue_event_type_name': event.issue_event_type_name,
        'changelog': {'items': [{'field': i.field, 'fieldId': i.fieldId} for i in items]},
        **link_worklog_ids(event),
    }


def link_worklog_ids(event: WebhookEvent) -> dict[str, Any]:
    """A link event's link (ids and link type: configuration, not issue data) or a worklog
    event's ids; nothing for other events."""
    extra = event.model_extra or {}
    link, worklog = extra.get('issueLink'), extra.get('worklog')
    if isinstance(link, dict) and event.webhookEvent == ISSUE_LINK_CREATED:
        wanted = ('id', 'sourceIssueId', 'destinationIssueId', 'issueLinkType')
        return {'issueLink': {name: link[name] for name in wanted if name in link}}
    if isinstance(worklog, dict) and event.webhookEvent == WORKLOG_CREATED:
        return {'worklog': {name: worklog[name] for name in ('id', 'issueId') if name in worklog}}
    return {}


async def record(
    pool: Pool,
    *,
    client_key: str,
    delivery_id: str,
    execution_id: str,
    event: WebhookEvent,
    rule_ids: list[str],
    error: str,
    attempts: int,
) -> None:
    await pool.execute(
        """
        INSERT INTO dead_letters (client_key, delivery_id, execution_id, issue_key, issue_id, envelope,
                                  rule_ids, error, attempts, job_options)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                -- The job's options (schemas/job_options.py), as admitted: a replay queues the same part.
                (SELECT job_options FROM deliveries WHERE client_key = $1 AND delivery_id = $2))
        ON CONFLICT (client_key, delivery_id) DO NOTHING
        """,
        client_key,
        delivery_id,
        execution_id,
        event.issue.key,
        event.issue.id,
        storable(envelope_of(event)),
        rule_ids,
        storable(error[:MAX_ERROR_TEXT]),
        attempts,
    )


async def listing(pool: Pool, limit: int = 50) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        'SELECT id, client_key, delivery_id, issue_key, error, attempts, created_at, replayed_at '
        'FROM dead_letters ORDER BY id DESC LIMIT $1',
        limit,
    )
    return [row_dict(r) for r in rows]


async def get(pool: Pool, letter_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow('SELECT * FROM dead_letters WHERE id = $1', letter_id)
    return None if row is None else row_dict(row)


async def mark_replayed(pool: Pool, letter_id: int, replay_delivery_id: str) -> None:
    await pool.execute(
        'UPDATE dead_letters SET replayed_at = now(), replay_delivery_id = $2 WHERE id = $1',
        letter_id,
        replay_delivery_id,
    )
