"""Logs carry ids and outcomes: one canonical line per webhook and per execution, no issue data,
no secrets, no tokens."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from typing import Literal

import pytest
import redis.asyncio as aioredis
import structlog

from rulequeue.errors import BadRequest
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


async def test_canonical_lines_carry_request_and_job_ids(
    schema: str, redis: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging('info', 'json', cache=False)
    async with running_system(schema) as system:
        await system.add_rule(TRIAGE)
        _, answers = await system.sim.create_issue(project='PROJ', issuetype='Bug', reporter=ALICE)
        delivery = system.sim.last_delivery_id
        await system.drain()
        kept = await system.http.get(system.url + '/healthz', headers={'X-Request-Id': 'proxy-id-1234'})
        hostile = await system.http.get(system.url + '/healthz', headers={'X-Request-Id': 'id"} {"event": "forged'})
    text = capsys.readouterr().err
    lines = [json.loads(line) for line in text.splitlines() if line.startswith('{')]
    [webhook] = [line for line in lines if line.get('event') == 'webhook']
    [execution] = [line for line in lines if line.get('event') == 'execution']
    request_id = answers[0].headers['X-Request-Id']
    assert len(request_id) == 32
    assert webhook['request_id'] == request_id
    assert webhook['delivery_id'] == delivery
    assert webhook['outcome'] == 'accepted'
    assert webhook['client_key'] == execution['client_key'] == system.sim.client_key
    assert isinstance(webhook['duration_ms'], float)
    assert execution['delivery_id'] == delivery
    assert execution['job_id'] == execution['execution_id']
    assert execution['job_try'] == 1
    assert execution['rules_matched'] == 1
    assert execution['statuses'] == ['SUCCESS']
    assert execution['attempts'] == 1
    assert isinstance(execution['duration_ms'], float)
    assert 'request_id' not in execution  # contexts do not leak between units of work
    assert kept.headers['X-Request-Id'] == 'proxy-id-1234'
    assert len(hostile.headers['X-Request-Id']) == 32
    assert 'forged' not in text


def _fail_with_issue_data(snapshot: dict[str, object], shared_secret: str, token: str) -> None:
    fields = snapshot['fields']
    try:
        raise BadRequest('not a Jira issue webhook: issue.fields: wrong type')
    except BadRequest as exc:
        raise KeyError(f'{fields} {shared_secret} {token}') from exc


@pytest.mark.parametrize('fmt', ['json', 'console'])
def test_tracebacks_hold_no_locals_messages_with_data_secrets_or_tokens(
    fmt: Literal['json', 'console'], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging('debug', fmt, cache=False)
    value, secret = 'tb-canary-summary', 'tb-canary-shared-secret-0123456789'
    token = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqaXJhOngifQ.c2lnbmF0dXJlLWNhbmFyeQ'
    try:
        _fail_with_issue_data({'fields': {'summary': value}}, secret, token)
    except KeyError as exc:
        structlog.get_logger('rulequeue.worker').exception('execution crashed')
        structlog.get_logger('rulequeue.worker').debug('debug line', exc_info=True)
        # arq's own failure line: the exception is a format argument and the traceback is attached.
        logging.getLogger('arq.jobs').exception('%6.2fs ! %s failed, %s: %s', 0.1, 'job', type(exc).__name__, exc)
    # Standard-library records go to the root handlers, which under pytest include its capture.
    text = capsys.readouterr().err + caplog.text
    for leak in (value, secret, token):
        assert leak not in text, leak
    assert not JWT_PATTERN.search(text)
    # What helps debugging is still there: frames, types, and our own (data-free) messages.
    assert text.count('_fail_with_issue_data') >= 3
    assert text.count('KeyError') >= 4
    assert 'not a Jira issue webhook: issue.fields: wrong type' in text
    assert 'failed, KeyError: [message of KeyError withheld' in text


def test_json_off_a_tty_and_readable_console_on_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, is_json in ((io.StringIO(), True), (Terminal(), False)):
        monkeypatch.setattr(sys, 'stderr', stream)
        configure_logging('info', 'auto', cache=False)
        structlog.get_logger('t').info('webhook', outcome='accepted')
        [line] = stream.getvalue().splitlines()
        if is_json:
            assert json.loads(line)['outcome'] == 'accepted'
        else:
            assert not line.startswith('{')
            assert 'webhook' in line
            assert 'outcome=accepted' in line
