"""FORGE.md section 9 case 35: a Connect tenant that never told us its cloudId is still found.

Older Connect installs may lack ``cloudId``; then only Jira can say which Connect tenant a Forge
installation belongs to: the reserved app property naming the site's clientKey, read with the
system token. After Connect's end of support it answers 404, and the site is matched by cloudId.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from rulequeue.forge.connect_alias import PROPERTY_KEY
from tests.harness import System, install_forge, running_system


async def _forget_cloud_ids(system: System) -> None:
    await system.pool.execute('UPDATE tenants SET cloud_id = NULL')


async def test_the_reserved_property_links_the_connect_tenant(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, forge=True) as system:  # the Connect app is installed
        await _forget_cloud_ids(system)
        await install_forge(system)

        linked = await system.pool.fetchval('SELECT client_key FROM forge_installations')
        assert linked == system.sim.client_key  # the Connect tenant, rules and audit included
        assert await system.pool.fetchval('SELECT count(*) FROM tenants') == 1
        # It now knows its site, for later installations.
        assert await system.pool.fetchval('SELECT cloud_id FROM tenants') == system.sim.forge.cloud_id
        [asked] = [c for c in system.sim.calls if c.path.endswith(f'/properties/{PROPERTY_KEY}')]
        assert (asked.auth, asked.status) == ('forge', 200)


async def test_after_connect_ends_the_site_is_matched_by_cloud_id(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, forge=True) as system:
        system.sim.connect_property = False  # Jira no longer answers the property
        await _forget_cloud_ids(system)
        await install_forge(system)

        # Nothing names the Connect tenant: the installation gets a Forge tenant of its own.
        linked = await system.pool.fetchval('SELECT client_key FROM forge_installations')
        assert linked == 'forge:' + system.sim.forge.cloud_id
        asked = [c for c in system.sim.calls if c.path.endswith(f'/properties/{PROPERTY_KEY}')]
        assert [c.status for c in asked] == [404]


async def test_a_site_whose_cloud_id_is_known_is_not_asked(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, forge=True) as system:
        await install_forge(system)
        assert await system.pool.fetchval('SELECT client_key FROM forge_installations') == system.sim.client_key
        assert not [c for c in system.sim.calls if '/properties/' in c.path]
