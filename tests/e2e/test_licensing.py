"""Licensing: an unlicensed site's events are accepted, its rules are not run, the audit says so and
each rule owner gets one e-mail a day through the Postgres outbox and a real SMTP server."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from rulequeue.store.db import Pool
from schemas.jobs import ExecutionJob
from tests.harness import System, install_forge, running_system, snapshot_keys
from tests.smtp_server import LocalSmtp
from worker.mailer import send_pending


def _rule(name: str, email: str | None) -> dict[str, object]:
    owner = {'account_id': f'acc-{name}', 'name': name, **({'email': email} if email else {})}
    return {
        'name': name,
        'trigger': {'type': 'issue_created'},
        'actions': [{'type': 'comment', 'body': 'seen {{issue.key}}'}],
        'owner': owner,
    }


@pytest.fixture(name='smtp')
async def _smtp() -> AsyncIterator[LocalSmtp]:
    server = LocalSmtp()
    await server.start()
    yield server
    await server.stop()


async def _outbox(pool: Pool) -> list[dict[str, object]]:
    rows = await pool.fetch('SELECT recipient, state, attempts, kind FROM outbox ORDER BY recipient')
    return [dict(r.items()) for r in rows]


async def test_unlicensed_events_run_no_rule_and_mail_each_owner_once_a_day(
    schema: str, redis: aioredis.Redis, smtp: LocalSmtp
) -> None:
    async with running_system(schema, licensing_enforced=True, **smtp.settings()) as system:
        assert system.sim.app is not None
        assert system.sim.app.licensing  # the descriptor asks Jira for lic=
        await system.add_rule(_rule('ada-1', 'Ada@Example.com'))
        await system.add_rule(_rule('ada-2', 'ada@example.com'))
        await system.add_rule(_rule('bob-1', 'bob@example.com'))
        await system.add_rule(_rule('nobody', None))

        system.sim.licence = 'active'
        _, answers = await system.sim.create_issue(summary='licensed')
        assert [a.status_code for a in answers] == [202]
        await system.drain()
        assert Counter(e['status'] for e in await system.audit()) == {'SUCCESS': 4}
        assert await _outbox(system.pool) == []

        system.sim.licence = 'none'
        calls_before = len(system.sim.calls)
        keys = []
        for n in range(3):
            issue, answers = await system.sim.create_issue(summary=f'unlicensed {n}')
            assert [a.status_code for a in answers] == [202]  # accepted as usual
            keys.append(issue['key'])
        await system.drain()

        assert len(system.sim.calls) == calls_before  # not one Jira call for unlicensed events
        assert await snapshot_keys(system.settings) == []  # purged as for any terminal outcome
        for key in keys:
            entries = await system.audit(issue=key)
            assert sorted(e['rule_name'] for e in entries) == ['ada-1', 'ada-2', 'bob-1', 'nobody']
            assert {e['status'] for e in entries} == {'UNLICENSED'}
            assert all(e['actions'] == [] and 'no active licence' in e['messages'][0] for e in entries)
        states = await system.pool.fetch("SELECT licensed FROM deliveries WHERE state = 'unlicensed'")
        assert [r['licensed'] for r in states] == [False, False, False]

        # One mail per owner for the day, however many events: Ada owns two rules, one mail.
        await send_pending(system.pool, system.settings)  # the minute cron may already have sent
        assert sorted(r for m in smtp.messages for r in m.recipients) == ['ada@example.com', 'bob@example.com']
        ada = next(m.message for m in smtp.messages if m.recipients == ['ada@example.com'])
        assert ada['From'] == 'rq@test.example'
        assert 'no active licence' in ada['Subject']
        body = ada.get_content()
        assert 'ada-1' in body
        assert 'ada-2' in body
        assert 'bob-1' not in body
        assert system.sim.base_url in body
        outbox_rows = await _outbox(system.pool)
        assert [(r['recipient'], r['state'], r['attempts']) for r in outbox_rows] == [
            ('ada@example.com', 'sent', 1),
            ('bob@example.com', 'sent', 1),
        ]

        await system.sim.create_issue(summary='unlicensed again')
        await system.drain()
        await send_pending(system.pool, system.settings)
        assert len(smtp.messages) == 2  # still one per owner today
        assert len(await _outbox(system.pool)) == 2


async def test_lic_is_ignored_while_licensing_is_not_enforced(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema) as system:
        await system.add_rule(_rule('ada-1', 'ada@example.com'))
        system.sim.licence = 'none'  # not sent at all: the descriptor does not enable licensing
        await system.sim.create_issue()
        await system.drain()
        assert [e['status'] for e in await system.audit()] == ['SUCCESS']
        assert await _outbox(system.pool) == []


def test_jobs_queued_before_licensing_run_as_licensed() -> None:
    old = {'execution_id': 'e', 'client_key': 'c', 'delivery_id': 'd', 'snapshot_key': 's', 'received_at': 1.0}
    assert ExecutionJob.model_validate(old).licensed is True
    assert ExecutionJob.model_validate({**old, 'licensed': False}).licensed is False


async def test_over_forge_the_tokens_licence_claim_decides(schema: str, redis: aioredis.Redis) -> None:
    """Forge signs the licence into every invocation token (app.license.active): no lic= needed."""
    async with running_system(schema, install=False, forge=True, licensing_enforced=True) as system:
        sim = system.sim
        sim.forge.license_active = True
        await install_forge(system)
        fit = sim.forge.mint_invocation_token(claims={'principal': '557058:admin'})
        added = await system.http.post(
            system.url + '/api/rules', json=_rule('ada-1', None), headers={'Authorization': f'Bearer {fit}'}
        )
        assert added.status_code == 201, added.text
        licensed, _ = await sim.create_issue(summary='licensed')
        await system.drain()
        sim.forge.license_active = False
        calls_before = len(sim.calls)
        unlicensed, _ = await sim.create_issue(summary='unlicensed')
        await system.drain()

        assert len(sim.calls) == calls_before  # not one Jira call for the unlicensed event
        statuses = {
            key: [e['status'] for e in await _audit_of(system, key)] for key in (licensed['key'], unlicensed['key'])
        }
        assert statuses == {licensed['key']: ['SUCCESS'], unlicensed['key']: ['UNLICENSED']}


async def _audit_of(system: System, key: str) -> list[dict[str, object]]:
    rows = await system.pool.fetch('SELECT status FROM audit_log WHERE issue_key = $1', key)
    return [dict(r) for r in rows]
