"""Property-based tests of the webhook and lifecycle handlers over real HTTP.

Whatever hypothesis sends (bodies, headers, tokens), the producer answers with one of its
documented statuses and a JSON error, never a 500, and nothing is queued unless the request
was a valid, signed delivery.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from rulequeue.connect.qsh import query_hash
from rulequeue.simulator import JiraSimulator
from tests.conftest import DATABASE_URL, redis_url
from tests.harness import running_system

WEBHOOK_STATUSES = {200, 202, 400, 401, 408, 413, 415, 429}
LIFECYCLE_STATUSES = {204, 400, 401, 404, 408, 413, 415}


@dataclass
class Background:
    url: str
    sim: JiraSimulator


@pytest.fixture(name='background', scope='module')
def _background() -> Iterator[Background]:
    """The whole system on its own event loop in a thread, so hypothesis can drive it synchronously."""
    schema = 't_' + uuid.uuid4().hex[:16]
    ready: dict[str, Any] = {}
    started, stop = threading.Event(), threading.Event()

    async def main() -> None:
        async with running_system(schema, rate_limit_failures_per_ip_per_minute=0) as system:
            ready['value'] = Background(system.url, system.sim)
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    redis.Redis.from_url(redis_url()).flushdb()
    thread.start()
    assert started.wait(60), 'system did not start'
    yield ready['value']
    stop.set()
    thread.join(30)

    async def drop() -> None:
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()

    asyncio.run(drop())
    redis.Redis.from_url(redis_url()).flushdb()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=15,
)
issue_like = st.fixed_dictionaries(
    {
        'webhookEvent': st.sampled_from(['jira:issue_created', 'jira:issue_updated', 'comment_created', 'x', '']),
        'issue': st.fixed_dictionaries(
            {
                'id': st.sampled_from(['1', '10001', 'abc', '']) | st.text(max_size=5),
                'key': st.sampled_from(['PROJ-1', 'proj-2', 'PROJ-1/..', '', 'ÄB-1']) | st.text(max_size=8),
                'fields': st.dictionaries(st.text(max_size=8), json_values, max_size=3),
            }
        ),
    },
    optional={'timestamp': json_values, 'user': json_values, 'changelog': json_values, 'comment': json_values},
)
bodies = (
    issue_like.map(lambda d: json.dumps(d).encode())
    | st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
)
# What an HTTP client can send at all: printable ASCII, no surrounding whitespace.
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip)


def _token(background: Background, valid: bool, path: str) -> str:
    if valid:
        return background.sim.sign_request('POST', background.url + path)
    return 'x.y.z'


@given(
    body=bodies,
    valid=st.booleans(),
    content_type=st.sampled_from(['application/json', 'text/plain', '']),
    delivery=header_values,
    retry=header_values,
)
def test_webhook_handler_never_fails(
    background: Background, body: bytes, valid: bool, content_type: str, delivery: str, retry: str
) -> None:
    headers = {
        'Authorization': f'JWT {_token(background, valid, "/webhooks/jira")}',
        'X-Atlassian-Webhook-Retry': retry,
    }
    if content_type:
        headers['Content-Type'] = content_type
    if delivery:
        headers['X-Atlassian-Webhook-Identifier'] = delivery
    response = httpx.post(background.url + '/webhooks/jira', content=body, headers=headers, timeout=10)
    assert response.status_code in WEBHOOK_STATUSES, response.text
    if response.status_code >= 400:
        assert response.json()['error']
    if not valid:
        assert response.status_code in {400, 401, 413, 415}


@given(
    body=bodies,
    event=st.sampled_from(['installed', 'uninstalled', 'enabled', 'disabled', 'other']),
    token=st.sampled_from(['none', 'garbage', 'hs256']),
)
def test_lifecycle_handler_never_fails(background: Background, body: bytes, event: str, token: str) -> None:
    headers = {'Content-Type': 'application/json'}
    if token == 'garbage':
        headers['Authorization'] = 'JWT not.a.token'
    elif token == 'hs256':
        headers['Authorization'] = f'JWT {_token(background, True, f"/lifecycle/{event}")}'
    response = httpx.post(f'{background.url}/lifecycle/{event}', content=body, headers=headers, timeout=10)
    assert response.status_code in LIFECYCLE_STATUSES, response.text
    assert response.status_code != 204  # nothing unsigned by Jira's install key may change a tenant


def test_signed_lifecycle_with_fuzzed_body_never_fails(background: Background) -> None:
    # A correctly signed install token with odd bodies: 400 for a bad body, never 500.
    for body in (b'{}', b'[]', b'{"clientKey": 5}', b'{"clientKey": "' + background.sim.client_key.encode() + b'"}'):
        now = int(time.time())
        claims = {
            'iss': background.sim.client_key,
            'aud': background.url,
            'iat': now,
            'exp': now + 60,
            'qsh': query_hash('POST', '/lifecycle/enabled'),
        }
        token = background.sim.install_signer.sign(claims)
        response = httpx.post(
            background.url + '/lifecycle/enabled',
            content=body,
            headers={'Authorization': f'JWT {token}', 'Content-Type': 'application/json'},
            timeout=10,
        )
        assert response.status_code == 400, response.text
