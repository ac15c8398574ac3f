"""The Jira simulator's Connect side over real HTTP: install keys, signed lifecycle calls, webhooks.

A tiny Connect app (a Starlette app in this module) serves a descriptor and records every
request Jira sends it; tokens are checked with rulequeue's own verification helpers.
REST API tests are in test_simulator_rest.py and share these fixtures.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rulequeue.connect.qsh import CONTEXT_QSH
from rulequeue.connect.tokens import unverified_header, verify_install_token, verify_tenant_token
from rulequeue.errors import Unauthorized
from rulequeue.serve import serve_in_background
from rulequeue.simulator import ALICE, BOB, JiraSimulator, SimulatorError
from schemas.events import WebhookEvent

ALL_EVENTS = ('jira:issue_created', 'jira:issue_updated', 'jira:issue_deleted', 'comment_created')
JIRA_TIME = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$')


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: Headers
    body: bytes

    @property
    def token(self) -> str:
        scheme, _, token = str(self.headers.get('authorization', '')).partition(' ')
        assert scheme == 'JWT'
        return token

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class ConnectApp:
    """A minimal Connect app: a descriptor, lifecycle and webhook routes under ``prefix``."""

    prefix: str = ''
    events: Sequence[str] = ALL_EVENTS
    url: str = ''
    lifecycle_status: int = 204
    received: list[Received] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url + self.prefix

    @property
    def descriptor_url(self) -> str:
        return self.base_url + '/atlassian-connect.json'

    def descriptor(self) -> dict[str, Any]:
        return {
            'key': 'rulequeue',
            'name': 'rulequeue',
            'baseUrl': self.base_url,
            'authentication': {'type': 'jwt'},
            'apiMigrations': {'signed-install': True, 'context-qsh': True, 'gdpr': True},
            'lifecycle': {e: f'/lifecycle/{e}' for e in ('installed', 'uninstalled', 'enabled', 'disabled')},
            'modules': {'webhooks': [{'event': e, 'url': '/webhooks/jira'} for e in self.events]},
        }

    async def _descriptor(self, request: Request) -> Response:
        return JSONResponse(self.descriptor())

    async def _record(self, request: Request) -> Response:
        query = request.scope['query_string'].decode()
        self.received.append(Received(request.method, request.url.path, query, request.headers, await request.body()))
        if '/lifecycle/' in request.url.path:
            return Response(status_code=self.lifecycle_status)
        return JSONResponse({'status': 'accepted'}, status_code=202)

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route(self.prefix + '/atlassian-connect.json', self._descriptor),
                Route(self.prefix + '/lifecycle/{event}', self._record, methods=['POST']),
                Route(self.prefix + '/webhooks/jira', self._record, methods=['POST']),
            ]
        )

    def webhooks(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.received if r.path.endswith('/webhooks/jira')]


@dataclass
class Site:
    sim: JiraSimulator
    app: ConnectApp
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running_site(*, prefix: str = '', events: Sequence[str] = ALL_EVENTS) -> AsyncIterator[Site]:
    sim = JiraSimulator()
    app = ConnectApp(prefix=prefix, events=events)
    async with sim.running(), serve_in_background(app.asgi()) as url, httpx.AsyncClient(timeout=10) as http:
        app.url = url
        yield Site(sim, app, http)


@pytest.fixture(name='site')
async def _site() -> AsyncIterator[Site]:
    async with running_site() as site:
        yield site


@pytest.fixture(name='installed')
async def _installed(site: Site) -> Site:
    await site.sim.install(site.app.descriptor_url)
    site.app.received.clear()
    return site


async def public_key(site: Site, token: str) -> str:
    response = await site.http.get(f'{site.sim.install_keys_url}/{unverified_header(token)["kid"]}')
    assert response.status_code == 200
    return response.text


def verify_webhook(site: Site, received: Received) -> dict[str, Any]:
    secret = site.sim.shared_secret
    assert secret is not None
    return verify_tenant_token(
        received.token,
        secret,
        method='POST',
        path=received.path,
        raw_query=received.query,
        base_path=site.app.prefix,
    )


# -- install and lifecycle ---------------------------------------------------------------------


async def test_install_is_signed_with_the_published_key(site: Site) -> None:
    response = await site.sim.install(site.app.descriptor_url)
    assert response.status_code == 204
    (call,) = site.app.received
    assert (call.method, call.path, call.headers['content-type']) == (
        'POST',
        '/lifecycle/installed',
        'application/json',
    )
    body = call.json()
    assert body['eventType'] == 'installed'
    assert body['key'] == 'rulequeue'
    assert body['clientKey'] == site.sim.client_key
    assert body['sharedSecret'] == site.sim.shared_secret
    assert len(body['sharedSecret']) >= 32
    assert body['baseUrl'] == body['displayUrl'] == site.sim.base_url
    assert body['productType'] == 'jira'
    for name in ('description', 'serviceEntitlementNumber', 'cloudId'):
        assert isinstance(body[name], str)
        assert body[name]

    header = unverified_header(call.token)
    assert (header['alg'], header['kid']) == ('RS256', site.sim.kid)
    pem = await public_key(site, call.token)
    assert pem.startswith('-----BEGIN PUBLIC KEY-----')
    claims = verify_install_token(
        call.token, pem, audience=site.app.base_url, method='POST', path=call.path, raw_query='', base_path=''
    )
    assert claims['iss'] == site.sim.client_key
    assert claims['exp'] - claims['iat'] == 180
    assert site.sim.app_state == 'installed'


async def test_install_keys_service_knows_only_its_own_kid(site: Site) -> None:
    assert (await site.http.get(f'{site.sim.install_keys_url}/{uuid.uuid4()}')).status_code == 404
    assert site.sim.calls == []  # key fetches are not REST calls


async def test_install_under_a_base_path_hashes_the_relative_path() -> None:
    async with running_site(prefix='/base') as site:
        await site.sim.install(site.app.descriptor_url)
        (call,) = site.app.received
        assert call.path == '/base/lifecycle/installed'
        pem = await public_key(site, call.token)
        verify_install_token(
            call.token,
            pem,
            audience=site.app.base_url,
            method='POST',
            path=call.path,
            raw_query='',
            base_path='/base',
        )
        with pytest.raises(Unauthorized, match='qsh'):
            verify_install_token(
                call.token,
                pem,
                audience=site.app.base_url,
                method='POST',
                path=call.path,
                raw_query='',
                base_path='',
            )


async def test_rogue_install_does_not_verify_and_keeps_the_secret(installed: Site) -> None:
    site = installed
    secret = site.sim.shared_secret
    response = await site.sim.install(site.app.descriptor_url, rogue=True, check=False)
    assert response.status_code == 204  # this test app accepts anything; rulequeue must not
    (call,) = site.app.received
    assert unverified_header(call.token)['kid'] == site.sim.kid
    assert call.json()['sharedSecret'] != secret
    with pytest.raises(Unauthorized, match='signature'):
        verify_install_token(
            call.token,
            await public_key(site, call.token),
            audience=site.app.base_url,
            method='POST',
            path=call.path,
            raw_query='',
            base_path='',
        )
    assert site.sim.shared_secret == secret


async def test_refused_install_raises_unless_unchecked(site: Site) -> None:
    site.app.lifecycle_status = 401
    with pytest.raises(SimulatorError, match='401'):
        await site.sim.install(site.app.descriptor_url)
    response = await site.sim.install(site.app.descriptor_url, check=False)
    assert response.status_code == 401
    assert site.sim.shared_secret is None
    assert site.sim.app_state == 'new'


async def test_lifecycle_calls_carry_the_same_secret_and_change_state(installed: Site) -> None:
    site = installed
    for event, state in (('disabled', 'disabled'), ('enabled', 'installed'), ('uninstalled', 'uninstalled')):
        await site.sim.lifecycle(event)
        call = site.app.received[-1]
        assert call.path == f'/lifecycle/{event}'
        body = call.json()
        assert (body['eventType'], body['sharedSecret'], body['clientKey']) == (
            event,
            site.sim.shared_secret,
            site.sim.client_key,
        )
        claims = verify_install_token(
            call.token,
            await public_key(site, call.token),
            audience=site.app.base_url,
            method='POST',
            path=call.path,
            raw_query='',
            base_path='',
        )
        assert claims['iss'] == site.sim.client_key
        assert site.sim.app_state == state


async def test_lifecycle_for_another_client_key_is_a_forgery(installed: Site) -> None:
    site = installed
    await site.sim.lifecycle('uninstalled', client_key='jira:someone-else')
    call = site.app.received[-1]
    assert unverified_header(call.token)['kid'] == site.sim.kid
    assert call.json()['clientKey'] == site.sim.client_key
    claims = verify_install_token(
        call.token,
        await public_key(site, call.token),
        audience=site.app.base_url,
        method='POST',
        path=call.path,
        raw_query='',
        base_path='',
    )
    assert claims['iss'] == 'jira:someone-else'
    assert site.sim.app_state == 'installed'


# -- webhooks ------------------------------------------------------------------------------------


async def test_issue_created_webhook_is_signed_and_shaped_like_jira(installed: Site) -> None:
    site = installed
    issue, responses = await site.sim.create_issue(
        project='PROJ',
        issuetype='Bug',
        summary='Crash on save',
        priority='High',
        labels=['b', 'a'],
        assignee=BOB['accountId'],
        reporter=ALICE,
        description='steps',
        customfield_10010='Platform',
    )
    assert [r.status_code for r in responses] == [202]
    (call,) = site.app.received
    assert call.headers['content-type'] == 'application/json'
    assert uuid.UUID(call.headers['x-atlassian-webhook-identifier'])
    assert 'x-atlassian-webhook-retry' not in call.headers
    claims = verify_webhook(site, call)
    assert claims['iss'] == site.sim.client_key
    assert claims['exp'] - claims['iat'] == 180

    body = call.json()
    assert abs(body['timestamp'] - time.time() * 1000) < 60_000
    assert (body['webhookEvent'], body['issue_event_type_name']) == ('jira:issue_created', 'issue_created')
    assert body['user']['accountId'] == ALICE['accountId']
    assert body['user']['accountType'] == 'atlassian'
    assert 'changelog' not in body
    sent = body['issue']
    assert sent == issue == site.sim.issues['PROJ-1']
    assert (sent['id'], sent['key']) == ('10000', 'PROJ-1')
    assert sent['self'] == f'{site.sim.base_url}/rest/api/2/issue/10000'
    fields = sent['fields']
    assert fields['summary'] == 'Crash on save'
    assert fields['description'] == 'steps'
    assert fields['issuetype'] == fields['issuetype'] | {'id': '10004', 'name': 'Bug', 'subtask': False}
    assert fields['project'] == fields['project'] | {'id': '10000', 'key': 'PROJ'}
    assert fields['status']['name'] == 'To Do'
    assert fields['status']['id'] == '10000'
    assert fields['status']['statusCategory']['key'] == 'new'
    assert (fields['priority']['id'], fields['priority']['name']) == ('2', 'High')
    assert fields['labels'] == ['a', 'b']
    assert fields['assignee']['accountId'] == BOB['accountId']
    assert fields['reporter']['accountId'] == fields['creator']['accountId'] == ALICE['accountId']
    assert (fields['components'], fields['resolution'], fields['duedate']) == ([], None, None)
    assert fields['customfield_10010'] == 'Platform'
    assert 'customfield_10016' in fields
    assert JIRA_TIME.match(fields['created'])
    assert JIRA_TIME.match(fields['updated'])
    WebhookEvent.model_validate(body)


async def test_transition_assign_and_edit_webhooks_carry_changelogs(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s', labels=['old'])
    key = issue['key']
    await site.sim.transition_issue(key, 'In Progress', user=BOB)
    await site.sim.assign_issue(key, BOB['accountId'], user=ALICE)
    await site.sim.update_issue(key, {'labels': ['new', 'old'], 'summary': 's2', 'priority': 'Low'}, user=ALICE)
    await site.sim.transition_issue(key, 'Done', user=ALICE)
    created, started, assigned, edited, done = site.app.webhooks()
    assert [b['issue_event_type_name'] for b in (started, assigned, edited, done)] == [
        'issue_generic',
        'issue_assigned',
        'issue_updated',
        'issue_generic',
    ]
    assert all(b['webhookEvent'] == 'jira:issue_updated' for b in (started, assigned, edited, done))
    assert started['user']['accountId'] == BOB['accountId']
    assert started['changelog']['items'] == [
        {
            'field': 'status',
            'fieldtype': 'jira',
            'fieldId': 'status',
            'from': '10000',
            'fromString': 'To Do',
            'to': '3',
            'toString': 'In Progress',
        },
    ]
    assert started['issue']['fields']['status']['name'] == 'In Progress'
    assert assigned['changelog']['items'] == [
        {
            'field': 'assignee',
            'fieldtype': 'jira',
            'fieldId': 'assignee',
            'from': None,
            'fromString': None,
            'to': BOB['accountId'],
            'toString': BOB['displayName'],
        },
    ]
    by_field = {i['fieldId']: i for i in edited['changelog']['items']}
    assert (by_field['labels']['fromString'], by_field['labels']['toString']) == ('old', 'new old')
    assert (by_field['summary']['fromString'], by_field['summary']['toString']) == ('s', 's2')
    assert (by_field['priority']['from'], by_field['priority']['to']) == ('3', '4')
    assert [(i['field'], i['to']) for i in done['changelog']['items']] == [('status', '10003'), ('resolution', '10000')]
    assert done['issue']['fields']['resolution']['name'] == 'Done'
    ids = [int(b['changelog']['id']) for b in (started, assigned, edited, done)]
    assert ids == sorted(set(ids))
    for body in (created, started, assigned, edited, done):
        WebhookEvent.model_validate(body)
    assert await site.sim.update_issue(key, {'summary': 's2'}) == []  # no change, no event


async def test_comment_sends_comment_created_and_issue_commented(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    responses = await site.sim.add_comment(issue['key'], 'please close', user=BOB)
    assert [r.status_code for r in responses] == [202, 202]
    _, comment_event, commented = site.app.webhooks()
    assert comment_event['webhookEvent'] == 'comment_created'
    assert 'user' not in comment_event
    comment = comment_event['comment']
    assert (comment['id'], comment['body'], comment['author']['accountId']) == (
        '10000',
        'please close',
        BOB['accountId'],
    )
    assert JIRA_TIME.match(comment['created'])
    reduced = comment_event['issue']
    assert set(reduced) == {'id', 'key', 'self', 'fields'}
    assert set(reduced['fields']) == {'summary', 'status', 'issuetype', 'priority', 'assignee', 'project'}
    assert (commented['webhookEvent'], commented['issue_event_type_name']) == ('jira:issue_updated', 'issue_commented')
    assert commented['comment'] == comment
    assert 'changelog' not in commented
    assert commented['user']['accountId'] == BOB['accountId']
    assert [c['body'] for c in site.sim.comments[issue['key']]] == ['please close']
    WebhookEvent.model_validate(comment_event)
    WebhookEvent.model_validate(commented)


async def test_delete_sends_issue_deleted_and_forgets_the_issue(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    await site.sim.delete_issue(issue['key'], user=BOB)
    body = site.app.webhooks()[-1]
    assert (body['webhookEvent'], body['issue_event_type_name']) == ('jira:issue_deleted', 'issue_deleted')
    assert body['issue']['key'] == issue['key']
    assert body['user']['accountId'] == BOB['accountId']
    assert issue['key'] not in site.sim.issues


async def test_only_registered_events_are_sent() -> None:
    async with running_site(events=['jira:issue_created']) as site:
        await site.sim.install(site.app.descriptor_url)
        issue, created = await site.sim.create_issue(summary='s')
        assert len(created) == 1
        assert await site.sim.transition_issue(issue['key'], 'Done') == []
        assert await site.sim.add_comment(issue['key'], 'c') == []
        assert [b['webhookEvent'] for b in site.app.webhooks()] == ['jira:issue_created']
        with pytest.raises(SimulatorError, match='no webhook'):
            await site.sim.send_webhook({'webhookEvent': 'comment_created'})


async def test_send_webhook_replays_and_forges_deliveries(installed: Site) -> None:
    site = installed
    await site.sim.create_issue(summary='s')
    body, delivery = site.sim.last_webhook_body, site.sim.last_delivery_id
    assert body is not None
    assert delivery is not None
    await site.sim.send_webhook(body, delivery_id=delivery, retry=1)
    await site.sim.send_webhook(body, token='forged.token.value')
    await site.sim.send_webhook(body, headers={'Authorization': None, 'X-Extra': 'yes'}, raw_body=b'{"x": 1}')
    first, again, forged, unsigned = site.app.received
    assert again.headers['x-atlassian-webhook-identifier'] == first.headers['x-atlassian-webhook-identifier']
    assert again.headers['x-atlassian-webhook-retry'] == '1'
    assert again.body == first.body
    verify_webhook(site, again)
    assert forged.headers['authorization'] == 'JWT forged.token.value'
    assert forged.headers['x-atlassian-webhook-identifier'] != delivery
    assert 'authorization' not in unsigned.headers
    assert (unsigned.headers['x-extra'], unsigned.body) == ('yes', b'{"x": 1}')


async def test_webhooks_to_an_app_under_a_base_path_hash_the_relative_path() -> None:
    async with running_site(prefix='/base') as site:
        await site.sim.install(site.app.descriptor_url)
        site.app.received.clear()
        await site.sim.create_issue(summary='s')
        (call,) = site.app.received
        assert call.path == '/base/webhooks/jira'
        verify_webhook(site, call)


async def test_app_page_tokens(installed: Site) -> None:
    site = installed
    secret = site.sim.shared_secret
    assert secret is not None
    url = site.app.base_url + '/api/rules?b=2&a=1'
    token = site.sim.sign_request('GET', url, account_id=ALICE['accountId'])
    claims = verify_tenant_token(token, secret, method='GET', path='/api/rules', raw_query='a=1&b=2', base_path='')
    assert (claims['iss'], claims['sub']) == (site.sim.client_key, ALICE['accountId'])
    with pytest.raises(Unauthorized, match='qsh'):
        verify_tenant_token(token, secret, method='POST', path='/api/rules', raw_query='a=1&b=2', base_path='')
    context = site.sim.context_token(BOB['accountId'])
    claims = verify_tenant_token(
        context, secret, method='GET', path='/api/x', raw_query='', base_path='', allow_context_qsh=True
    )
    assert (claims['qsh'], claims['sub']) == (CONTEXT_QSH, BOB['accountId'])


async def test_nothing_is_sent_before_install(site: Site) -> None:
    issue, responses = await site.sim.create_issue(summary='s')
    assert responses == []
    assert site.sim.issues[issue['key']]['fields']['summary'] == 's'
    with pytest.raises(SimulatorError):
        site.sim.sign_request('GET', site.app.base_url + '/api/rules')
