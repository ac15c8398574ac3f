"""Which tenant a Forge installation belongs to, and the tenant's transport (FORGE.md 5.3, 8.14).

The internal tenant id stays ``tenants.client_key``. A site that has a Connect tenant keeps it:
its Forge installations are linked to it by ``cloud_id``, so rules, audit and dead letters carry
over. A Forge-only site gets a tenant ``forge:<cloudId>`` without a shared secret, whose
``base_url`` is the installation's apiBaseUrl. ``tenants.transport`` names the one transport
whose events the tenant processes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from rulequeue.forge.fit import ForgeContext
from rulequeue.store import tenants
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Transport

FORGE_TENANT_PREFIX = 'forge:'
UninstallOutcome = Literal['other_installation_active', 'back_to_connect', 'uninstalled']


def forge_tenant_key(cloud_id: str) -> str:
    return FORGE_TENANT_PREFIX + cloud_id


async def installation_state(pool: Pool, installation_id: str) -> str | None:
    """'active', 'uninstalled', or None for an installation never seen."""
    state: str | None = await pool.fetchval(
        'SELECT state FROM forge_installations WHERE installation_id = $1', installation_id
    )
    return state


async def resolve_tenant(
    pool: Pool, ctx: ForgeContext, connect_alias: Callable[[], Awaitable[str | None]] | None = None
) -> str:
    """The client_key of the installation's tenant, made if the site has none yet.

    An installation already linked keeps its tenant. Otherwise the Connect tenant Jira names
    (``connect_alias``, rulequeue.forge.connect_alias), if we have it; otherwise the site's
    tenant by cloudId, a Connect tenant before a ``forge:`` one; otherwise a new
    ``forge:<cloudId>`` tenant, installed and on the Forge transport (it has no Connect side).
    """
    linked: str | None = await pool.fetchval(
        'SELECT client_key FROM forge_installations WHERE installation_id = $1 AND client_key IS NOT NULL',
        ctx.installation_id,
    )
    if linked is not None:
        return linked
    # Only a Connect tenant that never told us its site's cloudId needs Jira to name it.
    unplaced = await pool.fetchval(
        "SELECT 1 FROM tenants WHERE cloud_id IS NULL AND state <> 'uninstalled' AND NOT starts_with(client_key, $1)",
        FORGE_TENANT_PREFIX,
    )
    alias = await connect_alias() if connect_alias is not None and unplaced else None
    if alias is not None and await pool.fetchval('SELECT 1 FROM tenants WHERE client_key = $1', alias):
        # The Connect tenant learns its site's cloudId too, for later installations.
        await pool.execute(
            'UPDATE tenants SET cloud_id = $2, updated_at = now() WHERE client_key = $1 AND cloud_id IS NULL',
            alias,
            ctx.cloud_id,
        )
        return alias
    by_site: str | None = await pool.fetchval(
        f"""
        SELECT client_key FROM tenants WHERE lower(cloud_id) = $1
        ORDER BY starts_with(client_key, '{FORGE_TENANT_PREFIX}'), updated_at DESC LIMIT 1
        """,  # noqa: S608 - the prefix is our constant
        ctx.cloud_id,
    )
    if by_site is not None:
        return by_site
    client_key = forge_tenant_key(ctx.cloud_id)
    await pool.execute(
        """
        INSERT INTO tenants (client_key, base_url, cloud_id, product_type, shared_secret_enc, state, transport)
        VALUES ($1, $2, $3, 'jira', NULL, 'installed', 'forge')
        ON CONFLICT (client_key) DO NOTHING
        """,
        client_key,
        ctx.api_base_url,
        ctx.cloud_id,
    )
    return client_key


async def link(pool: Pool, installation_id: str, client_key: str) -> None:
    """Point the installation at its tenant (FORGE contract 1: always set)."""
    await pool.execute(
        'UPDATE forge_installations SET client_key = $2, updated_at = now() '
        'WHERE installation_id = $1 AND client_key IS DISTINCT FROM $2',
        installation_id,
        client_key,
    )


async def installed(pool: Pool, client_key: str, installation_id: str) -> None:
    """``avi:forge:installed:app``: the tenant is installed again and this is its one active installation.

    A re-install gets a new installation id (FORGE.md 5.1): older installations of the tenant are
    retired with their tokens. A tenant that was uninstalled (within its grace period) is
    installed again; one without a Connect secret can only run on Forge.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            UPDATE tenants SET state = 'installed', uninstalled_at = NULL, updated_at = now(),
                transport = CASE WHEN shared_secret_enc IS NULL THEN 'forge' ELSE transport END
            WHERE client_key = $1 AND state = 'uninstalled'
            """,
            client_key,
        )
        await conn.execute(
            """
            UPDATE forge_installations SET state = 'uninstalled', system_token_enc = NULL,
                token_expires_at = NULL, updated_at = now()
            WHERE client_key = $1 AND installation_id <> $2 AND state = 'active'
            """,
            client_key,
            installation_id,
        )


async def after_preuninstall(pool: Pool, client_key: str) -> UninstallOutcome:
    """What ``preUninstall`` of the tenant's (already deactivated) installation leaves.

    Another active installation keeps the tenant as it is. A tenant still installed on Connect
    goes back to the Connect transport. Otherwise it is uninstalled as a Connect uninstall
    would: rules disabled at once, everything purged after the grace period unless it
    re-installs (``worker.retention.purge_uninstalled``).
    """
    others = await pool.fetchval(
        "SELECT count(*) FROM forge_installations WHERE client_key = $1 AND state = 'active'", client_key
    )
    if others:
        return 'other_installation_active'
    status = await pool.execute(
        "UPDATE tenants SET transport = 'connect', updated_at = now() "
        "WHERE client_key = $1 AND shared_secret_enc IS NOT NULL AND state <> 'uninstalled'",
        client_key,
    )
    if status != 'UPDATE 0':
        return 'back_to_connect'
    await tenants.uninstall(pool, client_key)
    return 'uninstalled'


async def switch_transport(pool: Pool, client_key: str, to: Transport, *, only_from: Transport | None = None) -> bool:
    """Set the tenant's transport; False if it was already ``to`` (or not ``only_from``)."""
    status = await pool.execute(
        'UPDATE tenants SET transport = $2, updated_at = now() '
        'WHERE client_key = $1 AND transport <> $2 AND ($3::text IS NULL OR transport = $3)',
        client_key,
        to,
        only_from,
    )
    return status != 'UPDATE 0'


async def transport_of(pool: Pool, client_key: str) -> Transport | None:
    value: Transport | None = await pool.fetchval('SELECT transport FROM tenants WHERE client_key = $1', client_key)
    return value


async def connect_uninstalled_kept(pool: Pool, client_key: str) -> bool:
    """Connect's ``uninstalled`` for a site Forge now serves: drop only the Connect secret.

    Operators remove the Connect app once the site runs on Forge; that must not disable the
    rules and schedule the purge of a tenant an active Forge installation still serves. True
    when so (the tenant stays installed, on Forge); False: uninstall as usual.
    """
    status = await pool.execute(
        """
        UPDATE tenants SET shared_secret_enc = NULL, transport = 'forge', updated_at = now()
        WHERE client_key = $1 AND state <> 'uninstalled'
          AND EXISTS (SELECT 1 FROM forge_installations f WHERE f.client_key = $1 AND f.state = 'active')
        """,
        client_key,
    )
    return status != 'UPDATE 0'
