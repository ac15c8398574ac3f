"""Secrets and data at rest: key rotation, no pickle in the queue, redacted logs, rate limits."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import structlog

from rulequeue import constants
from rulequeue.crypto import Cipher, DecryptionError
from rulequeue.logs import configure_logging
from rulequeue.simulator import ALICE
from rulequeue.store import tenants
from tests.conftest import SECRET_KEY
from tests.harness import System, redis_keys, running_system

NEW_KEY = 'rotated-key-0123456789abcdef-0123456789abcdef'


async def test_rotate_keys_re_encrypts_secrets_and_old_key_can_go(system: System) -> None:
    before = await system.pool.fetchval('SELECT shared_secret_enc FROM tenants')
    env = system.env(SECRET_KEY=f'{NEW_KEY},{SECRET_KEY}')
    result = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / 'rulequeue'), 'rotate-keys'],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert 're-encrypted 1 tenant secrets' in result.stdout
    after = await system.pool.fetchval('SELECT shared_secret_enc FROM tenants')
    assert after != before
    # Only the new key is needed now; the old one alone can no longer read the secret.
    tenant = await tenants.get_tenant(system.pool, Cipher([NEW_KEY]), system.sim.client_key)
    assert tenant is not None
    assert tenant.shared_secret is not None
    assert tenant.shared_secret.get_secret_value() == system.sim.shared_secret
    with pytest.raises(DecryptionError):
        await tenants.get_tenant(system.pool, Cipher([SECRET_KEY]), system.sim.client_key)


async def test_secret_cannot_be_moved_to_another_tenant(system: System) -> None:
    other = 'jira:other-tenant'
    await system.pool.execute(
        'INSERT INTO tenants (client_key, base_url, shared_secret_enc, state) '
        "SELECT $1, base_url, shared_secret_enc, 'installed' FROM tenants WHERE client_key = $2",
        other,
        system.sim.client_key,
    )
    with pytest.raises(DecryptionError):
        await tenants.get_tenant(system.pool, Cipher(system.settings.secret_keys), other)


async def test_pickle_payload_in_the_queue_is_rejected_not_executed(system: System, tmp_path: Path) -> None:
    marker = tmp_path / f'pwned-{uuid.uuid4().hex}'

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f'touch {marker}',))

    job_id = 'evil-job'
    payload = pickle.dumps({'t': 1, 'f': constants.JOB_FUNCTION, 'a': [Exploit()], 'k': {}, 'et': 1})
    client = aioredis.Redis.from_url(system.settings.redis_url)
    try:
        await client.psetex(f'arq:job:{job_id}', 60_000, payload)
        await client.zadd(constants.QUEUE_NAME, {job_id: int(time.time() * 1000)})
        await system.drain()
        assert not marker.exists()
        assert await client.zcard(constants.QUEUE_NAME) == 0
        assert await redis_keys(system.settings, 'arq:result:*') == []
    finally:
        await client.aclose()
    # The payload is live: unpickling it (as arq's default serializer would) runs the command.
    pickle.loads(payload)  # noqa: S301 - proving the exploit works is the point
    assert marker.exists()


async def test_tenant_rate_limit_answers_429_with_retry_after(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, rate_limit_tenant_per_second=1, rate_limit_tenant_burst=2) as system:
        answers = []
        for _ in range(4):
            _, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='x', reporter=ALICE)
            answers.append(responses[0])
        assert [a.status_code for a in answers[:2]] == [202, 202]
        limited = [a for a in answers[2:] if a.status_code == 429]
        assert limited
        assert all(int(a.headers['Retry-After']) >= 1 for a in limited)
        accepted = sum(1 for a in answers if a.status_code == 202)
        assert len(await redis_keys(system.settings, 'rulequeue:snap:*')) == accepted


async def test_failed_authentications_are_limited_per_ip(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, rate_limit_failures_per_ip_per_minute=3) as system:
        body = system.sim.last_webhook_body or {
            'webhookEvent': 'jira:issue_created',
            'issue': {'id': '1', 'key': 'PROJ-1', 'fields': {}},
        }
        answers = [await system.sim.send_webhook(body, token='not-a-token') for _ in range(5)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
        assert int(answers[-1].headers['Retry-After']) >= 1
        # Verified traffic from the same address (Jira's) is never limited by the failure budget.
        _, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='x', reporter=ALICE)
        assert responses[0].status_code == 202


def test_redaction_processor_scrubs_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging('debug', 'json', cache=False)
    token = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl'
    log = structlog.get_logger('test')
    log.info(
        'request',
        authorization=f'JWT {token}',
        shared_secret='hunter2-hunter2',
        headers={'Authorization': 'Bearer abcdefgh12345678', 'X-Other': 'fine'},
        note=f'token was {token} in the text',
        dsn='postgresql://user:pa55word@db/rulequeue',
        client_key='jira:tenant-1',
    )
    try:
        raise ValueError(f'bad token {token}')
    except ValueError:
        log.exception('failed')
    out = capsys.readouterr().err
    for secret in (token, 'hunter2-hunter2', 'abcdefgh12345678', 'pa55word'):
        assert secret not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]['headers']['X-Other'] == 'fine'
    assert lines[0]['client_key'] == 'jira:tenant-1'
    assert lines[0]['authorization'] == '[redacted]'
    assert 'ValueError' in json.dumps(lines[1])
