"""Forge Remote end to end (issue #8, "Done when" 2): the simulated site's Forge sends lifecycle
calls and product events to the real producer over HTTP, a burst worker runs the rules, and
every Jira call it makes goes to the simulator's Bearer REST API under ``/ex/jira/<cloudId>``.

Covered: a Forge-only site from ``installed`` to audited actions; Forge's re-deliveries; a
site migrating from Connect to Forge while both transports report every change (automatic and
manual cut-over); ``preUninstall``. The counts asserted are of what reached Jira (the
simulator's recorded calls, comments, labels) and of audit rows, so a change run twice or
not at all fails the test.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Literal

import httpx
import pytest
import redis.asyncio as aioredis

from rulequeue.simulator import ALICE
from rulequeue.simulator.calls import RecordedCall
from rulequeue.simulator.forge_events import EVENTS_PATH
from tests.e2e.test_pipeline import ALL_FAIL, ASSIGN_ON_PROGRESS, BROKEN_TRANSITION, TRIAGE
from tests.harness import System, install_forge, redis_keys, running_system, snapshot_keys
from worker.retention import purge_uninstalled

GREET = {
    'name': 'Greet new issues',
    'trigger': {'type': 'issue_created'},
    'actions': [
        {'type': 'comment', 'body': 'Welcome {{issue.key}}'},
        {'type': 'edit', 'fields': {'labels': {'add': ['greeted']}}},
        {'type': 'transition', 'to': 'Triage'},
    ],
}
PRIORITY = {
    'name': 'Note priority changes',
    'trigger': {'type': 'field_value_changed', 'fields': ['priority']},
    'actions': [{'type': 'comment', 'body': 'Priority is now {{issue.fields.priority.name}}'}],
}
STARTED = {
    'name': 'Mark started work',
    'trigger': {'type': 'issue_transitioned', 'to': 'In Progress'},
    'actions': [
        {'type': 'comment', 'body': 'Started {{issue.key}}'},
        {'type': 'edit', 'fields': {'labels': {'add': ['started']}}},
    ],
}
ANSWERED = {
    'name': 'Label discussed issues',
    'trigger': {'type': 'issue_commented'},
    'actions': [{'type': 'edit', 'fields': {'labels': {'add': ['discussed']}}}],
}
MIGRATION_RULES = (GREET, PRIORITY, STARTED, ANSWERED)


@contextlib.asynccontextmanager
async def forge_site(schema: str, *, connect: bool = False, **overrides: Any) -> AsyncIterator[System]:
    """Producer + simulator, Forge configured so that FITs name the simulator's REST API.

    ``connect`` installs the Connect app first (a site migrating to Forge). The Forge side
    sends nothing until :func:`install_forge` (the Forge app installed).
    """
    async with running_system(schema, install=connect, forge=True, **overrides) as system:
        if connect:
            cloud_id = await system.pool.fetchval(
                'SELECT cloud_id FROM tenants WHERE client_key = $1', system.sim.client_key
            )
            assert cloud_id == system.sim.forge.cloud_id  # one site: its Forge side is linked by cloudId
        yield system


async def forge_api(system: System, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The admin API as the Forge app's admin page calls it: a UI invocation's FIT."""
    fit = system.sim.forge.mint_invocation_token(claims={'principal': ALICE['accountId']})
    return await system.http.request(method, system.url + path, headers={'Authorization': f'Bearer {fit}'}, **kwargs)


async def forge_add_rule(system: System, rule: dict[str, Any]) -> None:
    created = await forge_api(system, 'POST', '/api/rules', json=rule)
    assert created.status_code == 201, created.text


def writes(calls: list[RecordedCall]) -> Counter[tuple[str, str]]:
    """What the worker changed in Jira: (method, resource) of every non-GET call."""
    return Counter((c.method, resource(c.path)) for c in calls if c.method != 'GET')


def resource(path: str) -> str:
    """``/ex/jira/<cloudId>/rest/...`` and ``/rest/...`` alike, to compare calls across transports."""
    return '/rest/' + path.split('/rest/', 1)[1] if '/rest/' in path else path


def assert_forge_calls(system: System, calls: list[RecordedCall]) -> None:
    """Each call Bearer with a system token this site's Forge minted, to ``/ex/jira/<cloudId>``."""
    assert calls
    for call in calls:
        assert call.auth == 'forge', call
        assert call.jwt_valid, call
        assert call.path.startswith(f'/ex/jira/{system.sim.forge.cloud_id}/rest/'), call


def assert_connect_calls(calls: list[RecordedCall]) -> None:
    assert calls
    for call in calls:
        assert call.auth == 'connect', call
        assert call.jwt_valid, call
        assert call.path.startswith('/rest/'), call


async def audit_rows(system: System) -> list[dict[str, Any]]:
    rows = await system.pool.fetch('SELECT client_key, rule_name, issue_key, status, delivery_id FROM audit_log')
    return [dict(r) for r in rows]


async def tokens_in_clear(system: System) -> list[str]:
    """Where a system token Forge sent us appears unencrypted: any Postgres table or Redis value."""
    found = []
    tokens = list(system.sim.forge.system_tokens)
    assert tokens
    tables = await system.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
        system.settings.database_schema,
    )
    for row in tables:
        table = row['table_name']
        dump = await system.pool.fetchval(f"SELECT coalesce(string_agg(t::text, ' '), '') FROM \"{table}\" t")  # noqa: S608
        found += [f'postgres {table}' for token in tokens if token in dump]
    client = aioredis.Redis.from_url(system.settings.redis_url)
    try:
        for key in await redis_keys(system.settings):
            value = await client.dump(key) or b''
            found += [f'redis {key!r}' for token in tokens if token.encode() in value]
    finally:
        await client.aclose()
    return found


async def test_a_forge_only_site_runs_its_rules_with_the_system_token(
    schema: str, redis: aioredis.Redis, capfd: pytest.CaptureFixture[str]
) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await install_forge(system)
        forge_key = 'forge:' + sim.forge.cloud_id
        tenant = await system.pool.fetchrow('SELECT * FROM tenants')
        assert tenant['client_key'] == forge_key
        assert (tenant['state'], tenant['transport'], tenant['shared_secret_enc']) == ('installed', 'forge', None)
        installation = await system.pool.fetchrow('SELECT client_key, state, system_token_enc FROM forge_installations')
        assert (installation['client_key'], installation['state']) == (forge_key, 'active')
        assert installation['system_token_enc'] is not None
        for rule in (TRIAGE, ASSIGN_ON_PROGRESS, BROKEN_TRANSITION, ALL_FAIL):
            await forge_add_rule(system, rule)
        assert await system.pool.fetchval('SELECT count(*) FROM rules WHERE client_key = $1', forge_key) == 4

        # Both envelopes: the bug's events bare, the task's wrapped in {"payload": ...}.
        bug, answers = await sim.create_issue(project='PROJ', issuetype='Bug', summary='Crash on save', reporter=ALICE)
        assert [a.status_code for a in answers] == [204]
        sim.forge_events.envelope = 'payload'
        task, _ = await sim.create_issue(project='PROJ', issuetype='Task', summary='Write docs', reporter=ALICE)
        await system.drain()
        await sim.transition_issue(task['key'], 'In Progress', user=ALICE)
        await sim.add_comment(task['key'], 'please close', user=ALICE)
        await sim.update_issue(task['key'], {'summary': 'Write better docs'}, user=ALICE)
        await system.drain()

        deliveries = sim.forge_events.deliveries
        assert [d.statuses for d in deliveries] == [[204]] * 6  # lifecycle + 5 product events
        assert 'payload' not in deliveries[1].bodies[0]
        assert 'payload' in deliveries[2].bodies[0]
        # The actions landed in Jira.
        fields = sim.issues[bug['key']]['fields']
        assert (fields['status']['name'], fields['priority']['name']) == ('Triage', 'High')
        assert 'triage' in fields['labels']
        assert [c['body'] for c in sim.comments[bug['key']]] == [
            # A Forge event names its initiator by account id only: the worker reads the user.
            f'Thanks {ALICE["displayName"]}, {bug["key"]} is in triage.'
        ]
        assert (
            sim.issues[task['key']]['fields']['assignee']['accountId'] == ASSIGN_ON_PROGRESS['actions'][0]['account_id']
        )
        assert [c['body'] for c in sim.comments[task['key']]] == ['please close', f'Closing {task["key"]}']
        # Every call our worker made was Bearer with the system token to /ex/jira/<cloudId>, none Connect.
        assert_forge_calls(system, sim.calls)
        assert writes(sim.calls) == Counter(
            {
                ('POST', f'/rest/api/2/issue/{bug["key"]}/comment'): 1,
                ('PUT', f'/rest/api/2/issue/{bug["key"]}'): 1,
                ('POST', f'/rest/api/2/issue/{bug["key"]}/transitions'): 1,
                ('PUT', f'/rest/api/2/issue/{task["key"]}/assignee'): 1,
                ('POST', f'/rest/api/2/issue/{task["key"]}/comment'): 1,
                ('PUT', f'/rest/api/2/issue/{task["key"]}'): 1,
            }
        )
        # Forge's partial issue was completed by reading the issue (fetch_issue), once per event.
        reads = Counter(c.path.rsplit('/', 1)[1] for c in sim.calls if c.method == 'GET' and '/issue/' in c.path)
        assert (reads[bug['id']], reads[task['id']]) == (1, 4)

        rows = await audit_rows(system)
        assert {r['client_key'] for r in rows} == {forge_key}
        assert all(r['delivery_id'].startswith('forge:') for r in rows)
        assert Counter((r['rule_name'], r['issue_key'], r['status']) for r in rows) == Counter(
            {
                ('Triage new bugs', bug['key'], 'SUCCESS'): 1,
                ('Triage new bugs', task['key'], 'NO_ACTIONS_PERFORMED'): 1,
                ('Assign work in progress', task['key'], 'SUCCESS'): 1,
                ('Close on comment', task['key'], 'SOME_ERRORS'): 1,
                ('Set an unknown priority', task['key'], 'FAILURE'): 1,
            }
        )
        listed = await forge_api(system, 'GET', '/api/audit')
        assert listed.status_code == 200
        assert len(listed.json()['entries']) == 5
        assert await snapshot_keys(system.settings) == []
        assert await tokens_in_clear(system) == []
        # Nor in any log line of the producer or the worker (both log to this process's output).
        logged = ''.join(capfd.readouterr())
        assert forge_key in logged  # the producer's and the worker's lines were captured
        assert sim.forge_events.system_token() not in logged
        assert 'Bearer' not in logged  # no invocation token either


async def test_forge_redeliveries_run_once(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, GREET)
        issue, _ = await sim.create_issue(summary='Redelivered')
        [created] = [d for d in sim.forge_events.deliveries if d.path == EVENTS_PATH]
        # Forge did not see our answers in time: it sends the event again, before and after the run.
        for _ in range(2):
            assert (await sim.forge_events.redeliver(created)).status_code == 204
        sim.forge_events.envelope = 'payload'
        assert (await sim.forge_events.redeliver(created, reason='INVALID_REMOTE_INVOCATION_ERROR')).status_code == 204
        await system.drain()
        assert (await sim.forge_events.redeliver(created)).status_code == 204  # after the run
        await system.drain()

        retries = [(b.get('payload') or b).get('retryContext', {}).get('retryCount') for b in created.bodies]
        assert retries == [None, 1, 2, 3, 4]
        assert [c['body'] for c in sim.comments[issue['key']]] == [f'Welcome {issue["key"]}']
        assert writes(sim.calls) == Counter(
            {
                ('POST', f'/rest/api/2/issue/{issue["key"]}/comment'): 1,
                ('PUT', f'/rest/api/2/issue/{issue["key"]}'): 1,
                ('POST', f'/rest/api/2/issue/{issue["key"]}/transitions'): 1,
            }
        )
        [row] = await audit_rows(system)
        assert (row['rule_name'], row['status']) == (GREET['name'], 'SUCCESS')
        assert await system.pool.fetchval('SELECT count(*) FROM deliveries') == 1
        assert await snapshot_keys(system.settings) == []


async def _switched(system: System) -> str:
    state = await system.api('GET', '/api/settings/transport')
    assert state.status_code == 200
    transport: str = state.json()['transport']
    return transport


@pytest.mark.parametrize('cutover', ['auto', 'manual'])
async def test_migration_runs_every_change_once_across_the_cutover(
    schema: str, redis: aioredis.Redis, cutover: Literal['auto', 'manual']
) -> None:
    """Connect and Forge both report every change once Forge is installed; each runs once."""
    async with forge_site(schema, connect=True, forge_cutover=cutover) as system:
        sim = system.sim
        for rule in MIGRATION_RULES:
            await system.add_rule(rule)
        if cutover == 'manual':
            await install_forge(system)  # its events are acknowledged, not run, until the switch

        # Before the switch: Connect runs the changes.
        x, _ = await sim.create_issue(summary='Migrating issue')
        await sim.update_issue(x['key'], {'priority': 'High'})
        await system.drain()
        before = list(sim.calls)
        assert_connect_calls(before)
        assert await _switched(system) == 'connect'
        if cutover == 'auto':
            await install_forge(system)
            assert await _switched(system) == 'connect'  # installing alone does not switch

        # A change whose Forge event is late: Connect runs it, then the switch, then Forge's copy.
        sim.forge_events.hold = True
        await sim.transition_issue(x['key'], 'In Progress')
        assert len(sim.forge_events.held) == 1
        await system.drain()
        assert_connect_calls(sim.calls[len(before) :])
        before = list(sim.calls)
        if cutover == 'manual':
            switched = await system.api('PUT', '/api/settings/transport', json={'transport': 'forge'})
            assert switched.status_code == 200, switched.text
        answers = await sim.forge_events.release()
        assert [a.status_code for a in answers] == [204]
        assert await _switched(system) == 'forge'  # auto: that late event switched the site
        await system.drain()
        assert sim.calls == before  # Connect had run that change

        # After the switch: Forge runs the changes, Connect's webhooks are acknowledged only.
        await sim.add_comment(x['key'], 'any update?')
        y, _ = await sim.create_issue(summary='Born on Forge')
        await sim.update_issue(y['key'], {'priority': 'Low'})
        replayed = await sim.redeliver(sim.deliveries[0])  # Connect re-sends a pre-switch webhook
        assert replayed is not None
        assert replayed.json()['status'] == 'ignored'
        await system.drain()
        assert_forge_calls(system, sim.calls[len(before) :])

        # Every action exactly once, whichever transport ran it.
        assert [c['body'] for c in sim.comments[x['key']]] == [
            f'Welcome {x["key"]}',
            'Priority is now High',
            f'Started {x["key"]}',
            'any update?',
        ]
        assert [c['body'] for c in sim.comments[y['key']]] == [f'Welcome {y["key"]}', 'Priority is now Low']
        assert sorted(sim.issues[x['key']]['fields']['labels']) == ['discussed', 'greeted', 'started']
        assert sim.issues[y['key']]['fields']['labels'] == ['greeted']
        assert writes(sim.calls) == Counter(
            {
                ('POST', f'/rest/api/2/issue/{x["key"]}/comment'): 3,
                ('PUT', f'/rest/api/2/issue/{x["key"]}'): 3,
                ('POST', f'/rest/api/2/issue/{x["key"]}/transitions'): 1,
                ('POST', f'/rest/api/2/issue/{y["key"]}/comment'): 2,
                ('PUT', f'/rest/api/2/issue/{y["key"]}'): 1,
                ('POST', f'/rest/api/2/issue/{y["key"]}/transitions'): 1,
            }
        )
        # One audit row per change and rule; the history from before the switch is kept.
        rows = await audit_rows(system)
        assert {r['client_key'] for r in rows} == {sim.client_key}
        assert {r['status'] for r in rows} == {'SUCCESS'}
        by_transport = Counter((r['rule_name'], r['issue_key'], r['delivery_id'].startswith('forge:')) for r in rows)
        assert by_transport == Counter(
            {
                (GREET['name'], x['key'], False): 1,
                (PRIORITY['name'], x['key'], False): 1,
                (STARTED['name'], x['key'], False): 1,
                (ANSWERED['name'], x['key'], True): 1,
                (GREET['name'], y['key'], True): 1,
                (PRIORITY['name'], y['key'], True): 1,
            }
        )
        assert len(await system.audit()) == 6
        listed = await system.api('GET', '/api/rules')
        assert sorted(r['name'] for r in listed.json()['rules']) == sorted(r['name'] for r in MIGRATION_RULES)
        assert await snapshot_keys(system.settings) == []
        assert await tokens_in_clear(system) == []


async def test_preuninstall_revokes_stops_the_rules_and_schedules_the_purge(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await install_forge(system)
        forge_key = 'forge:' + sim.forge.cloud_id
        await forge_add_rule(system, GREET)
        ran, _ = await sim.create_issue(summary='Before the uninstall')
        await system.drain()
        assert [c['body'] for c in sim.comments[ran['key']]] == [f'Welcome {ran["key"]}']
        # An event queued but not yet run when the app goes away.
        queued, _ = await sim.create_issue(summary='Queued at uninstall')
        calls_before = len(sim.calls)

        answer = await sim.forge_events.pre_uninstall()
        assert answer.status_code == 204
        installation = await system.pool.fetchrow(
            'SELECT state, system_token_enc, token_expires_at FROM forge_installations'
        )
        assert dict(installation) == {'state': 'uninstalled', 'system_token_enc': None, 'token_expires_at': None}
        tenant = await system.pool.fetchrow(
            'SELECT state, uninstalled_at FROM tenants WHERE client_key = $1', forge_key
        )
        assert tenant['state'] == 'uninstalled'
        assert tenant['uninstalled_at'] is not None
        assert await system.pool.fetchval('SELECT bool_or(enabled) FROM rules') is False
        assert await snapshot_keys(system.settings) == []  # the queued event's issue data went at once

        # A later change's event (a stale FIT of the old installation) is acknowledged, not run.
        late, answers = await sim.create_issue(summary='After the uninstall')
        assert [a.status_code for a in answers] == [204]
        await system.drain()
        assert sim.calls[calls_before:] == []
        assert sim.comments.get(queued['key']) == []
        assert sim.comments.get(late['key']) == []
        assert [r['issue_key'] for r in await audit_rows(system)] == [ran['key']]
        assert await system.pool.fetchval('SELECT count(*) FROM dead_letters') == 0  # dropped, not parked
        admin = await forge_api(system, 'GET', '/api/rules')
        assert admin.status_code == 401

        # The Connect uninstall promise: everything goes after the grace period, not before.
        grace = system.settings.uninstall_grace_days
        assert await purge_uninstalled(system.pool, grace) == []
        assert await system.pool.fetchval('SELECT count(*) FROM audit_log') == 1
        await system.pool.execute(
            'UPDATE tenants SET uninstalled_at = uninstalled_at - $1::interval', timedelta(days=grace, hours=1)
        )
        assert await purge_uninstalled(system.pool, grace) == [forge_key]
        for table in ('tenants', 'rules', 'audit_log', 'deliveries', 'forge_installations', 'dead_letters'):
            assert await system.pool.fetchval(f'SELECT count(*) FROM {table}') == 0, table  # noqa: S608
