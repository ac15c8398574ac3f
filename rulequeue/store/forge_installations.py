"""Forge installations and their app system tokens (FORGE.md sections 3.4, 5.1 and 8.9).

Every verified invocation upserts its installation: site (cloudId), app, apiBaseUrl, and the
``x-forge-oauth-system`` token it carried, encrypted and bound to the installation. The token
with the later ``exp`` wins (Forge re-sends cached tokens, so an older one may arrive after a
newer one), and none is handed out within ``margin`` of its expiry. An installation on a site
that has a Connect tenant is linked to it by cloudId, so rules and audit history carry over.
``preUninstall`` deactivates the installation and drops its token at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pydantic import SecretStr

from rulequeue.crypto import Cipher
from rulequeue.forge.fit import ForgeContext
from rulequeue.store.db import Pool

TOKEN_PURPOSE = 'forge-system-token'  # noqa: S105 - an encryption context label, not a secret
TOKEN_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class ForgeInstallation:
    installation_id: str
    cloud_id: str
    app_id: str
    api_base_url: str
    client_key: str | None  # the Connect tenant on the same site, if any
    state: str
    token_expires_at: datetime | None
    created_at: datetime | None = None  # its first verified call (the ``installed`` one); read by active_for_tenant


def token_expiry(token: str) -> datetime | None:
    """The app token's ``exp``, read without verifying (it is Atlassian's to verify, not ours);
    None when it is not a JWT with a numeric ``exp``: such a token is never stored."""
    try:
        claims = jwt.decode(token, options={'verify_signature': False})
    except jwt.PyJWTError:
        return None
    exp = claims.get('exp')
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


async def record_invocation(pool: Pool, cipher: Cipher, ctx: ForgeContext) -> ForgeInstallation:
    """Upsert the installation from a verified FIT; keep the system token with the later exp.

    Forge re-sends a cached token for hours, so most calls would change nothing: those are
    answered from a read, without a write (and without the row lock every call of a busy
    installation would otherwise queue on).
    """
    token = ctx.system_token.get_secret_value() if ctx.system_token is not None else None
    expires = token_expiry(token) if token else None
    current = await pool.fetchrow(
        """
        SELECT installation_id, cloud_id, app_id, api_base_url, client_key, state, token_expires_at
        FROM forge_installations WHERE installation_id = $1
        """,
        ctx.installation_id,
    )
    if current is not None and _unchanged(dict(current), ctx.api_base_url, expires):
        return ForgeInstallation(**dict(current))
    encrypted = (
        cipher.encrypt(token.encode(), purpose=TOKEN_PURPOSE, tenant=ctx.installation_id) if token and expires else None
    )
    row = await pool.fetchrow(
        """
        INSERT INTO forge_installations AS f (installation_id, cloud_id, app_id, api_base_url, client_key,
                                              system_token_enc, token_expires_at)
        VALUES ($1, $2, $3, $4,
                (SELECT client_key FROM tenants WHERE cloud_id = $2 ORDER BY updated_at DESC LIMIT 1), $5, $6)
        ON CONFLICT (installation_id) DO UPDATE SET
            api_base_url = EXCLUDED.api_base_url,
            client_key = COALESCE(f.client_key, EXCLUDED.client_key),
            state = 'active',
            system_token_enc = CASE WHEN EXCLUDED.token_expires_at > COALESCE(f.token_expires_at, '-infinity')
                                    THEN EXCLUDED.system_token_enc ELSE f.system_token_enc END,
            token_expires_at = GREATEST(f.token_expires_at, EXCLUDED.token_expires_at),
            updated_at = now()
        RETURNING installation_id, cloud_id, app_id, api_base_url, client_key, state, token_expires_at
        """,
        ctx.installation_id,
        ctx.cloud_id,
        ctx.app_id,
        ctx.api_base_url,
        encrypted,
        expires,
    )
    assert row is not None  # INSERT ... RETURNING always returns the row
    return ForgeInstallation(**dict(row))


def _unchanged(current: Mapping[str, Any], api_base_url: str, expires: datetime | None) -> bool:
    """Whether the upsert would leave the row as it is (bar ``updated_at``)."""
    stored = current['token_expires_at']
    return (
        current['state'] == 'active'
        and current['client_key'] is not None
        and current['api_base_url'] == api_base_url
        and (expires is None or (stored is not None and stored >= expires))
    )


async def usable_token(
    pool: Pool, cipher: Cipher, installation_id: str, *, now: datetime, margin: timedelta = TOKEN_MARGIN
) -> SecretStr | None:
    """The stored system token if the installation is active and the token has ``margin`` left."""
    row = await pool.fetchrow(
        """
        SELECT system_token_enc FROM forge_installations
        WHERE installation_id = $1 AND state = 'active' AND system_token_enc IS NOT NULL AND token_expires_at > $2
        """,
        installation_id,
        now + margin,
    )
    if row is None:
        return None
    plain = cipher.decrypt(row['system_token_enc'], purpose=TOKEN_PURPOSE, tenant=installation_id)
    return SecretStr(plain.decode())


async def deactivate(pool: Pool, installation_id: str) -> bool:
    """``preUninstall``: the token goes at once; the installation stays for history."""
    status = await pool.execute(
        """
        UPDATE forge_installations SET state = 'uninstalled', system_token_enc = NULL, token_expires_at = NULL,
                                       updated_at = now()
        WHERE installation_id = $1
        """,
        installation_id,
    )
    return status != 'UPDATE 0'


async def get(pool: Pool, installation_id: str) -> ForgeInstallation | None:
    row = await pool.fetchrow(
        """
        SELECT installation_id, cloud_id, app_id, api_base_url, client_key, state, token_expires_at
        FROM forge_installations WHERE installation_id = $1
        """,
        installation_id,
    )
    return None if row is None else ForgeInstallation(**dict(row))


async def for_site(pool: Pool, cloud_id: str) -> list[ForgeInstallation]:
    """Every installation a site has had, newest first (a re-install gets a new id)."""
    rows = await pool.fetch(
        """
        SELECT installation_id, cloud_id, app_id, api_base_url, client_key, state, token_expires_at
        FROM forge_installations WHERE cloud_id = $1 ORDER BY created_at DESC
        """,
        cloud_id,
    )
    return [ForgeInstallation(**dict(r)) for r in rows]


async def active_for_tenant(pool: Pool, client_key: str) -> ForgeInstallation | None:
    """The tenant's newest active installation: the one whose token its Jira calls use."""
    row = await pool.fetchrow(
        """
        SELECT installation_id, cloud_id, app_id, api_base_url, client_key, state, token_expires_at, created_at
        FROM forge_installations WHERE client_key = $1 AND state = 'active' ORDER BY created_at DESC LIMIT 1
        """,
        client_key,
    )
    return None if row is None else ForgeInstallation(**dict(row))
