"""The attack suite: each known way to break a Connect app, as a real HTTP request.

Every test here fails against an implementation with the matching hole (a check removed or
loosened) and passes now. The README's security section lists them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rulequeue.connect.qsh import CONTEXT_QSH, query_hash
from rulequeue.serve import serve_in_background
from rulequeue.simulator import ALICE, JiraSimulator
from tests.harness import System, redis_keys, running_system

WEBHOOK = '/webhooks/jira'


def _event(key: str = 'PROJ-1') -> dict[str, Any]:
    return {
        'timestamp': int(time.time() * 1000),
        'webhookEvent': 'jira:issue_created',
        'user': {'accountId': 'u1', 'accountType': 'atlassian'},
        'issue': {'id': '10001', 'key': key, 'fields': {'summary': 's', 'project': {'key': 'PROJ'}}},
    }


def _claims(
    system: System, *, method: str = 'POST', path: str = WEBHOOK, query: str = '', **extra: Any
) -> dict[str, Any]:
    now = int(time.time())
    return {'iss': system.sim.client_key, 'iat': now, 'exp': now + 180, 'qsh': query_hash(method, path, query), **extra}


def _hs(system: System, secret: str | None = None, **claims: Any) -> str:
    return jwt.encode(_claims(system, **claims), secret or system.sim.shared_secret or '', algorithm='HS256')


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b'=').decode()

    return f'{part({"alg": "none", "typ": "JWT"})}.{part(claims)}.'


async def _webhook(system: System, token: str, body: dict[str, Any] | None = None) -> Any:
    return await system.http.post(
        system.url + WEBHOOK,
        json=body or _event(),
        headers={'Authorization': f'JWT {token}', 'X-Atlassian-Webhook-Identifier': f'atk-{time.monotonic_ns()}'},
    )


async def _lifecycle(system: System, event: str, token: str, **body: Any) -> Any:
    payload = {
        'key': 'rulequeue',
        'clientKey': system.sim.client_key,
        'sharedSecret': 'attacker-chosen-secret-0123456789abcdef',
        'baseUrl': 'https://evil.example.com',
        'eventType': event,
        **body,
    }
    return await system.http.post(
        f'{system.url}/lifecycle/{event}', json=payload, headers={'Authorization': f'JWT {token}'}
    )


def _install_claims(system: System, event: str = 'installed', **extra: Any) -> dict[str, Any]:
    return _claims(system, path=f'/lifecycle/{event}', aud=system.url, **extra)


async def _clean(system: System) -> None:
    assert await redis_keys(system.settings, 'rulequeue:snap:*') == []
    assert await redis_keys(system.settings, 'arq:*') == []
    row = await system.pool.fetchrow('SELECT state, base_url FROM tenants WHERE client_key = $1', system.sim.client_key)
    assert row is not None
    assert (row['state'], row['base_url']) == ('installed', system.sim.base_url)


# -- tokens on the webhook route -----------------------------------------------------------------


@pytest.mark.parametrize(
    'attack',
    [
        'alg-none',
        'rs256-on-webhook',
        'expired',
        'not-yet-valid',
        'far-future-iat',
        'missing-qsh',
        'qsh-other-path',
        'qsh-other-method',
        'qsh-other-query',
        'context-qsh',
        'other-tenant-secret',
        'no-exp',
    ],
)
async def test_forged_webhook_tokens_are_refused(system: System, attack: str) -> None:
    now = int(time.time())
    other = JiraSimulator(install_signer=system.sim.install_signer)
    async with other.running():
        await other.install(system.url + '/atlassian-connect.json')
        tokens = {
            'alg-none': lambda: _unsigned(_claims(system)),
            'rs256-on-webhook': lambda: system.sim.install_signer.sign(_claims(system)),
            'expired': lambda: _hs(system, iat=now - 900, exp=now - 600),
            'not-yet-valid': lambda: _hs(system, nbf=now + 600),
            'far-future-iat': lambda: _hs(system, iat=now + 3600, exp=now + 7200),
            'missing-qsh': lambda: jwt.encode(
                {k: v for k, v in _claims(system).items() if k != 'qsh'}, system.sim.shared_secret, algorithm='HS256'
            ),
            'qsh-other-path': lambda: _hs(system, qsh=query_hash('POST', '/api/rules')),
            'qsh-other-method': lambda: _hs(system, qsh=query_hash('GET', WEBHOOK)),
            'qsh-other-query': lambda: _hs(system, qsh=query_hash('POST', WEBHOOK, 'a=1')),
            'context-qsh': lambda: _hs(system, qsh=CONTEXT_QSH),
            # iss names tenant A, the signature is made with tenant B's secret.
            'other-tenant-secret': lambda: _hs(system, secret=other.shared_secret),
            'no-exp': lambda: jwt.encode(
                {k: v for k, v in _claims(system).items() if k != 'exp'}, system.sim.shared_secret, algorithm='HS256'
            ),
        }
        response = await _webhook(system, tokens[attack]())
    assert response.status_code == 401, response.text
    assert response.json()['error']
    await _clean(system)


async def test_tenant_b_cannot_send_events_as_tenant_a(system: System) -> None:
    other = JiraSimulator(install_signer=system.sim.install_signer)
    async with other.running():
        await other.install(system.url + '/atlassian-connect.json')
        # B's own valid token works for B; changing only iss to A breaks the signature check.
        forged = jwt.encode(
            {
                **jwt.decode(other.sign_request('POST', system.url + WEBHOOK), options={'verify_signature': False}),
                'iss': system.sim.client_key,
            },
            other.shared_secret,
            algorithm='HS256',
        )
        assert (await _webhook(system, forged)).status_code == 401


# -- lifecycle routes ------------------------------------------------------------------------------


@pytest.mark.parametrize('event', ['installed', 'uninstalled', 'enabled', 'disabled'])
@pytest.mark.parametrize('attack', ['unsigned', 'hs256-tenant-token', 'alg-none', 'rs-hs-confusion', 'context-qsh'])
async def test_forged_lifecycle_calls_change_nothing(system: System, event: str, attack: str) -> None:
    public_pem = system.sim.install_signer.public_pem
    tokens = {
        'hs256-tenant-token': lambda: _hs(system, path=f'/lifecycle/{event}'),
        'alg-none': lambda: _unsigned(_install_claims(system, event)),
        # The classic RS/HS confusion: the public install key used as an HMAC secret.
        'rs-hs-confusion': lambda: _hmac_with(public_pem, _install_claims(system, event)),
        'context-qsh': lambda: system.sim.install_signer.sign(_install_claims(system, event, qsh=CONTEXT_QSH)),
    }
    if attack == 'unsigned':
        response = await system.http.post(f'{system.url}/lifecycle/{event}', json={'clientKey': system.sim.client_key})
    else:
        response = await _lifecycle(system, event, tokens[attack]())
    assert response.status_code == 401, response.text
    await _clean(system)


def _hmac_with(key: str, claims: dict[str, Any]) -> str:
    header = base64.urlsafe_b64encode(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'x'}).encode()).rstrip(b'=')
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=')
    import hashlib
    import hmac

    signature = hmac.new(key.encode(), header + b'.' + body, hashlib.sha256).digest()
    return (header + b'.' + body + b'.' + base64.urlsafe_b64encode(signature).rstrip(b'=')).decode()


@pytest.mark.parametrize('event', ['uninstalled', 'enabled', 'disabled'])
async def test_lifecycle_for_a_client_key_other_than_the_token_issuer(system: System, event: str) -> None:
    response = await system.sim.lifecycle(event, check=False, client_key='jira:someone-else')
    assert response.status_code == 401
    await _clean(system)


@pytest.mark.parametrize('kid', ['../../etc/passwd', 'http://evil.example.com/key', '%2e%2e%2fadmin', 'a/b', ''])
async def test_malicious_kid_is_refused_without_fetching(system: System, kid: str) -> None:
    claims = _install_claims(system)
    token = system.sim.install_signer.sign(claims, kid=kid)
    response = await _lifecycle(system, 'installed', token)
    assert response.status_code == 401
    await _clean(system)


async def test_replayed_install_signed_by_a_rogue_key(system: System) -> None:
    response = await system.sim.install(system.url + '/atlassian-connect.json', rogue=True, check=False)
    assert response.status_code == 401
    await _clean(system)


@pytest.mark.parametrize('mode', ['down', 'garbage', 'not-rsa', 'server-error'])
async def test_install_keys_service_failures_fail_closed(schema: str, redis: aioredis.Redis, mode: str) -> None:
    async def key(request: Request) -> Response:
        if mode == 'garbage':
            return PlainTextResponse('<html>definitely not a key</html>')
        if mode == 'not-rsa':
            return PlainTextResponse(
                '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n'
                '-----END PUBLIC KEY-----\n'
            )
        return PlainTextResponse('boom', status_code=500)

    keys_app = Starlette(routes=[Route('/{kid}', key)])
    async with serve_in_background(keys_app) as keys_url:
        url = 'http://127.0.0.1:9' if mode == 'down' else keys_url
        async with running_system(schema, install=False, connect_install_keys_url=url) as system:
            response = await system.sim.install(system.url + '/atlassian-connect.json', check=False)
            expected = 503 if mode in ('down', 'server-error') else 401
            assert response.status_code == expected, response.text
            assert await system.pool.fetchval('SELECT count(*) FROM tenants') == 0


# -- bodies and headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('body', 'content_type', 'status'),
    [
        (b'{"a": 1, "a": 2}', 'application/json', 400),
        (b'{"n": ' + b'9' * 5000 + b'}', 'application/json', 400),
        (b'{"n": NaN}', 'application/json', 400),
        (b'{"n": Infinity}', 'application/json', 400),
        (json.dumps(_event()).encode(), 'text/plain', 415),
        (json.dumps(_event()).encode(), None, 415),
        (json.dumps(_event('PROJ-1/../../rest/api/2/myself')).encode(), 'application/json', 400),
        (json.dumps(_event('PROJ-1?jql=x')).encode(), 'application/json', 400),
        (json.dumps(_event('ÄÖ-1')).encode(), 'application/json', 400),
        (json.dumps(_event('PROJ-1 ')).encode(), 'application/json', 400),
    ],
    ids=[
        'duplicate-keys',
        'huge-integer',
        'nan',
        'infinity',
        'text-plain',
        'no-content-type',
        'key-traversal',
        'key-query',
        'key-unicode',
        'key-space',
    ],
)
async def test_hostile_bodies(system: System, body: bytes, content_type: str | None, status: int) -> None:
    headers = {'Authorization': f'JWT {_hs(system)}'}
    if content_type:
        headers['Content-Type'] = content_type
    response = await system.http.post(system.url + WEBHOOK, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()['error']
    await _clean(system)


async def test_enormous_header_is_refused_without_a_crash(system: System) -> None:
    # uvicorn (h11) caps a request head at 16 KiB: it answers 4xx or drops the connection.
    try:
        response = await system.http.post(
            system.url + WEBHOOK, json=_event(), headers={'Authorization': f'JWT {_hs(system)}', 'X-Big': 'x' * 200_000}
        )
    except (httpx.ReadError, httpx.RemoteProtocolError):
        pass
    else:
        assert 400 <= response.status_code < 500
    assert (await system.http.get(system.url + '/healthz')).status_code == 200
    await _clean(system)


@pytest.mark.timeout(30)
async def test_slow_loris_upload_times_out(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, body_read_timeout_seconds=1.0) as system:
        host, port = system.url.removeprefix('http://').split(':')
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            f'POST {WEBHOOK} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n'
            f'Authorization: JWT {_hs(system)}\r\nContent-Length: 5000\r\n\r\n'
        )
        writer.write(head.encode() + b'{"webhookEvent": ')
        await writer.drain()
        started = time.monotonic()
        status_line = await asyncio.wait_for(reader.readline(), timeout=20)
        writer.close()
        assert status_line.startswith(b'HTTP/1.1 408'), status_line
        assert time.monotonic() - started < 10
        await _clean(system)


# -- the rules API ---------------------------------------------------------------------------------

INJECTION = '{{issue.__class__}}|{{issue.key.__class__.__mro__}}|{{rule.__init__.__globals__}}|{{issue.key}}'


async def test_template_injection_reaches_only_data(system: System) -> None:
    await system.add_rule(
        {'name': 'inject', 'trigger': {'type': 'issue_created'}, 'actions': [{'type': 'comment', 'body': INJECTION}]}
    )
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='x', reporter=ALICE)
    await system.drain()
    [comment] = system.sim.comments[issue['key']]
    assert comment['body'] == f'|||{issue["key"]}'
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert 'unknown' in (entry['actions'][0]['message'] or '')


async def test_oversized_and_overgrown_rules(system: System) -> None:
    huge = {'name': 'x', 'trigger': {'type': 'issue_created'}, 'actions': [{'type': 'log', 'message': 'x' * 300_000}]}
    assert (await system.api('POST', '/api/rules', json=huge)).status_code == 413
    many = {'name': 'x', 'trigger': {'type': 'issue_created'}, 'actions': [{'type': 'log', 'message': 'm'}] * 70}
    response = await system.api('POST', '/api/rules', json=many)
    assert response.status_code == 422
    assert '65' in json.dumps(response.json())


async def test_context_token_of_one_tenant_never_touches_another(system: System) -> None:
    document = {'name': 'a', 'trigger': {'type': 'issue_created'}, 'actions': [{'type': 'log', 'message': 'm'}]}
    rule = await system.add_rule(document)
    await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='x', reporter=ALICE)
    await system.drain()
    other = JiraSimulator(install_signer=system.sim.install_signer)
    async with other.running():
        await other.install(system.url + '/atlassian-connect.json')
        headers = {'Authorization': f'JWT {other.context_token(ALICE["accountId"])}'}
        base = f'{system.url}/api/rules/{rule["id"]}'
        assert (await system.http.get(base, headers=headers)).status_code == 404
        assert (await system.http.put(base, json={**document, 'name': 'pwned'}, headers=headers)).status_code == 404
        assert (await system.http.delete(base, headers=headers)).status_code == 404
        audit = await system.http.get(f'{system.url}/api/audit', headers=headers)
        assert audit.json() == {'entries': []}
    assert (await system.api('GET', f'/api/rules/{rule["id"]}')).json()['name'] == 'a'


LOG_RULE = {'name': 'n', 'trigger': {'type': 'issue_created'}, 'actions': [{'type': 'log', 'message': 'm'}]}


@pytest.mark.parametrize(
    ('method', 'path', 'body', 'status'),
    [
        (
            'POST',
            '/api/rules',
            {'name': 'nul\x00', 'trigger': {'type': 'issue_created'}, 'actions': [{'type': 'log', 'message': 'm'}]},
            422,
        ),
        (
            'POST',
            '/api/rules',
            {'name': 'n', 'trigger': {'type': 'issue_created'}, 'actions': [{'type': 'log', 'message': '\ud800'}]},
            422,
        ),
        ('GET', '/api/audit?rule=not-a-uuid', None, 400),
        ('GET', '/api/audit?issue=PROJ-1%00', None, 400),
    ],
    ids=['nul-in-rule', 'surrogate-in-rule', 'audit-rule-not-uuid', 'audit-issue-nul'],
)
async def test_text_postgres_cannot_store_is_refused_not_a_503(
    system: System, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    # Found by the long schemathesis run: these reached Postgres and came back as 503.
    content = json.dumps(body).encode() if body is not None else None
    headers = {'Content-Type': 'application/json'} if body is not None else {}
    response = await system.api(method, path, content=content, headers=headers)
    assert response.status_code == status, response.text


async def test_odd_characters_rendered_into_an_audit_row_are_recorded(system: System) -> None:
    await system.add_rule(
        {
            'name': 'echo',
            'trigger': {'type': 'issue_created'},
            'actions': [{'type': 'log', 'message': '{{issue.summary}}'}],
        }
    )
    await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='a\x00b', reporter=ALICE)
    await system.drain()
    [entry] = await system.audit()
    assert entry['status'] == 'SUCCESS'
    assert entry['actions'][0]['changes']['log'] == 'a\ufffdb'
