"""Forge installations and app system tokens in Postgres (FORGE.md conformance 29, 30, 33, 36)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from rulequeue.crypto import Cipher
from rulequeue.forge.fit import ForgeContext
from rulequeue.store import forge_installations as store
from rulequeue.store.db import Pool, create_pool, migrate
from tests.conftest import DATABASE_URL, SECRET_KEY

CLOUD = str(uuid.uuid4())
APP = f'ari:cloud:ecosystem::app/{uuid.uuid4()}'
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(name='pool')
async def _pool(schema: str) -> AsyncIterator[Pool]:
    pool = await create_pool(DATABASE_URL, schema=schema)
    await migrate(pool, schema=schema)
    try:
        yield pool
    finally:
        await pool.close()


def _token(expires: datetime, marker: str) -> str:
    return jwt.encode({'exp': int(expires.timestamp()), 'marker': marker}, 'k' * 32, algorithm='HS256')


def _context(installation: str, token: str | None, cloud: str = CLOUD) -> ForgeContext:
    return ForgeContext(
        installation_id=installation,
        app_id=APP,
        cloud_id=cloud,
        api_base_url=f'https://api.atlassian.com/ex/jira/{cloud}',
        environment='PRODUCTION',
        environment_id=None,
        jti=str(uuid.uuid4()),
        expires_at=NOW + timedelta(seconds=25),
        license_active=None,
        module_key='rq-jira-events',
        app_version='1.0.0',
        system_token=SecretStr(token) if token is not None else None,
    )


async def test_the_token_with_the_later_expiry_wins_and_is_stored_encrypted(pool: Pool) -> None:
    cipher = Cipher([SECRET_KEY])
    installation = f'ari:cloud:ecosystem::installation/{uuid.uuid4()}'
    newer, older = _token(NOW + timedelta(hours=3), 'newer'), _token(NOW + timedelta(hours=2), 'older')
    await store.record_invocation(pool, cipher, _context(installation, newer))
    recorded = await store.record_invocation(pool, cipher, _context(installation, older))  # arrives late
    assert recorded.token_expires_at == NOW + timedelta(hours=3)
    token = await store.usable_token(pool, cipher, installation, now=NOW)
    assert token is not None
    assert token.get_secret_value() == newer
    raw = await pool.fetchval('SELECT system_token_enc FROM forge_installations')
    assert newer.encode() not in raw
    # An invocation without a token (or with one that has no exp) keeps what is stored.
    await store.record_invocation(pool, cipher, _context(installation, None))
    await store.record_invocation(pool, cipher, _context(installation, 'not-a-jwt'))
    token = await store.usable_token(pool, cipher, installation, now=NOW)
    assert token is not None
    assert token.get_secret_value() == newer


async def test_no_token_is_handed_out_within_five_minutes_of_its_expiry(pool: Pool) -> None:
    cipher = Cipher([SECRET_KEY])
    installation = f'ari:cloud:ecosystem::installation/{uuid.uuid4()}'
    await store.record_invocation(pool, cipher, _context(installation, _token(NOW + timedelta(minutes=6), 'x')))
    assert await store.usable_token(pool, cipher, installation, now=NOW) is not None
    assert await store.usable_token(pool, cipher, installation, now=NOW + timedelta(minutes=1, seconds=1)) is None
    assert await store.usable_token(pool, cipher, 'ari:cloud:ecosystem::installation/unknown', now=NOW) is None


async def test_installations_link_to_the_connect_tenant_of_the_same_site_and_survive_reinstall(pool: Pool) -> None:
    cipher = Cipher([SECRET_KEY])
    await pool.execute(
        'INSERT INTO tenants (client_key, base_url, cloud_id, shared_secret_enc, state) '
        "VALUES ('jira:connect-1', 'https://x.atlassian.net', $1, NULL, 'installed')",
        CLOUD,
    )
    first = f'ari:cloud:ecosystem::installation/{uuid.uuid4()}'
    second = f'ari:cloud:ecosystem::installation/{uuid.uuid4()}'
    linked = await store.record_invocation(pool, cipher, _context(first, _token(NOW + timedelta(hours=2), 'a')))
    assert linked.client_key == 'jira:connect-1'
    other_site = await store.record_invocation(pool, cipher, _context(str(uuid.uuid4()), None, str(uuid.uuid4())))
    assert other_site.client_key is None
    # preUninstall: the token goes at once, later calls get none; a re-install is a new id on the same site.
    assert await store.deactivate(pool, first)
    assert await store.usable_token(pool, cipher, first, now=NOW) is None
    assert (
        await pool.fetchval('SELECT system_token_enc FROM forge_installations WHERE installation_id = $1', first)
        is None
    )
    again = await store.record_invocation(pool, cipher, _context(second, _token(NOW + timedelta(hours=2), 'b')))
    assert again.client_key == 'jira:connect-1'
    assert [(i.installation_id, i.state) for i in await store.for_site(pool, CLOUD)] == [
        (second, 'active'),
        (first, 'uninstalled'),
    ]


async def test_a_call_that_changes_nothing_writes_nothing(pool: Pool) -> None:
    """Forge re-sends its cached token on every call: those calls must not queue on the row."""
    cipher = Cipher([SECRET_KEY])
    installation = f'ari:cloud:ecosystem::installation/{uuid.uuid4()}'
    first = _token(NOW + timedelta(hours=3), 'first')
    await store.record_invocation(pool, cipher, _context(installation, first))
    await pool.execute(
        'INSERT INTO tenants (client_key, base_url, state, transport) '
        "VALUES ('forge:x', 'https://x', 'installed', 'forge')"
    )
    await pool.execute("UPDATE forge_installations SET client_key = 'forge:x', updated_at = '2000-01-01'")

    again = await store.record_invocation(pool, cipher, _context(installation, first))
    assert again.token_expires_at == NOW + timedelta(hours=3)
    assert again.client_key == 'forge:x'
    written = await pool.fetchval('SELECT updated_at FROM forge_installations')
    assert written == datetime(2000, 1, 1, tzinfo=UTC)  # read, not rewritten

    later = _token(NOW + timedelta(hours=4), 'later')
    await store.record_invocation(pool, cipher, _context(installation, later))
    assert await pool.fetchval('SELECT updated_at FROM forge_installations') > datetime(2000, 1, 1, tzinfo=UTC)
    token = await store.usable_token(pool, cipher, installation, now=NOW)
    assert token is not None
    assert token.get_secret_value() == later
