"""A Forge tenant's executions in a real burst worker (FORGE.md conformance 25 and 30).

The job enters as contract point 2 has it: the Forge event converted to a Connect-shaped
snapshot holding only Forge's partial issue, admitted through ``intake.admit`` with
``fetch_issue``. The worker must read the issue at ``{apiBaseUrl}/rest/api/2/issue/{id}`` with
the installation's app system token, run the rule with Bearer calls, audit it and purge the
snapshot; without a usable token it waits, retries, then dead-letters "no valid app token",
never calling Jira with a Connect JWT.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import jwt
from arq.worker import Worker
from redis.asyncio import Redis

from rulequeue import intake, queue
from rulequeue.settings import Settings
from rulequeue.simulator import ALICE, JiraSimulator
from rulequeue.simulator.forge_events import partial_issue
from rulequeue.store import forge_installations, rules, tenants
from rulequeue.store.db import Pool, create_pool, migrate
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent
from schemas.rules import Rule
from tests.conftest import make_settings
from tests.harness import System, snapshot_keys
from tests.integration.test_forge_jira_client import CIPHER, context, forge_tenant
from worker.settings import build_worker_settings

HIGH_BUGS = {
    'name': 'Acknowledge urgent bugs',
    'projects': ['PROJ'],
    'trigger': {'type': 'issue_created'},
    # Neither priority nor labels are in Forge's partial issue: only the fetched issue can match.
    'conditions': [
        {'type': 'field', 'field': 'priority', 'op': 'equals', 'value': 'High'},
        {'type': 'field', 'field': 'labels', 'op': 'contains', 'value': 'customer'},
    ],
    'actions': [{'type': 'comment', 'body': 'Seen {{issue.key}} ({{issue.fields.priority.name}})'}],
}


@dataclass
class ForgeSite:
    sim: JiraSimulator
    settings: Settings
    pool: Pool

    async def admit(self, tenant: Tenant, issue_key: str, delivery: str = 'forge:k1') -> None:
        """What the producer's /forge/events route admits for an avi:jira:created:issue."""
        body = {
            'webhookEvent': 'jira:issue_created',
            'timestamp': int(time.time() * 1000),
            'user': {'accountId': ALICE['accountId']},
            'issue': partial_issue(self.sim.issues[issue_key]),
        }
        raw = json.dumps(body).encode()
        redis = await queue.connect(self.settings)
        try:
            outcome = await intake.admit(
                redis,
                self.pool,
                CIPHER,
                tenant.client_key,
                delivery,
                WebhookEvent.model_validate(body),
                raw,
                fetch_issue=True,
            )
        finally:
            await redis.aclose()
        assert outcome is intake.Outcome.ACCEPTED

    async def drain(self) -> None:
        kwargs = build_worker_settings(self.settings, burst=True, poll_delay=0.01, handle_signals=False)
        worker = Worker(**kwargs)
        try:
            await worker.main()
        finally:
            await worker.close()


@contextlib.asynccontextmanager
async def forge_site(schema: str) -> AsyncIterator[ForgeSite]:
    sim = JiraSimulator()
    async with sim.running():
        sim.forge.api_base_override = sim.base_url
        settings = make_settings(schema)
        pool = await create_pool(settings.database_url, schema=schema)
        await migrate(pool, schema=schema)
        try:
            yield ForgeSite(sim, settings, pool)
        finally:
            await pool.close()


async def test_a_forge_execution_reads_the_issue_and_acts_with_the_system_token(schema: str, redis: Redis) -> None:
    async with forge_site(schema) as site:
        token = site.sim.forge.mint_system_token()
        tenant = await forge_tenant(site.pool, site.sim.forge, token)
        await rules.create_rule(site.pool, tenant.client_key, Rule.model_validate(HIGH_BUGS))
        issue = site.sim.state.create(
            project='PROJ',
            issuetype='Bug',
            summary='Checkout fails',
            reporter=ALICE,
            changes={'priority': {'name': 'High'}, 'labels': ['customer']},
        ).issue
        await site.admit(tenant, issue['key'])
        await site.drain()

        assert [c['body'] for c in site.sim.comments[issue['key']]] == [f'Seen {issue["key"]} (High)']
        read, person, comment = site.sim.calls
        assert (read.method, read.path) == ('GET', f'/ex/jira/{site.sim.forge.cloud_id}/rest/api/2/issue/{issue["id"]}')
        # The event named its actor by account id only: the worker reads the user ({{initiator}}).
        assert (person.method, person.path) == ('GET', f'/ex/jira/{site.sim.forge.cloud_id}/rest/api/2/user')
        assert comment.method == 'POST'
        assert comment.path.endswith(f'/rest/api/2/issue/{issue["key"]}/comment')
        jti = jwt.decode(token, options={'verify_signature': False})['jti']
        for call in site.sim.calls:
            assert call.auth == 'forge'
            assert call.jwt_valid
            assert call.claims is not None
            assert call.claims['jti'] == jti
        [entry] = await site.pool.fetch('SELECT client_key, status FROM audit_log')
        assert (entry['client_key'], entry['status']) == (tenant.client_key, 'SUCCESS')
        assert await snapshot_keys(site.settings) == []
        # The token went nowhere in the clear: not in Postgres, not in what Redis still holds.
        dump = await site.pool.fetchval(
            "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM forge_installations) t"
        ) + await site.pool.fetchval("SELECT coalesce(string_agg(t::text, ' '), '') FROM audit_log t")
        assert token not in dump
        held = [await redis.dump(key) or b'' async for key in redis.scan_iter()]
        assert held
        assert not any(token.encode() in value for value in held)


async def test_no_usable_token_waits_then_dead_letters_without_a_connect_call(system: System) -> None:
    """Case 30 on a Connect tenant cut over to Forge: its shared secret is still there, unused."""
    forge = system.sim.forge
    forge.api_base_override = system.sim.base_url
    client_key = system.sim.client_key
    await system.pool.execute("UPDATE tenants SET transport = 'forge' WHERE client_key = $1", client_key)
    near_expiry = forge.mint_system_token(lifetime=200)  # inside the five-minute margin
    installation = await forge_installations.record_invocation(system.pool, CIPHER, context(forge, near_expiry))
    assert installation.client_key == client_key
    tenant = await tenants.get_tenant(system.pool, CIPHER, client_key)
    assert tenant is not None
    assert tenant.shared_secret is not None
    await system.add_rule({**HIGH_BUGS, 'conditions': []})
    issue = system.sim.state.create(project='PROJ', issuetype='Bug', summary='x', reporter=ALICE, changes={}).issue
    calls_before = len(system.sim.calls)
    site = ForgeSite(system.sim, system.settings, system.pool)
    await site.admit(tenant, issue['key'])
    await site.drain()

    assert system.sim.calls[calls_before:] == []  # neither Bearer nor Connect JWT
    [letter] = await system.pool.fetch('SELECT error, attempts FROM dead_letters')
    assert 'no valid app token' in letter['error']
    assert letter['attempts'] == system.settings.max_attempts
    assert await system.pool.fetch('SELECT 1 FROM audit_log') == []
    assert await snapshot_keys(system.settings) == []
    assert system.sim.comments.get(issue['key'], []) == []
