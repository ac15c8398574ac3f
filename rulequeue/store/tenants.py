"""Tenants (Jira sites that installed the app) and their encrypted shared secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr

from rulequeue.crypto import Cipher
from rulequeue.store.db import Pool

# The one transport whose events a tenant processes (FORGE.md 8.14).
Transport = Literal['connect', 'forge']

SECRET_PURPOSE = 'shared-secret'  # noqa: S105 - an encryption context label, not a secret


@dataclass(frozen=True)
class Tenant:
    client_key: str
    base_url: str
    state: str
    shared_secret: SecretStr | None = field(repr=False)
    app_account_id: str | None = None
    transport: Transport = 'connect'
    cloud_id: str | None = None  # links the site's Connect tenant and Forge installations

    @property
    def active(self) -> bool:
        # A Forge tenant has no shared secret: its Jira calls use the installation's app token.
        return self.state == 'installed' and (self.shared_secret is not None or self.transport == 'forge')


async def get_tenant(pool: Pool, cipher: Cipher, client_key: str) -> Tenant | None:
    row = await pool.fetchrow(
        'SELECT client_key, base_url, state, shared_secret_enc, app_account_id, cloud_id, transport '
        'FROM tenants WHERE client_key = $1',
        client_key,
    )
    if row is None:
        return None
    secret = None
    if row['shared_secret_enc'] is not None:
        plain = cipher.decrypt(row['shared_secret_enc'], purpose=SECRET_PURPOSE, tenant=client_key)
        secret = SecretStr(plain.decode())
    return Tenant(
        row['client_key'],
        row['base_url'],
        row['state'],
        secret,
        row['app_account_id'],
        transport=row['transport'],
        cloud_id=row['cloud_id'],
    )


async def save_installed(pool: Pool, cipher: Cipher, payload: dict[str, Any]) -> None:
    """Insert or update a tenant from a *verified* ``installed`` callback."""
    client_key = payload['clientKey']
    secret = cipher.encrypt(payload['sharedSecret'].encode(), purpose=SECRET_PURPOSE, tenant=client_key)
    await pool.execute(
        """
        INSERT INTO tenants (client_key, base_url, display_url, cloud_id, product_type,
                             shared_secret_enc, state)
        VALUES ($1, $2, $3, $4, $5, $6, 'installed')
        ON CONFLICT (client_key) DO UPDATE SET
            base_url = EXCLUDED.base_url, display_url = EXCLUDED.display_url,
            cloud_id = EXCLUDED.cloud_id, product_type = EXCLUDED.product_type,
            shared_secret_enc = EXCLUDED.shared_secret_enc, state = 'installed',
            uninstalled_at = NULL, updated_at = now()
        """,
        client_key,
        payload['baseUrl'].rstrip('/'),
        payload.get('displayUrl'),
        payload.get('cloudId'),
        payload.get('productType'),
        secret,
    )


async def set_state(pool: Pool, client_key: str, state: str) -> None:
    """Pause (``disabled``) or resume (``installed``) a tenant that is still installed."""
    await pool.execute(
        "UPDATE tenants SET state = $2, updated_at = now() WHERE client_key = $1 AND state <> 'uninstalled'",
        client_key,
        state,
    )


async def uninstall(pool: Pool, client_key: str) -> None:
    """Delete the shared secret at once and disable every rule of the tenant.

    The rest of its data goes after the grace period (``worker.retention.purge_uninstalled``)
    unless a re-install (:func:`save_installed`) clears ``uninstalled_at`` first.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE tenants SET shared_secret_enc = NULL, state = 'uninstalled', "
            'uninstalled_at = coalesce(uninstalled_at, now()), updated_at = now() WHERE client_key = $1',
            client_key,
        )
        await conn.execute('UPDATE rules SET enabled = false, updated_at = now() WHERE client_key = $1', client_key)


async def set_app_account_id(pool: Pool, client_key: str, account_id: str) -> None:
    await pool.execute('UPDATE tenants SET app_account_id = $2 WHERE client_key = $1', client_key, account_id)


async def reencrypt_secrets(pool: Pool, cipher: Cipher) -> int:
    """Re-encrypt every stored shared secret with the current (first) key; returns how many.

    Run after putting a new key first in ``SECRET_KEY``; the old key can be dropped once this
    has run and snapshots encrypted with it have expired (their TTL is a few hours).
    """
    count = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            'SELECT client_key, shared_secret_enc FROM tenants WHERE shared_secret_enc IS NOT NULL FOR UPDATE'
        )
        for row in rows:
            plain = cipher.decrypt(row['shared_secret_enc'], purpose=SECRET_PURPOSE, tenant=row['client_key'])
            sealed = cipher.encrypt(plain, purpose=SECRET_PURPOSE, tenant=row['client_key'])
            await conn.execute(
                'UPDATE tenants SET shared_secret_enc = $2 WHERE client_key = $1', row['client_key'], sealed
            )
            count += 1
    return count
