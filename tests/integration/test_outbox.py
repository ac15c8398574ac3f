"""The mail outbox against real Postgres and a real SMTP server: an outage loses nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from rulequeue.store import outbox
from rulequeue.store.db import Pool, create_pool, migrate
from tests.conftest import make_settings
from tests.smtp_server import LocalSmtp
from worker.mailer import MailRun, retry_delay, send_pending


@pytest.fixture(name='pool')
async def _pool(schema: str) -> AsyncIterator[Pool]:
    settings = make_settings(schema)
    pool = await create_pool(settings.database_url, schema=schema, min_size=1, max_size=2)
    await migrate(pool, schema=schema)
    await pool.execute(
        "INSERT INTO tenants (client_key, base_url, state) VALUES ('site-a', 'https://a.example', 'installed')"
    )
    yield pool
    await pool.close()


async def _queue_mail(pool: Pool, recipient: str = 'ada@example.com') -> bool:
    return await outbox.enqueue(
        pool,
        client_key='site-a',
        kind='unlicensed',
        recipient=recipient,
        day=datetime.now(UTC).date(),
        subject='rules not running',
        body='hello',
    )


async def test_mail_outage_keeps_the_mail_pending_then_delivers_it_once(schema: str, pool: Pool) -> None:
    smtp = LocalSmtp()  # not started: the mail server is down
    settings = make_settings(schema, **smtp.settings())
    assert await _queue_mail(pool)
    assert not await _queue_mail(pool)  # the same owner, kind and day: refused by the unique key

    assert await send_pending(pool, settings, retry_base_seconds=600) == MailRun(sent=0, failed=1)
    row = await pool.fetchrow('SELECT state, attempts, last_error, next_attempt_at - now() AS wait FROM outbox')
    assert row is not None
    assert (row['state'], row['attempts']) == ('pending', 1)
    assert 'Connect' in row['last_error'] or 'refused' in row['last_error'].lower()
    assert 590 < row['wait'].total_seconds() <= 600
    assert await send_pending(pool, settings) == MailRun()  # not due yet: nothing is tried

    await smtp.start()
    try:
        assert await send_pending(pool, settings) == MailRun()  # still waiting for its next try
        await pool.execute('UPDATE outbox SET next_attempt_at = now()')  # ... which has now come
        assert await send_pending(pool, settings) == MailRun(sent=1, failed=0)
        assert await send_pending(pool, settings) == MailRun()
    finally:
        await smtp.stop()
    assert [m.recipients for m in smtp.messages] == [['ada@example.com']]
    assert smtp.messages[0].message['Subject'] == 'rules not running'
    row = await pool.fetchrow('SELECT state, attempts, last_error, sent_at FROM outbox')
    assert row is not None
    assert (row['state'], row['attempts'], row['last_error']) == ('sent', 2, None)
    assert row['sent_at'] is not None


async def test_without_an_smtp_host_mails_wait_in_the_outbox(schema: str, pool: Pool) -> None:
    assert await _queue_mail(pool)
    assert await send_pending(pool, make_settings(schema)) == MailRun()
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending' AND attempts = 0") == 1


async def test_a_claimed_mail_is_not_claimed_twice(pool: Pool) -> None:
    assert await _queue_mail(pool, 'ada@example.com')
    assert await _queue_mail(pool, 'bob@example.com')
    first = await outbox.claim(pool, lease_seconds=300, limit=5)
    assert sorted(m.recipient for m in first) == ['ada@example.com', 'bob@example.com']
    assert await outbox.claim(pool, lease_seconds=300, limit=5) == []


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 60, 3600) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]
