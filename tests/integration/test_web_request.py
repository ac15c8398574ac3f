"""web_request through the guarded client, against real HTTP servers on loopback addresses.

The "outside world" is a server on 127.0.0.2, allowed here through
WEB_REQUEST_ALLOWED_NETWORKS=127.0.0.2/32 (the one exception an operator can configure); the
refused targets are the rest of loopback, private and link-local space, reached directly, by
a DNS name, or through a redirect from the allowed server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from rulequeue.errors import EgressRefused
from rulequeue.serve import serve_in_background
from worker.egress import GuardedTransport
from worker.web_request import WebRequester, send

OUTSIDE = ipaddress.ip_network('127.0.0.2/32')


def _target_app(inside_url: str) -> Starlette:
    async def hook(request: Request) -> Response:
        return JSONResponse({'id': 'T-1', 'got': (await request.body()).decode(), 'key': request.headers.get('x-k')})

    async def to_inside(request: Request) -> Response:
        return RedirectResponse(inside_url + '/secret', status_code=302)

    async def to_metadata(request: Request) -> Response:
        return RedirectResponse('http://169.254.169.254/latest/meta-data/', status_code=307)

    async def to_localhost(request: Request) -> Response:
        return RedirectResponse(inside_url.replace('127.0.0.1', 'localhost') + '/secret', status_code=301)

    async def hop(request: Request) -> Response:
        return RedirectResponse('/hook', status_code=303)

    async def big(request: Request) -> Response:
        return PlainTextResponse('x' * (1024 * 1024))

    routes = [('/hook', hook), ('/to-inside', to_inside), ('/to-metadata', to_metadata)]
    routes += [('/to-localhost', to_localhost), ('/hop', hop), ('/big', big)]
    return Starlette(routes=[Route(path, fn, methods=['GET', 'POST']) for path, fn in routes])


def _inside_app() -> Starlette:
    async def secret(request: Request) -> Response:
        return PlainTextResponse('internal secret')

    return Starlette(routes=[Route('/secret', secret)])


@pytest.fixture(name='servers')
async def _servers() -> AsyncIterator[tuple[str, str]]:
    async with serve_in_background(_inside_app()) as inside:  # noqa: SIM117 - the second needs the first's URL
        async with serve_in_background(_target_app(inside), host='127.0.0.2') as outside:
            yield outside, inside


@pytest.fixture(name='requester')
async def _requester() -> AsyncIterator[WebRequester]:
    async def hosts_of(client_key: str) -> list[str]:
        assert client_key == 'tenant-1'
        return ['127.0.0.2', '127.0.0.1', 'localhost', '10.0.0.1', '169.254.169.254']

    async with httpx.AsyncClient(transport=GuardedTransport([OUTSIDE]), trust_env=False) as client:
        yield WebRequester(client, hosts_of)


async def test_an_allowed_public_target_answers(servers: tuple[str, str], requester: WebRequester) -> None:
    outside, _ = servers
    answer = await send(
        requester, 'tenant-1', 'POST', outside + '/hook', headers={'X-K': 'v'}, body='hello', timeout_seconds=5
    )
    assert (answer.status, answer.host) == (200, '127.0.0.2')
    assert answer.body == {'id': 'T-1', 'got': 'hello', 'key': 'v'}


async def test_a_303_redirect_to_an_allowed_target_is_followed_as_get(
    servers: tuple[str, str], requester: WebRequester
) -> None:
    outside, _ = servers
    answer = await send(requester, 'tenant-1', 'POST', outside + '/hop', headers={}, body='x', timeout_seconds=5)
    assert answer.status == 200
    assert answer.body['got'] == ''


@pytest.mark.parametrize(
    'url',
    [
        'http://127.0.0.1:{inside_port}/secret',  # loopback, as an IP literal
        'http://localhost:{inside_port}/secret',  # a DNS name that resolves to loopback
        'http://[::1]:{inside_port}/secret',
        'http://10.0.0.1/',  # private
        'http://169.254.169.254/latest/meta-data/',  # link-local (cloud metadata)
        '{outside}/to-inside',  # a redirect to loopback
        '{outside}/to-localhost',  # a redirect to a name that resolves to loopback
        '{outside}/to-metadata',  # a redirect to link-local
    ],
)
async def test_non_public_targets_are_refused(servers: tuple[str, str], requester: WebRequester, url: str) -> None:
    outside, inside = servers
    target = url.format(outside=outside, inside_port=httpx.URL(inside).port)
    with pytest.raises(EgressRefused):
        await send(requester, 'tenant-1', 'GET', target, headers={}, body=None, timeout_seconds=5)


async def test_hosts_off_the_allow_list_and_other_schemes_are_refused(requester: WebRequester) -> None:
    for url in ('http://example.org/', 'file:///etc/passwd', 'ftp://127.0.0.2/'):
        with pytest.raises(EgressRefused):
            await send(requester, 'tenant-1', 'GET', url, headers={}, body=None, timeout_seconds=5)


async def test_an_oversized_answer_is_refused(servers: tuple[str, str], requester: WebRequester) -> None:
    outside, _ = servers
    with pytest.raises(EgressRefused, match='larger than'):
        await send(requester, 'tenant-1', 'GET', outside + '/big', headers={}, body=None, timeout_seconds=5)


async def test_a_rule_calls_out_and_uses_the_answer_and_a_refusal_is_audited(
    schema: str, servers: tuple[str, str]
) -> None:
    from rulequeue.simulator import ALICE
    from tests.harness import running_system

    outside, inside = servers
    rule = {
        'name': 'Tell the tracker',
        'trigger': {'type': 'issue_created'},
        'actions': [
            {'type': 'web_request', 'url': outside + '/hook', 'body': '{{issue.key}}'},
            {'type': 'comment', 'body': 'tracked as {{webhookResponse.body.id}} ({{webhookResponse.status}})'},
            {'type': 'web_request', 'method': 'GET', 'url': inside + '/secret'},
        ],
    }
    async with running_system(schema, web_request_allowed_networks='127.0.0.2/32') as system:
        denied = await system.api('PUT', '/api/web-request-hosts', json={'hosts': ['bad host!']})
        assert denied.status_code == 422
        saved = await system.api('PUT', '/api/web-request-hosts', json={'hosts': ['127.0.0.2', '127.0.0.1']})
        assert saved.json() == {'hosts': ['127.0.0.1', '127.0.0.2']}
        await system.add_rule(rule)
        issue, _ = await system.sim.create_issue(summary='s', reporter=ALICE)
        await system.drain()
        [comment] = system.sim.comments[issue['key']]
        assert comment['body'] == 'tracked as T-1 (200)'
        [entry] = await system.audit()
        assert entry['status'] == 'SOME_ERRORS'
        first, _, refused = entry['actions']
        assert first['changes'] == {'status': 200, 'host': '127.0.0.2'}
        assert refused['status'] == 'FAILED'
        assert 'non-public address' in refused['message']


async def test_a_failed_call_is_audited_without_the_templated_url(schema: str) -> None:
    from rulequeue.serve import free_port
    from rulequeue.simulator import ALICE
    from tests.harness import running_system

    closed = f'http://127.0.0.2:{free_port()}'  # nothing listens: the connection is refused
    rule = {
        'name': 'Call a dead tracker',
        'trigger': {'type': 'issue_created'},
        'actions': [{'type': 'web_request', 'url': closed + '/hook/{{issue.summary}}'}],
    }
    async with running_system(schema, web_request_allowed_networks='127.0.0.2/32') as system:
        assert (await system.api('PUT', '/api/web-request-hosts', json={'hosts': ['127.0.0.2']})).status_code == 200
        await system.add_rule(rule)
        await system.sim.create_issue(summary='secret-summary-text', reporter=ALICE)
        await system.drain()
        [entry] = await system.audit()
        [action] = entry['actions']
        assert action['status'] == 'FAILED'
        assert action['message'] == 'web request failed: TransportError'
        assert 'secret-summary-text' not in str(entry)
