"""Forge deliveries we acknowledged but could not use, with the reason (FORGE.md 8.7).

Forge re-delivers every non-2xx answer four times, so a malformed, unknown or oversize event is
answered 2xx and parked here instead. Not the ``dead_letters`` table: those are executions that
ran out of attempts and can be replayed; these never became executions, and no body is kept
(it may hold issue data and cannot be run anyway). Ids, the event type and the reason only.
"""

from __future__ import annotations

import re
from typing import Any

from rulequeue.store.db import Pool, row_dict, storable

MAX_REASON_TEXT = 300
# Only an event type that looks like one is kept: it comes from an unusable body.
_EVENT_TYPE = re.compile(r'^[a-z]+(?::[a-z_]+){1,4}$')


async def record(
    pool: Pool,
    *,
    client_key: str,
    installation_id: str,
    route: str,
    reason: str,
    event_type: str | None = None,
    retry_count: int = 0,
) -> None:
    kept_type = (
        event_type if event_type is not None and len(event_type) <= 100 and _EVENT_TYPE.match(event_type) else None
    )
    await pool.execute(
        """
        INSERT INTO forge_rejected_events (client_key, installation_id, route, event_type, reason, retry_count)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        client_key,
        installation_id,
        route,
        kept_type,
        storable(reason[:MAX_REASON_TEXT]),
        max(0, min(retry_count, 1000)),
    )


async def listing(pool: Pool, client_key: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        'SELECT id, installation_id, route, event_type, reason, retry_count, created_at '
        'FROM forge_rejected_events WHERE client_key = $1 ORDER BY id DESC LIMIT $2',
        client_key,
        limit,
    )
    return [row_dict(r) for r in rows]
