"""Logs carry ids and outcomes: one canonical line per webhook and per execution, no issue data,
no secrets, no tokens."""

from __future__ import annotations

import json
import re

import pytest
import redis.asyncio as aioredis

from rulequeue.logs import configure_logging
from rulequeue.simulator import ALICE
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import running_system

JWT_PATTERN = re.compile(r'eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}')


async def test_canonical_lines_without_issue_data_or_secrets(
    schema: str, redis: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging('debug', 'json', cache=False)
    async with running_system(schema) as system:
        await system.add_rule(TRIAGE)
        system.sim.fail_next(status=429, times=1, retry_after=1, method='PUT')
        issue, _ = await system.sim.create_issue(
            project='PROJ', issuetype='Bug', summary='log-canary-summary', reporter=ALICE, description='log-canary-desc'
        )
        accepted_delivery = system.sim.last_delivery_id
        forged = await system.sim.send_webhook(
            system.sim.last_webhook_body or {}, token='eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.x'
        )
        assert forged.status_code == 401
        await system.drain()
        secret = system.sim.shared_secret
    output = capsys.readouterr()
    text = output.out + output.err
    lines = [json.loads(line) for line in text.splitlines() if line.startswith('{')]
    webhooks = [line for line in lines if line.get('event') == 'webhook']
    executions = [line for line in lines if line.get('event') == 'execution']
    assert [w['outcome'] for w in webhooks] == ['accepted']
    assert webhooks[0]['delivery_id'] == accepted_delivery
    assert [e['outcome'] for e in executions] == ['retry', 'done']
    assert executions[-1]['statuses'] == ['SUCCESS']
    assert executions[-1]['attempts'] == 2
    for canary in ('log-canary-summary', 'log-canary-desc', issue['key'], secret or 'unset'):
        assert canary not in text
    assert not JWT_PATTERN.search(text)


async def test_error_paths_leak_no_token_or_secret(
    schema: str, redis: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drive every error path of producer and worker with secrets in play, then scan all output."""
    configure_logging('debug', 'json', cache=False)
    async with running_system(schema, rate_limit_failures_per_ip_per_minute=2) as system:
        url, http, sim = system.url, system.http, system.sim
        secret = sim.shared_secret or ''
        good = sim.sign_request('POST', url + '/webhooks/jira')
        await system.add_rule(
            {
                'name': 'errors',
                'trigger': {'type': 'issue_created'},
                'actions': [
                    {'type': 'edit', 'fields': {'priority': {'name': 'NoSuchPriority'}}},
                    {'type': 'comment', 'body': '{{unclosed'},
                    {'type': 'transition', 'to': 'Nowhere'},
                ],
            }
        )
        body = {'webhookEvent': 'jira:issue_created', 'issue': {'id': '1', 'key': 'PROJ-1', 'fields': {}}}
        headers = {'Content-Type': 'application/json'}
        attempts = [
            http.post(url + '/webhooks/jira', json=body, headers={'Authorization': f'JWT {good}x'}),
            http.post(url + '/webhooks/jira', json=body, headers={'Authorization': f'JWT {secret}'}),
            http.post(url + '/webhooks/jira', params={'jwt': good + 'tampered'}, json=body),
            http.post(url + '/webhooks/jira', content=b'{bad', headers={**headers, 'Authorization': f'JWT {good}'}),
            http.post(url + '/webhooks/jira', content=b'x', headers={'Authorization': f'JWT {good}'}),
            http.post(
                url + '/lifecycle/installed',
                json={'clientKey': 'x', 'sharedSecret': secret},
                headers={'Authorization': f'JWT {good}'},
            ),
            http.post(url + '/lifecycle/uninstalled', content=b'{}', headers={'Authorization': f'Bearer {secret}'}),
            http.get(url + '/api/rules', headers={'Authorization': f'JWT {good}'}),
        ]
        statuses = [(await attempt).status_code for attempt in attempts]
        assert all(400 <= s < 500 for s in statuses), statuses
        system.sim.fail_next(status=500, times=2, method='GET')
        await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='err-canary', reporter=ALICE)
        await system.drain()
        [entry] = await system.audit()
        assert entry['status'] == 'FAILURE'
    output = capsys.readouterr()
    text = output.out + output.err
    assert '"event": "request rejected"' in text
    assert 'err-canary' not in text
    assert secret not in text
    assert not JWT_PATTERN.search(text)
