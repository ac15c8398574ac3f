"""The mail outbox: e-mails written in the transaction that decided them, sent later by a cron.

A row is unique per (tenant, recipient, day, kind), which is what caps owner e-mails at one per
owner per day. Sending claims a row by pushing its ``next_attempt_at`` a lease ahead, so two
senders never pick the same mail and no transaction stays open while the SMTP server talks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rulequeue.store.db import Executor, Pool, storable

MAX_ERROR_TEXT = 500


@dataclass(frozen=True)
class Mail:
    id: int
    recipient: str
    subject: str
    body: str
    attempts: int


async def enqueue(
    conn: Executor,
    *,
    client_key: str,
    kind: str,
    recipient: str,
    day: date,
    subject: str,
    body: str,
) -> bool:
    """Add a mail; False if this recipient already has one of this kind for this tenant and day."""
    status = await conn.execute(
        """
        INSERT INTO outbox (client_key, kind, recipient, day, subject, body)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (client_key, recipient, day, kind) DO NOTHING
        """,
        client_key,
        kind,
        recipient,
        day,
        storable(subject),
        storable(body),
    )
    return bool(status == 'INSERT 0 1')


async def claim(pool: Pool, *, lease_seconds: float, limit: int = 1) -> list[Mail]:
    """Take up to ``limit`` due mails for ``lease_seconds``; if the sender dies they come back."""
    rows = await pool.fetch(
        """
        UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2)
        WHERE id IN (
            SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        RETURNING id, recipient, subject, body, attempts
        """,
        limit,
        float(lease_seconds),
    )
    return [Mail(r['id'], r['recipient'], r['subject'], r['body'], r['attempts']) for r in rows]


async def mark_sent(pool: Pool, mail_id: int) -> None:
    await pool.execute(
        "UPDATE outbox SET state = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1",
        mail_id,
    )


async def mark_failed(pool: Pool, mail_id: int, error: str, retry_in_seconds: float) -> None:
    """Keep the mail pending, counted, and due again after ``retry_in_seconds``."""
    await pool.execute(
        """
        UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                          next_attempt_at = now() + make_interval(secs => $3)
        WHERE id = $1 AND state = 'pending'
        """,
        mail_id,
        storable(error[:MAX_ERROR_TEXT]),
        float(retry_in_seconds),
    )
