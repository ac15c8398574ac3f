"""Every bad input gets its status and a JSON message, and leaves nothing behind."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from rulequeue.connect.qsh import query_hash
from rulequeue.connect.tokens import sign_tenant_request
from tests.harness import System, redis_keys


async def _nothing_stored(system: System) -> None:
    """No job, snapshot or marker in Redis and no audit row in Postgres."""
    # Rate-limit buckets (token counts of the tenant or address, no data) are expected.
    assert [k for k in await redis_keys(system.settings, 'rulequeue:*') if not k.startswith(b'rulequeue:rl:')] == []
    assert await redis_keys(system.settings, 'arq:*') == []
    assert await system.pool.fetchval('SELECT count(*) FROM audit_log') == 0


def _event(sim_issue_key: str = 'PROJ-1') -> dict[str, Any]:
    return {
        'timestamp': int(time.time() * 1000),
        'webhookEvent': 'jira:issue_created',
        'issue_event_type_name': 'issue_created',
        'user': {'accountId': 'u1', 'displayName': 'U', 'accountType': 'atlassian'},
        'issue': {'id': '10001', 'key': sim_issue_key, 'fields': {'summary': 'top secret summary'}},
    }


def _token(system: System, *, secret: str | None = None, path: str = '/webhooks/jira', **claims: Any) -> str:
    now = int(time.time())
    body = {
        'iss': system.sim.client_key,
        'iat': now,
        'exp': now + 180,
        'qsh': query_hash('POST', path),
        **claims,
    }
    return jwt.encode(body, secret or system.sim.shared_secret or '', algorithm='HS256')


async def _post(system: System, token: str | None, content: bytes, **headers: str) -> httpx.Response:
    all_headers = {'Content-Type': 'application/json', **headers}
    if token is not None:
        all_headers['Authorization'] = f'JWT {token}'
    return await system.http.post(system.url + '/webhooks/jira', content=content, headers=all_headers)


def _assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert isinstance(response.json()['error'], str)
    assert response.json()['error']


async def test_descriptor_lists_what_jira_needs(system: System) -> None:
    descriptor = (await system.http.get(system.url + '/atlassian-connect.json')).json()
    assert descriptor['key'] == 'rulequeue'
    assert descriptor['baseUrl'] == system.url
    assert descriptor['authentication'] == {'type': 'jwt'}
    assert set(descriptor['scopes']) == {'READ', 'WRITE', 'ADMIN'}
    assert descriptor['apiMigrations']['signed-install'] is True
    assert set(descriptor['lifecycle']) == {'installed', 'uninstalled', 'enabled', 'disabled'}
    events = {hook['event'] for hook in descriptor['modules']['webhooks']}
    assert events == {
        'jira:issue_created',
        'jira:issue_updated',
        'jira:issue_deleted',
        'comment_created',
        'issuelink_created',
        'worklog_created',
    }
    assert {hook['url'] for hook in descriptor['modules']['webhooks']} == {'/webhooks/jira'}


@pytest.mark.parametrize(
    'forge',
    ['wrong-secret', 'expired', 'wrong-qsh', 'wrong-method-qsh', 'alg-none', 'unknown-tenant', 'missing', 'context'],
)
async def test_bad_webhook_tokens_are_401(system: System, forge: str) -> None:
    now = int(time.time())
    token: str | None
    if forge == 'wrong-secret':
        token = _token(system, secret='not-the-tenant-secret-but-long-enough')
    elif forge == 'expired':
        token = _token(system, iat=now - 600, exp=now - 300)
    elif forge == 'wrong-qsh':
        token = _token(system, qsh=query_hash('POST', '/webhooks/other'))
    elif forge == 'wrong-method-qsh':
        token = _token(system, qsh=query_hash('GET', '/webhooks/jira'))
    elif forge == 'alg-none':
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b'=').decode()
        claims = {
            'iss': system.sim.client_key,
            'iat': now,
            'exp': now + 60,
            'qsh': query_hash('POST', '/webhooks/jira'),
        }
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()
        token = f'{header}.{payload}.'
    elif forge == 'unknown-tenant':
        token = _token(system, iss='jira:nobody')
    elif forge == 'context':
        token = _token(system, qsh='context-qsh')
    else:
        token = None
    response = await _post(system, token, json.dumps(_event()).encode())
    _assert_error(response, 401)
    await _nothing_stored(system)


async def test_token_in_query_parameter_is_accepted(system: System) -> None:
    token = sign_tenant_request(
        method='POST',
        path='/webhooks/jira',
        raw_query='',
        secret=system.sim.shared_secret or '',
        issuer=system.sim.client_key,
    )
    response = await system.http.post(
        system.url + '/webhooks/jira',
        params={'jwt': token},
        json=_event(),
        headers={'X-Atlassian-Webhook-Identifier': 'q1'},
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ('body', 'fragment'),
    [
        (b'{"webhookEvent": ', 'JSON'),
        (b'\xff\xfe not utf-8', 'UTF-8'),
        (b'[1, 2, 3]', 'object'),
        (b'{"webhookEvent": "jira:issue_created"}', 'issue'),
        (b'{"webhookEvent": "jira:issue_created", "issue": {"id": "1"}}', 'issue.key'),
        (b'[' * 5000 + b']' * 5000, 'JSON'),
        (b'{"a":' * 100 + b'1' + b'}' * 100, 'nested'),
    ],
)
async def test_malformed_bodies_are_400(system: System, body: bytes, fragment: str) -> None:
    response = await _post(system, _token(system), body)
    _assert_error(response, 400)
    assert fragment in response.json()['error']
    await _nothing_stored(system)


async def test_body_over_the_limit_is_413_without_reading_it(system: System) -> None:
    big = b'{"pad": "' + b'x' * (6 * 1024 * 1024) + b'"}'
    response = await _post(system, _token(system), big)
    _assert_error(response, 413)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield b'x' * (1024 * 1024)

    chunked = await system.http.post(
        system.url + '/webhooks/jira',
        content=chunks(),
        headers={'Authorization': f'JWT {_token(system)}', 'Content-Type': 'application/json'},
    )
    _assert_error(chunked, 413)
    await _nothing_stored(system)


async def test_unsigned_install_is_401_and_stores_nothing(system: System, schema: str) -> None:
    payload = {
        'key': 'rulequeue',
        'clientKey': 'jira:attacker',
        'sharedSecret': 'x' * 40,
        'baseUrl': 'https://evil.example.com',
        'eventType': 'installed',
    }
    response = await system.http.post(system.url + '/lifecycle/installed', json=payload)
    _assert_error(response, 401)
    assert await system.pool.fetchval("SELECT count(*) FROM tenants WHERE client_key = 'jira:attacker'") == 0


async def test_reinstall_signed_by_a_rogue_key_keeps_the_secret(system: System) -> None:
    before = await system.pool.fetchval(
        'SELECT shared_secret_enc FROM tenants WHERE client_key = $1', system.sim.client_key
    )
    response = await system.sim.install(system.url + '/atlassian-connect.json', rogue=True, check=False)
    _assert_error(response, 401)
    after = await system.pool.fetchval(
        'SELECT shared_secret_enc FROM tenants WHERE client_key = $1', system.sim.client_key
    )
    assert after == before


async def test_uninstall_without_a_valid_token_changes_nothing(system: System) -> None:
    payload = {'key': 'rulequeue', 'clientKey': system.sim.client_key, 'baseUrl': system.sim.base_url}
    response = await system.http.post(
        system.url + '/lifecycle/uninstalled', json=payload, headers={'Authorization': f'JWT {_token(system)}'}
    )
    _assert_error(response, 401)  # an HS256 tenant token is not an install token
    state = await system.pool.fetchval('SELECT state FROM tenants WHERE client_key = $1', system.sim.client_key)
    assert state == 'installed'


async def test_lifecycle_token_for_another_client_key_is_refused(system: System) -> None:
    response = await system.sim.lifecycle('uninstalled', check=False, client_key='jira:someone-else')
    _assert_error(response, 401)
    state = await system.pool.fetchval('SELECT state FROM tenants WHERE client_key = $1', system.sim.client_key)
    assert state == 'installed'


async def test_health_endpoints(system: System) -> None:
    assert (await system.http.get(system.url + '/healthz')).json() == {'status': 'ok'}
    ready = await system.http.get(system.url + '/readyz')
    assert ready.status_code == 200
    assert ready.json()['checks'] == {'redis': 'ok', 'postgres': 'ok'}
