"""Jira calls per transport (FORGE.md 8.9, 8.10; conformance 25, 29, 30) and the simulator's
Bearer REST API under ``/ex/jira/<cloudId>``: real Postgres, the simulator over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import structlog
from pydantic import SecretStr

from rulequeue.crypto import Cipher
from rulequeue.errors import NoUsableToken, PermanentJiraError
from rulequeue.forge.fit import ForgeContext
from rulequeue.simulator import ALICE, JiraSimulator
from rulequeue.simulator.forge import ForgePlatform
from rulequeue.store import forge_installations, tenants
from rulequeue.store.db import Pool, create_pool, migrate
from rulequeue.store.tenants import Tenant
from tests.conftest import DATABASE_URL, SECRET_KEY
from worker.credentials import Authorized, tenant_credentials
from worker.jira import JiraClient

CIPHER = Cipher([SECRET_KEY])


@pytest.fixture(name='pool')
async def _pool(schema: str) -> AsyncIterator[Pool]:
    pool = await create_pool(DATABASE_URL, schema=schema)
    await migrate(pool, schema=schema)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(name='sim')
async def _sim() -> AsyncIterator[JiraSimulator]:
    sim = JiraSimulator()
    async with sim.running():
        sim.forge.api_base_override = sim.base_url
        yield sim


def context(forge: ForgePlatform, token: str | None) -> ForgeContext:
    """What the producer learns from a verified FIT of this Forge (rulequeue.forge.fit)."""
    return ForgeContext(
        installation_id=forge.installation_id,
        app_id=forge.app_id,
        cloud_id=forge.cloud_id,
        api_base_url=forge.api_base_url(),
        environment='PRODUCTION',
        environment_id=forge.environment_id,
        jti=str(uuid.uuid4()),
        expires_at=datetime.now(UTC) + timedelta(seconds=25),
        license_active=None,
        module_key='rq-jira-events',
        app_version='1.0.0',
        system_token=SecretStr(token) if token is not None else None,
    )


async def forge_tenant(pool: Pool, forge: ForgePlatform, token: str | None, *, secret: str | None = None) -> Tenant:
    """A Forge-only site's tenant ('forge:' + cloudId) with its installation, as contract point 1 has it.

    With ``secret`` it is instead a Connect tenant of the same site that was cut over to Forge.
    """
    client_key = f'forge:{forge.cloud_id}' if secret is None else f'jira:{uuid.uuid4()}'
    sealed = (
        None if secret is None else CIPHER.encrypt(secret.encode(), purpose=tenants.SECRET_PURPOSE, tenant=client_key)
    )
    await pool.execute(
        'INSERT INTO tenants (client_key, base_url, cloud_id, shared_secret_enc, state, transport) '
        "VALUES ($1, $2, $3, $4, 'installed', 'forge')",
        client_key,
        forge.api_base_url(),
        forge.cloud_id,
        sealed,
    )
    await forge_installations.record_invocation(pool, CIPHER, context(forge, token))
    tenant = await tenants.get_tenant(pool, CIPHER, client_key)
    assert tenant is not None
    assert (tenant.transport, tenant.cloud_id, tenant.active) == ('forge', forge.cloud_id, True)
    return tenant


async def test_a_forge_tenant_calls_its_api_base_url_with_the_system_token(pool: Pool, sim: JiraSimulator) -> None:
    token = sim.forge.mint_system_token()
    tenant = await forge_tenant(pool, sim.forge, token)
    issue = sim.state.create(project='PROJ', issuetype='Bug', summary='Crash', reporter=ALICE, changes={}).issue
    async with httpx.AsyncClient() as http:
        jira = JiraClient(http, credentials=tenant_credentials('rulequeue', pool, CIPHER), timeout=5)
        fetched = await jira.request(tenant, 'GET', f'/rest/api/2/issue/{issue["id"]}')
        await jira.request(tenant, 'POST', f'/rest/api/2/issue/{issue["key"]}/comment', json={'body': 'hi'})
    assert fetched['key'] == issue['key']  # an issue id is as good as its key, as in Jira
    assert [c['body'] for c in sim.comments[issue['key']]] == ['hi']
    get, post = sim.calls
    for call in (get, post):
        assert call.auth == 'forge'
        assert call.path.startswith(f'/ex/jira/{sim.forge.cloud_id}/rest/api/2/issue/')
        assert call.jwt_valid
        assert call.claims is not None
        assert call.claims['jti'] == jwt.decode(token, options={'verify_signature': False})['jti']
    assert (get.status, post.status) == (200, 201)


async def test_a_connect_tenant_still_signs_a_jwt_even_with_a_forge_installation_on_its_site(
    pool: Pool, sim: JiraSimulator
) -> None:
    """Contract point 1: a Connect tenant linked to an installation by cloudId stays on Connect."""
    secret = 's' * 32
    connect = await forge_tenant(pool, sim.forge, sim.forge.mint_system_token(), secret=secret)
    await pool.execute(
        "UPDATE tenants SET transport = 'connect', base_url = 'https://x.example' WHERE client_key = $1",
        connect.client_key,
    )
    tenant = await tenants.get_tenant(pool, CIPHER, connect.client_key)
    assert tenant is not None
    authorized = await tenant_credentials('rulequeue', pool, CIPHER).authorize(tenant, 'GET', '/rest/api/2/myself', '')
    assert authorized.url == 'https://x.example/rest/api/2/myself'
    assert authorized.headers['Authorization'].startswith('JWT ')
    claims = jwt.decode(authorized.headers['Authorization'][4:], secret, algorithms=['HS256'])
    assert claims['iss'] == 'rulequeue'


async def test_no_usable_token_is_transient_and_never_a_connect_jwt(pool: Pool, sim: JiraSimulator) -> None:
    # A token with four minutes left is inside the five-minute margin: not used.
    short = sim.forge.mint_system_token(lifetime=240)
    tenant = await forge_tenant(pool, sim.forge, short, secret='s' * 32)  # still holds its Connect secret
    credentials = tenant_credentials('rulequeue', pool, CIPHER)
    async with httpx.AsyncClient() as http:
        for jira in (
            JiraClient(http, credentials=credentials, timeout=5),
            JiraClient(http, app_key='rulequeue', timeout=5),  # no Forge credentials at all
        ):
            with pytest.raises(NoUsableToken, match='no valid app token'):
                await jira.request(tenant, 'GET', '/rest/api/2/myself')
        assert sim.calls == []
        # A fresh token arrives with the next invocation: now it is used.
        fresh = sim.forge.mint_system_token()
        await forge_installations.record_invocation(pool, CIPHER, context(sim.forge, fresh))
        await JiraClient(http, credentials=credentials, timeout=5).request(tenant, 'GET', '/rest/api/2/myself')
        # preUninstall drops it: no token again, and no installation left to fall back on.
        await forge_installations.deactivate(pool, sim.forge.installation_id)
        with pytest.raises(NoUsableToken):
            await JiraClient(http, credentials=credentials, timeout=5).request(tenant, 'GET', '/rest/api/2/myself')
    [call] = sim.calls
    assert (call.auth, call.status) == ('forge', 200)


async def test_the_webhook_trace_header_carries_the_execution_id_on_forge_calls_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    class Fixed:
        async def authorize(self, tenant: Tenant, method: str, path: str, query: str) -> Authorized:
            return Authorized('https://api.example/ex/jira/c' + path, {'Authorization': 'Bearer t'})

    forge = Tenant('forge:c', 'https://api.example/ex/jira/c', 'installed', None, transport='forge')
    connect = Tenant('jira:c', 'https://x.example', 'installed', SecretStr('s' * 32))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        jira = JiraClient(http, credentials=Fixed(), timeout=5)
        structlog.contextvars.bind_contextvars(execution_id='exec-1')
        try:
            await jira.request(forge, 'PUT', '/rest/api/2/issue/1')
            await jira.request(connect, 'PUT', '/rest/api/2/issue/1')
        finally:
            structlog.contextvars.unbind_contextvars('execution_id')
        await jira.request(forge, 'PUT', '/rest/api/2/issue/1')
    assert [r.headers.get('x-atlassian-webhook-trace') for r in seen] == ['exec-1', None, None]
    assert seen[0].headers['authorization'] == 'Bearer t'


async def test_the_simulator_serves_bearer_rest_only_to_valid_tokens_of_its_site(sim: JiraSimulator) -> None:
    base = f'{sim.base_url}/ex/jira/{sim.forge.cloud_id}'
    other = ForgePlatform()  # another site's Forge: its tokens are foreign here
    cases = {
        'valid': (f'Bearer {sim.forge.mint_system_token()}', base, 200),
        'expired': (f'Bearer {sim.forge.mint_system_token(lifetime=-1)}', base, 401),
        'foreign': (f'Bearer {other.mint_system_token()}', base, 401),
        'other site': (f'Bearer {sim.forge.mint_system_token()}', f'{sim.base_url}/ex/jira/{uuid.uuid4()}', 401),
        'no bearer': ('JWT abc', base, 401),
    }
    async with httpx.AsyncClient() as http:
        for name, (authorization, url, status) in cases.items():
            answer = await http.get(url + '/rest/api/2/myself', headers={'Authorization': authorization})
            assert answer.status_code == status, name
        revoked = sim.forge.mint_system_token()
        sim.forge.revoke_system_tokens()  # the app was uninstalled
        answer = await http.get(base + '/rest/api/2/myself', headers={'Authorization': f'Bearer {revoked}'})
        assert answer.status_code == 401
        assert answer.headers['www-authenticate'].startswith('Bearer')
    assert [c.status for c in sim.calls] == [200, 401, 401, 401, 401, 401]
    assert all(c.auth == 'forge' for c in sim.calls)
    assert [c.jwt_valid for c in sim.calls] == [True, False, False, False, False, False]


async def test_a_forge_tenant_is_refused_without_a_connect_fallback_when_jira_says_401(
    pool: Pool, sim: JiraSimulator
) -> None:
    """A token Jira no longer honours (revoked on uninstall) is a permanent 401, not a retry via Connect."""
    tenant = await forge_tenant(pool, sim.forge, sim.forge.mint_system_token(), secret='s' * 32)
    sim.forge.revoke_system_tokens()
    # Past the warm-up after `installed`, within which a 401 is retried (tests/e2e/test_forge_warmup.py).
    await pool.execute("UPDATE forge_installations SET created_at = now() - interval '1 hour'")
    async with httpx.AsyncClient() as http:
        jira = JiraClient(http, credentials=tenant_credentials('rulequeue', pool, CIPHER), timeout=5)
        with pytest.raises(PermanentJiraError) as refused:
            await jira.request(tenant, 'GET', '/rest/api/2/myself')
    assert refused.value.status == 401
    [call] = sim.calls
    assert call.auth == 'forge'
