"""The Jira simulator's REST API over real HTTP: JWT verification as Jira does it, faults, resources.

Calls are signed the way the worker signs them (``sign_tenant_request``, ``iss`` = app key);
forged tokens are built by hand.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
import pytest

from rulequeue.connect.qsh import query_hash
from rulequeue.connect.tokens import sign_tenant_request
from rulequeue.simulator import BOB

# The fixtures are imported so that pytest finds them here too.
from tests.integration.test_simulator import Site, _installed, _site  # noqa: F401

APP_KEY = 'rulequeue'
OTHER_SECRET = 'not-the-shared-secret-but-long-enough-0123456789'


def _secret(site: Site) -> str:
    assert site.sim.shared_secret is not None
    return site.sim.shared_secret


async def call(
    site: Site,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    params: dict[str, str] | None = None,
    token: str | None = None,
    in_query: bool = False,
) -> httpx.Response:
    """Call the simulated Jira as the app does; ``token`` replaces the valid one."""
    query = urlencode(params or {}, quote_via=quote)
    if token is None:
        token = sign_tenant_request(method=method, path=path, raw_query=query, secret=_secret(site), issuer=APP_KEY)
    headers = {} if not token else {'Authorization': f'JWT {token}'}
    if in_query:
        query = '&'.join(filter(None, [query, f'jwt={token}']))
        headers = {}
    url = site.sim.base_url + path + (f'?{query}' if query else '')
    return await site.http.request(method, url, json=json_body, headers=headers)


def forged(site: Site, method: str, path: str, *, secret: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {'iss': APP_KEY, 'iat': now, 'exp': now + 180, 'qsh': query_hash(method, path), **claims}
    return jwt.encode(body, secret or _secret(site), algorithm='HS256')


def alg_none(site: Site, method: str, path: str) -> str:
    now = int(time.time())
    claims = {'iss': APP_KEY, 'iat': now, 'exp': now + 180, 'qsh': query_hash(method, path)}
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b'=').decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()
    return f'{header}.{payload}.'


async def test_signed_calls_are_served_and_recorded(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    me = await call(site, 'GET', '/rest/api/2/myself')
    assert me.status_code == 200
    assert me.json()['accountId'] == site.sim.app_user['accountId']
    assert me.json()['accountType'] == 'app'
    got = await call(site, 'GET', f'/rest/api/2/issue/{issue["key"]}', params={'fields': 'summary,status'})
    assert got.json() == site.sim.issues[issue['key']]
    in_query = await call(site, 'GET', f'/rest/api/2/issue/{issue["key"]}', params={'x': 'a b'}, in_query=True)
    assert in_query.status_code == 200
    assert (await call(site, 'GET', '/rest/api/2/issue/NOPE-1')).status_code == 404

    assert [(c.method, c.status, c.jwt_valid) for c in site.sim.calls] == [
        ('GET', 200, True),
        ('GET', 200, True),
        ('GET', 200, True),
        ('GET', 404, True),
    ]
    recorded = site.sim.calls[1]
    assert (recorded.path, recorded.query) == (f'/rest/api/2/issue/{issue["key"]}', 'fields=summary%2Cstatus')
    assert recorded.claims is not None
    assert recorded.claims['iss'] == APP_KEY
    assert recorded.claims['qsh'] == query_hash('GET', recorded.path, recorded.query)
    assert recorded.jwt_error is None
    assert recorded.json is None


@pytest.mark.parametrize(
    ('forgery', 'reason'),
    [
        ('wrong-secret', 'signature'),
        ('expired', 'expired'),
        ('wrong-qsh', 'qsh'),
        ('wrong-method-qsh', 'qsh'),
        ('context-qsh', 'qsh'),
        ('alg-none', 'HS256'),
        ('missing', 'no JWT'),
        ('client-key-as-iss', 'issuer'),
        ('lifetime-over-an-hour', 'hour'),
    ],
)
async def test_bad_tokens_are_401_and_recorded(installed: Site, forgery: str, reason: str) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='before')
    path = f'/rest/api/2/issue/{issue["key"]}'
    now = int(time.time())
    tokens: dict[str, Callable[[], str]] = {
        'wrong-secret': lambda: forged(site, 'PUT', path, secret=OTHER_SECRET),
        'expired': lambda: forged(site, 'PUT', path, iat=now - 600, exp=now - 300),
        'wrong-qsh': lambda: forged(site, 'PUT', path, qsh=query_hash('PUT', path + '/comment')),
        'wrong-method-qsh': lambda: forged(site, 'PUT', path, qsh=query_hash('GET', path)),
        'context-qsh': lambda: forged(site, 'PUT', path, qsh='context-qsh'),
        'alg-none': lambda: alg_none(site, 'PUT', path),
        'missing': lambda: '',
        'client-key-as-iss': lambda: forged(site, 'PUT', path, iss=site.sim.client_key),
        'lifetime-over-an-hour': lambda: forged(site, 'PUT', path, exp=now + 7200),
    }
    response = await call(site, 'PUT', path, json_body={'fields': {'summary': 'after'}}, token=tokens[forgery]())
    assert response.status_code == 401
    assert response.json()['errorMessages']
    assert site.sim.issues[issue['key']]['fields']['summary'] == 'before'
    (recorded,) = site.sim.calls
    assert (recorded.status, recorded.jwt_valid, recorded.claims) == (401, False, None)
    assert recorded.jwt_error is not None
    assert reason in recorded.jwt_error
    assert recorded.json == {'fields': {'summary': 'after'}}


async def test_calls_are_refused_unless_installed_and_enabled(site: Site) -> None:
    before = await call(
        site, 'GET', '/rest/api/2/myself', token=forged(site, 'GET', '/rest/api/2/myself', secret=OTHER_SECRET)
    )
    assert before.status_code == 401
    await site.sim.install(site.app.descriptor_url)
    assert (await call(site, 'GET', '/rest/api/2/myself')).status_code == 200
    await site.sim.lifecycle('disabled')
    assert (await call(site, 'GET', '/rest/api/2/myself')).status_code == 401
    await site.sim.lifecycle('enabled')
    assert (await call(site, 'GET', '/rest/api/2/myself')).status_code == 200
    await site.sim.lifecycle('uninstalled')
    assert (await call(site, 'GET', '/rest/api/2/myself')).status_code == 401
    assert [c.jwt_error for c in site.sim.calls if c.status == 401] == [
        'the app is not installed on this site',
        'the app is disabled on this site',
        'the app is not installed on this site',
    ]


async def test_fail_next_answers_429_with_retry_after_then_serves(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    path = f'/rest/api/2/issue/{issue["key"]}'
    site.sim.fail_next(status=429, times=2, retry_after=1.5, method='PUT', path_contains='/issue/')
    assert (await call(site, 'GET', path)).status_code == 200  # method does not match
    unsigned = await call(site, 'PUT', path, json_body={'fields': {'summary': 'x'}}, token='')
    assert unsigned.status_code == 401  # faults come after verification and are not used up
    for _ in range(2):
        throttled = await call(site, 'PUT', path, json_body={'fields': {'summary': 'x'}})
        assert throttled.status_code == 429
        assert throttled.headers['retry-after'] == '2'
        assert throttled.json()['errorMessages'] == ['Rate limit exceeded.']
    assert site.sim.issues[issue['key']]['fields']['summary'] == 's'
    assert (await call(site, 'PUT', path, json_body={'fields': {'summary': 'x'}})).status_code == 204
    assert site.sim.issues[issue['key']]['fields']['summary'] == 'x'
    assert [c.status for c in site.sim.calls] == [200, 401, 429, 429, 204]
    assert [c.jwt_valid for c in site.sim.calls] == [True, False, True, True, True]

    site.sim.fail_next(status=503)
    down = await call(site, 'GET', '/rest/api/2/myself')
    assert down.status_code == 503
    assert 'retry-after' not in down.headers
    assert down.json()['errorMessages']


async def test_transitions_list_and_apply(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    path = f'/rest/api/2/issue/{issue["key"]}/transitions'
    listed = (await call(site, 'GET', path)).json()['transitions']
    assert [(t['id'], t['to']['name']) for t in listed] == [
        ('21', 'Triage'),
        ('31', 'In Progress'),
        ('41', 'In Review'),
        ('51', 'Done'),
    ]
    assert listed[1]['name'] == 'Start Progress'
    assert listed[1]['to']['statusCategory']['key'] == 'indeterminate'
    assert (await call(site, 'POST', path, json_body={'transition': {'id': '31'}})).status_code == 204
    fields = site.sim.issues[issue['key']]['fields']
    assert (fields['status']['id'], fields['resolution']) == ('3', None)
    again = await call(site, 'POST', path, json_body={'transition': {'id': '31'}})
    assert again.status_code == 400  # not offered from the status the issue is in
    unknown = await call(site, 'POST', path, json_body={'transition': {'id': '99'}})
    assert unknown.status_code == 400
    assert unknown.json()['errorMessages'] == ["Transition id '99' is not valid for this issue."]
    assert (await call(site, 'POST', path, json_body={'transition': {'id': '51'}})).status_code == 204
    fields = site.sim.issues[issue['key']]['fields']
    assert (fields['status']['name'], fields['resolution']['name']) == ('Done', 'Done')
    assert '51' not in {t['id'] for t in (await call(site, 'GET', path)).json()['transitions']}


async def test_edit_sets_fields_and_adds_and_removes_labels(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s', labels=['keep', 'drop'])
    path = f'/rest/api/2/issue/{issue["key"]}'
    before = site.sim.issues[issue['key']]['fields']['updated']
    body = {
        'fields': {'priority': {'name': 'Highest'}, 'customfield_10010': 'Platform', 'duedate': '2026-12-24'},
        'update': {'labels': [{'add': 'triage'}, {'remove': 'drop'}], 'components': [{'add': {'name': 'API'}}]},
    }
    assert (await call(site, 'PUT', path, json_body=body)).status_code == 204
    fields = site.sim.issues[issue['key']]['fields']
    assert fields['labels'] == ['keep', 'triage']
    assert (fields['priority']['id'], fields['priority']['name']) == ('1', 'Highest')
    assert (fields['customfield_10010'], fields['duedate']) == ('Platform', '2026-12-24')
    assert [c['name'] for c in fields['components']] == ['API']
    assert fields['updated'] >= before
    replaced = await call(site, 'PUT', path, json_body={'fields': {'labels': ['only'], 'priority': {'id': '5'}}})
    assert replaced.status_code == 204
    assert site.sim.issues[issue['key']]['fields']['labels'] == ['only']
    assert site.sim.issues[issue['key']]['fields']['priority']['name'] == 'Lowest'


@pytest.mark.parametrize(
    ('fields', 'update', 'bad'),
    [
        ({'priority': {'name': 'Apocalyptic'}}, {}, 'priority'),
        ({'flavour': 'vanilla'}, {}, 'flavour'),
        ({'status': {'name': 'Done'}}, {}, 'status'),
        ({}, {'labels': [{'add': 'two words'}]}, 'labels'),
        ({'duedate': '24/12/2026'}, {}, 'duedate'),
        ({'labels': ['x']}, {'labels': [{'add': 'y'}]}, 'labels'),
        ({'components': [{'name': 'Nope'}]}, {}, 'components'),
    ],
)
async def test_bad_edits_are_400_and_change_nothing(
    installed: Site, fields: dict[str, Any], update: dict[str, Any], bad: str
) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='before')
    snapshot = json.dumps(site.sim.issues[issue['key']], sort_keys=True)
    body = {'fields': {'summary': 'after', **fields}, 'update': update}
    response = await call(site, 'PUT', f'/rest/api/2/issue/{issue["key"]}', json_body=body)
    assert response.status_code == 400
    assert set(response.json()['errors']) == {bad}
    assert response.json()['errorMessages'] == []
    assert json.dumps(site.sim.issues[issue['key']], sort_keys=True) == snapshot


async def test_comments_are_stored_with_their_properties(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    path = f'/rest/api/2/issue/{issue["key"]}/comment'
    properties = [{'key': 'rulequeue', 'value': {'rule': 'r1'}}]
    first = await call(site, 'POST', path, json_body={'body': 'Thanks!', 'properties': properties})
    assert first.status_code == 201
    assert (first.json()['id'], first.json()['body']) == ('10000', 'Thanks!')
    assert first.json()['author']['accountId'] == site.sim.app_user['accountId']
    second = await call(site, 'POST', path, json_body={'body': 'Again'})
    assert second.json()['id'] == '10001'
    stored = site.sim.comments[issue['key']]
    assert [(c['id'], c['body'], c['properties']) for c in stored] == [
        ('10000', 'Thanks!', properties),
        ('10001', 'Again', []),
    ]
    empty = await call(site, 'POST', path, json_body={'body': '  '})
    assert (empty.status_code, list(empty.json()['errors'])) == (400, ['comment'])
    listed = (await call(site, 'GET', path)).json()
    assert [c['body'] for c in listed['comments']] == ['Thanks!', 'Again']
    assert (await call(site, 'POST', '/rest/api/2/issue/NOPE-9/comment', json_body={'body': 'x'})).status_code == 404


async def test_assignee(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    path = f'/rest/api/2/issue/{issue["key"]}/assignee'
    assert (await call(site, 'PUT', path, json_body={'accountId': BOB['accountId']})).status_code == 204
    assert site.sim.issues[issue['key']]['fields']['assignee']['accountId'] == BOB['accountId']
    carol = site.sim.add_user('Carol Chen')
    assert (await call(site, 'PUT', path, json_body={'accountId': carol['accountId']})).status_code == 204
    unknown = await call(site, 'PUT', path, json_body={'accountId': 'nobody'})
    assert (unknown.status_code, list(unknown.json()['errors'])) == (400, ['assignee'])
    assert site.sim.issues[issue['key']]['fields']['assignee']['displayName'] == 'Carol Chen'
    assert (await call(site, 'PUT', path, json_body={'accountId': None})).status_code == 204
    assert site.sim.issues[issue['key']]['fields']['assignee'] is None


async def test_unknown_resources_and_methods(installed: Site) -> None:
    site = installed
    assert (await call(site, 'GET', '/rest/api/2/nothing-here')).status_code == 404
    assert (await call(site, 'DELETE', '/rest/api/2/myself')).status_code == 405
    bad_json = await site.http.put(
        site.sim.base_url + '/rest/api/2/issue/PROJ-1',
        content=b'{not json',
        headers={'Authorization': 'JWT ' + forged(site, 'PUT', '/rest/api/2/issue/PROJ-1')},
    )
    assert bad_json.status_code == 400
    addon = await call(site, 'GET', f'/rest/atlassian-connect/1/addons/{APP_KEY}')
    assert addon.json()['license']['active'] is True


async def test_app_changes_come_back_as_webhooks_when_enabled(installed: Site) -> None:
    site = installed
    issue, _ = await site.sim.create_issue(summary='s')
    path = f'/rest/api/2/issue/{issue["key"]}'
    assert (await call(site, 'PUT', path, json_body={'fields': {'summary': 'quiet'}})).status_code == 204
    await site.sim.wait_for_app_events()
    assert len(site.app.webhooks()) == 1  # only the creation

    site.sim.emit_app_events = True
    assert (await call(site, 'PUT', path, json_body={'fields': {'summary': 'loud'}})).status_code == 204
    assert (await call(site, 'POST', path + '/comment', json_body={'body': 'hi'})).status_code == 201
    await site.sim.wait_for_app_events()
    _, edited, comment_created, commented = site.app.webhooks()
    assert edited['issue_event_type_name'] == 'issue_updated'
    assert edited['changelog']['items'][0]['toString'] == 'loud'
    for body in (edited, commented):
        assert body['user']['accountId'] == site.sim.app_user['accountId']
        assert body['user']['accountType'] == 'app'
    assert comment_created['comment']['author']['accountType'] == 'app'
    assert [r.status_code for r in site.sim.app_event_responses] == [202, 202, 202]
    assert site.sim.app_event_errors == []


async def test_delay_holds_answers_back(installed: Site) -> None:
    site = installed
    site.sim.delay_seconds = 0.2
    started = time.monotonic()
    assert (await call(site, 'GET', '/rest/api/2/myself')).status_code == 200
    assert time.monotonic() - started >= 0.2
