"""Retention against real Postgres: old per-event rows go in batches; uninstalled tenants go after
the grace period unless they re-installed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rulequeue.crypto import Cipher
from rulequeue.store import tenants
from rulequeue.store.db import Pool, create_pool, migrate
from tests.conftest import SECRET_KEY, make_settings
from worker.retention import TENANT_TABLES, prune_old_records, purge_uninstalled

CIPHER = Cipher([SECRET_KEY])


@pytest.fixture(name='pool')
async def _pool(schema: str) -> AsyncIterator[Pool]:
    settings = make_settings(schema)
    pool = await create_pool(settings.database_url, schema=schema, min_size=1, max_size=2)
    await migrate(pool, schema=schema)
    yield pool
    await pool.close()


async def _install(pool: Pool, client_key: str) -> None:
    payload = {'clientKey': client_key, 'baseUrl': f'https://{client_key}.example', 'sharedSecret': 's' * 32}
    await tenants.save_installed(pool, CIPHER, payload)


async def _add_rows(pool: Pool, client_key: str, count: int, age_days: int) -> None:
    """``count`` rows in each per-event table of ``client_key``, made ``age_days`` ago."""
    args = (client_key, count, age_days)
    await pool.execute(
        """
        INSERT INTO audit_log (client_key, rule_id, rule_name, rule_version, status, issue_key, issue_id,
                               delivery_id, event_type, actions, messages, attempts, started_at, duration_ms,
                               created_at)
        SELECT $1, gen_random_uuid(), 'r', 1, 'SUCCESS', 'P-1', '1', 'd-' || $3::int || '-' || n, 'e', '[]', '[]', 1,
               now(), 1, now() - make_interval(days => $3::int)
        FROM generate_series(1, $2::int) AS n
        """,
        *args,
    )
    await pool.execute(
        """
        INSERT INTO evaluations (client_key, delivery_id, issue_key, issue_id, event_type, rules, created_at)
        SELECT $1, 'd-' || $3::int || '-' || n, 'P-1', '1', 'e', '[]', now() - make_interval(days => $3::int)
        FROM generate_series(1, $2::int) AS n
        """,
        *args,
    )
    await pool.execute(
        """
        INSERT INTO dead_letters (client_key, delivery_id, execution_id, issue_key, issue_id, envelope, rule_ids,
                                  error, attempts, created_at)
        SELECT $1, 'd-' || $3::int || '-' || n, 'x', 'P-1', '1', '{}', '[]', 'e', 5,
               now() - make_interval(days => $3::int)
        FROM generate_series(1, $2::int) AS n
        """,
        *args,
    )
    await pool.execute(
        """
        INSERT INTO deliveries (client_key, delivery_id, execution_id, issue_key, issue_id, envelope, state,
                                received_at, finished_at)
        SELECT $1, 'd-' || $3::int || '-' || n, 'x', 'P-1', '1', '{}', 'done',
               now() - make_interval(days => $3::int), now() - make_interval(days => $3::int)
        FROM generate_series(1, $2::int) AS n
        """,
        *args,
    )
    await pool.execute(
        """
        INSERT INTO forge_rejected_events (client_key, installation_id, route, reason, created_at)
        SELECT $1, 'i', 'events', 'unknown eventType', now() - make_interval(days => $3::int)
        FROM generate_series(1, $2::int) AS n
        """,
        *args,
    )
    await pool.execute(
        """
        INSERT INTO outbox (client_key, kind, recipient, day, subject, body, state, created_at, sent_at)
        SELECT $1, 'unlicensed', 'o' || n || '@example.com', current_date - $3::int, 's', 'b', 'sent',
               now() - make_interval(days => $3::int), now() - make_interval(days => $3::int)
        FROM generate_series(1, $2::int) AS n
        """,
        *args,
    )
    await pool.execute(
        """
        INSERT INTO rules (id, client_key, enabled, document)
        SELECT gen_random_uuid(), $1, true, jsonb_build_object('owner', jsonb_build_object('email', 'o@example.com'))
        FROM generate_series(1, $2::int) AS n
        """,
        client_key,
        count,
    )


async def _counts(pool: Pool, client_key: str) -> dict[str, int]:
    counts = {}
    for table in (*TENANT_TABLES, 'tenants'):
        counts[table] = await pool.fetchval(f'SELECT count(*) FROM {table} WHERE client_key = $1', client_key)  # noqa: S608
    return counts


async def test_only_records_older_than_the_retention_go_across_several_batches(pool: Pool) -> None:
    await _install(pool, 'site-a')
    await _add_rows(pool, 'site-a', 12, age_days=100)  # past 90 days
    await _add_rows(pool, 'site-a', 3, age_days=60)  # inside 90 days, but deliveries keep 7 days
    await _add_rows(pool, 'site-a', 4, age_days=1)

    removed = await prune_old_records(pool, 90, batch=5)  # 12 old rows: batches of 5, 5, 2

    assert removed == {
        'audit_log': 12,
        'dead_letters': 12,
        'forge_rejected_events': 12,
        'evaluations': 12,
        'outbox': 12,
        'deliveries': 15,
    }
    ages = await pool.fetch(
        'SELECT DISTINCT extract(day FROM now() - created_at)::int AS age FROM audit_log ORDER BY age'
    )
    assert [r['age'] for r in ages] == [1, 60]
    assert await _counts(pool, 'site-a') == {
        'audit_log': 7,
        'evaluations': 7,
        'outbox': 7,
        'dead_letters': 7,
        'forge_rejected_events': 7,
        'deliveries': 4,
        'rules': 19,
        'forge_installations': 0,  # per-site, not per-event: retention leaves it alone
        'tenants': 1,
    }
    assert await prune_old_records(pool, 90, batch=5) == dict.fromkeys(removed, 0)


async def test_uninstalled_tenants_are_purged_after_the_grace_period_unless_reinstalled(pool: Pool) -> None:
    for site in ('gone', 'back', 'recent', 'live'):
        await _install(pool, site)
        await _add_rows(pool, site, 7, age_days=2)
    for site in ('gone', 'back', 'recent'):
        await tenants.uninstall(pool, site)
    await pool.execute(
        "UPDATE tenants SET uninstalled_at = now() - interval '31 days' WHERE client_key IN ('gone', 'back')"
    )
    await _install(pool, 'back')  # re-installed within the grace: the pending deletion is cleared
    before = {site: await _counts(pool, site) for site in ('back', 'recent', 'live')}

    assert await purge_uninstalled(pool, 30, batch=3) == ['gone']

    assert await _counts(pool, 'gone') == dict.fromkeys((*TENANT_TABLES, 'tenants'), 0)
    for site, counts in before.items():
        assert await _counts(pool, site) == counts
    assert counts['audit_log'] == 7
    assert counts['evaluations'] == 7
    assert counts['rules'] == 7
    assert await pool.fetchval("SELECT uninstalled_at FROM tenants WHERE client_key = 'back'") is None
    assert await pool.fetchval("SELECT state FROM tenants WHERE client_key = 'recent'") == 'uninstalled'
