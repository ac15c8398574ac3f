"""The tenant's allow-list of hosts the ``web_request`` action may call."""

from __future__ import annotations

from collections.abc import Sequence

from rulequeue.store.db import Pool

MAX_HOSTS = 100


async def hosts(pool: Pool, client_key: str) -> list[str]:
    rows = await pool.fetch('SELECT pattern FROM web_request_hosts WHERE client_key = $1 ORDER BY pattern', client_key)
    return [row['pattern'] for row in rows]


async def replace(pool: Pool, client_key: str, patterns: Sequence[str]) -> list[str]:
    """Set the allow-list to ``patterns`` (already validated), in one transaction."""
    unique = sorted({p.lower() for p in patterns})
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute('DELETE FROM web_request_hosts WHERE client_key = $1', client_key)
        await conn.executemany(
            'INSERT INTO web_request_hosts (client_key, pattern) VALUES ($1, $2)', [(client_key, p) for p in unique]
        )
    return unique
