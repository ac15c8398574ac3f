"""The admin API over Forge: a UI invocation's token (Bearer FIT with a principal) acts for
its installation's tenant, so a site that only has the Forge app can manage its rules."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from tests.harness import System
from tests.integration.test_forge_routes import EVENTS, forge_system, post, product_event

RULE = {
    'name': 'Comment on new bugs',
    'trigger': {'type': 'issue_created'},
    'actions': [{'type': 'comment', 'body': 'Thanks, {{initiator.accountId}}'}],
}


def ui_token(system: System, principal: str | None = '557058:admin') -> str:
    claims = {'principal': principal} if principal else {}
    return 'Bearer ' + system.sim.forge.mint_invocation_token(claims=claims)


async def install(system: System) -> None:
    forge = system.sim.forge
    body = {'eventType': 'avi:forge:installed:app', 'id': forge.installation_id, 'app': {'id': forge.app_id}}
    assert (await post(system, '/forge/lifecycle', body)).status_code == 204


async def call(system: System, method: str, path: str, token: str, **kwargs: object) -> httpx.Response:
    return await system.http.request(method, system.url + path, headers={'Authorization': token}, **kwargs)  # type: ignore[arg-type]


async def test_a_forge_only_site_manages_its_rules_with_ui_tokens(schema: str, redis: aioredis.Redis) -> None:
    async with forge_system(schema) as system:
        await install(system)
        created = await call(system, 'POST', '/api/rules', ui_token(system), json=RULE)
        assert created.status_code == 201, created.text
        listed = await call(system, 'GET', '/api/rules', ui_token(system))
        assert [r['name'] for r in listed.json()['rules']] == [RULE['name']]
        owner = await system.pool.fetchval('SELECT client_key FROM rules')
        assert owner == 'forge:' + system.sim.forge.cloud_id
        assert (await call(system, 'GET', '/api/audit', ui_token(system))).status_code == 200


async def test_event_tokens_and_unknown_or_uninstalled_installations_are_refused(
    schema: str, redis: aioredis.Redis
) -> None:
    async with forge_system(schema) as system:
        # Before any call from Forge, the installation is unknown.
        assert (await call(system, 'GET', '/api/rules', ui_token(system))).status_code == 401
        await install(system)
        # A trigger's token names no user: it cannot act as an admin.
        assert (await call(system, 'GET', '/api/rules', ui_token(system, principal=None))).status_code == 401
        assert (await call(system, 'GET', '/api/rules', ui_token(system))).status_code == 200
        # A token of another app (the audience is checked like on every Forge route).
        foreign = system.sim.forge.mint_invocation_token(
            claims={'principal': '557058:admin', 'aud': 'ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000'}
        )
        assert (await call(system, 'GET', '/api/rules', 'Bearer ' + foreign)).status_code == 401
        assert (await post(system, '/forge/uninstall', {})).status_code == 204
        assert (await call(system, 'GET', '/api/rules', ui_token(system))).status_code == 401
        # Events of the uninstalled installation are not run either.
        assert (await post(system, EVENTS, product_event())).status_code == 204
        assert await system.pool.fetchval('SELECT count(*) FROM deliveries') == 0
