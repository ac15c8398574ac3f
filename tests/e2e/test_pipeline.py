"""The whole path, for real: signed install, signed webhooks, rules, signed Jira calls, audit, purge."""

from __future__ import annotations

from collections import Counter

import redis.asyncio as aioredis

from rulequeue.connect.qsh import query_hash
from rulequeue.simulator import ALICE, BOB
from tests.harness import System, redis_keys, snapshot_keys

TRIAGE = {
    'name': 'Triage new bugs',
    'projects': ['PROJ'],
    'trigger': {'type': 'issue_created'},
    'conditions': [{'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Bug'}],
    'actions': [
        {'type': 'comment', 'body': 'Thanks {{initiator.displayName}}, {{issue.key}} is in triage.'},
        {'type': 'edit', 'fields': {'labels': {'add': ['triage']}, 'priority': {'name': 'High'}}},
        {'type': 'transition', 'to': 'Triage'},
    ],
    'owner': {'account_id': 'owner-1', 'name': 'Ada Admin', 'email': 'ada@example.com'},
}
ASSIGN_ON_PROGRESS = {
    'name': 'Assign work in progress',
    'trigger': {'type': 'issue_transitioned', 'to': 'In Progress'},
    'conditions': [{'type': 'field', 'field': 'assignee', 'op': 'is_empty'}],
    'actions': [
        {'type': 'assign', 'account_id': BOB['accountId']},
        {'type': 'log', 'message': 'assigned {{issue.key}}'},
    ],
}
BROKEN_TRANSITION = {
    'name': 'Close on comment',
    'trigger': {'type': 'issue_commented'},
    'actions': [{'type': 'comment', 'body': 'Closing {{issue.key}}'}, {'type': 'transition', 'to': 'No Such Status'}],
}
ALL_FAIL = {
    'name': 'Set an unknown priority',
    'trigger': {'type': 'field_value_changed', 'fields': ['Summary']},
    'actions': [{'type': 'edit', 'fields': {'priority': {'name': 'Apocalyptic'}}}],
}


def _app_calls(system: System) -> list[tuple[str, str]]:
    return [(c.method, c.path) for c in system.sim.calls if c.path != '/rest/api/2/myself']


async def _assert_no_issue_data_left(system: System, *needles: str) -> None:
    assert await snapshot_keys(system.settings) == []
    assert await redis_keys(system.settings, 'arq:result:*') == []
    assert await redis_keys(system.settings, 'arq:job:*') == []
    client = aioredis.Redis.from_url(system.settings.redis_url)
    try:
        for key in await redis_keys(system.settings):
            kind = (await client.type(key)).decode()
            values: list[bytes] = []
            if kind == 'string':
                values = [await client.get(key) or b'']
            elif kind == 'hash':
                values = list((await client.hgetall(key)).values())
            for value in values:
                for needle in needles:
                    assert needle.encode() not in value, (key, needle)
    finally:
        await client.aclose()


async def test_install_stores_the_secret_encrypted(system: System) -> None:
    row = await system.pool.fetchrow('SELECT * FROM tenants WHERE client_key = $1', system.sim.client_key)
    assert row is not None
    assert row['state'] == 'installed'
    assert row['base_url'] == system.sim.base_url
    secret = system.sim.shared_secret
    assert secret
    dump = str(dict(row.items())).encode()
    assert secret.encode() not in dump
    assert secret.encode() not in bytes(row['shared_secret_enc'])


async def test_rules_run_with_signed_calls_and_audit(system: System) -> None:
    for rule in (TRIAGE, ASSIGN_ON_PROGRESS, BROKEN_TRANSITION, ALL_FAIL):
        await system.add_rule(rule)
    bug, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='Crash on save', reporter=ALICE)
    task, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='Write docs', reporter=ALICE)
    await system.drain()

    # The bug was triaged through signed calls; the task was not.
    assert system.sim.issues[bug['key']]['fields']['status']['name'] == 'Triage'
    assert 'triage' in system.sim.issues[bug['key']]['fields']['labels']
    assert system.sim.issues[bug['key']]['fields']['priority']['name'] == 'High'
    assert system.sim.issues[task['key']]['fields']['status']['name'] == 'To Do'
    comments = system.sim.comments[bug['key']]
    assert [c['body'] for c in comments] == [f'Thanks {ALICE["displayName"]}, {bug["key"]} is in triage.']

    await system.sim.transition_issue(task['key'], 'In Progress', user=ALICE)
    await system.sim.add_comment(task['key'], 'please close', user=ALICE)
    await system.sim.update_issue(task['key'], {'summary': 'Write better docs'}, user=ALICE)
    await system.drain()
    assert system.sim.issues[task['key']]['fields']['assignee']['accountId'] == BOB['accountId']

    for call in system.sim.calls:
        assert call.jwt_valid, call
        assert call.claims is not None
        assert call.claims['iss'] == 'rulequeue'
        assert call.claims['qsh'] == query_hash(call.method, call.path, call.query)
    assert Counter(_app_calls(system)) == Counter(
        {
            ('POST', f'/rest/api/2/issue/{bug["key"]}/comment'): 1,
            ('PUT', f'/rest/api/2/issue/{bug["key"]}'): 1,
            ('GET', f'/rest/api/2/issue/{bug["key"]}/transitions'): 1,
            ('POST', f'/rest/api/2/issue/{bug["key"]}/transitions'): 1,
            ('PUT', f'/rest/api/2/issue/{task["key"]}/assignee'): 1,
            ('POST', f'/rest/api/2/issue/{task["key"]}/comment'): 1,
            ('GET', f'/rest/api/2/issue/{task["key"]}/transitions'): 1,
            ('PUT', f'/rest/api/2/issue/{task["key"]}'): 1,
        }
    )

    entries = await system.audit()
    by_rule = Counter((e['rule_name'], e['issue_key'], e['status']) for e in entries)
    assert by_rule == Counter(
        {
            ('Triage new bugs', bug['key'], 'SUCCESS'): 1,
            ('Triage new bugs', task['key'], 'NO_ACTIONS_PERFORMED'): 1,
            ('Assign work in progress', task['key'], 'SUCCESS'): 1,
            ('Close on comment', task['key'], 'SOME_ERRORS'): 1,
            ('Set an unknown priority', task['key'], 'FAILURE'): 1,
        }
    )
    triage = next(e for e in entries if e['issue_key'] == bug['key'])
    assert [a['type'] for a in triage['actions']] == ['comment', 'edit', 'transition']
    assert triage['actions'][1]['changes'] == {
        'labels': {'add': ['triage'], 'remove': []},
        'priority': {'name': 'High'},
    }
    assert triage['actions'][2]['changes']['status'] == 'Triage'
    assert triage['issue_id'] == bug['id']
    skipped = next(e for e in entries if e['issue_key'] == task['key'] and e['rule_name'] == 'Triage new bugs')
    assert "issuetype equals 'Bug'" in ' '.join(skipped['messages'])
    await _assert_no_issue_data_left(system, 'Crash on save', 'Write docs', 'please close')


async def test_audit_never_holds_field_values_the_rule_did_not_write(system: System) -> None:
    await system.add_rule(TRIAGE)
    await system.sim.create_issue(
        project='PROJ', issuetype='Bug', summary='confidential-summary-42', reporter=ALICE, description='secret-desc'
    )
    await system.drain()
    rows = await system.pool.fetch('SELECT * FROM audit_log')
    assert len(rows) == 1
    dump = str([dict(r.items()) for r in rows])
    assert 'confidential-summary-42' not in dump
    assert 'secret-desc' not in dump


async def test_same_delivery_twice_runs_once(system: System) -> None:
    await system.add_rule(TRIAGE)
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='dup', reporter=ALICE)
    body = system.sim.last_webhook_body
    first = await system.sim.send_webhook(body, delivery_id='delivery-dup-1')
    second = await system.sim.send_webhook(body, delivery_id='delivery-dup-1', retry=1)
    assert first.json()['status'] in {'accepted', 'duplicate'}
    assert second.status_code == 200
    assert second.json()['status'] == 'duplicate'
    await system.drain()
    third = await system.sim.send_webhook(body, delivery_id='delivery-dup-1', retry=2)
    assert third.json()['status'] == 'duplicate'
    await system.drain()
    # One run for the original create and one for 'delivery-dup-1', never two for the same id.
    rows = await system.pool.fetch('SELECT delivery_id FROM audit_log')
    assert Counter(r['delivery_id'] for r in rows)['delivery-dup-1'] == 1
    assert len(rows) == 2
    assert len(system.sim.comments[issue['key']]) == 2


async def test_retried_then_successful_leaves_no_trace(system: System) -> None:
    await system.add_rule(TRIAGE)
    system.sim.fail_next(status=429, times=1, retry_after=1, method='PUT')
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='flaky-summary', reporter=ALICE)
    await system.drain()
    statuses = [c.status for c in system.sim.calls if c.method == 'PUT']
    assert statuses == [429, 204]
    # The comment made before the 429 was not repeated on the retry.
    assert len(system.sim.comments[issue['key']]) == 1
    entries = await system.audit()
    assert [(e['status'], e['attempts']) for e in entries] == [('SUCCESS', 2)]
    await _assert_no_issue_data_left(system, 'flaky-summary')


async def test_retries_exhausted_is_failure_and_purged(system: System) -> None:
    await system.add_rule(TRIAGE)
    system.sim.fail_next(status=503, times=100, method='POST')
    await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='down-summary', reporter=ALICE)
    await system.drain()
    posts = [c for c in system.sim.calls if c.method == 'POST']
    assert len(posts) == system.settings.max_attempts
    entries = await system.audit()
    assert len(entries) == 1
    assert entries[0]['status'] == 'FAILURE'
    assert 'gave up after' in entries[0]['messages'][-1]
    await _assert_no_issue_data_left(system, 'down-summary')


async def test_permanent_failure_is_audited_and_purged(system: System) -> None:
    await system.add_rule(ALL_FAIL)
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='a', reporter=ALICE)
    await system.sim.update_issue(issue['key'], {'summary': 'perm-fail-summary'}, user=ALICE)
    await system.drain()
    entries = await system.audit(status='FAILURE')
    assert len(entries) == 1
    assert entries[0]['actions'][0]['status'] == 'FAILED'
    assert '400' in entries[0]['actions'][0]['message']
    await _assert_no_issue_data_left(system, 'perm-fail-summary')


async def test_uninstall_deletes_secret_disables_rules_and_drops_queued_snapshots(system: System) -> None:
    await system.add_rule(TRIAGE)
    await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='queued-at-uninstall', reporter=ALICE)
    assert len(await snapshot_keys(system.settings)) == 1
    await system.sim.lifecycle('uninstalled')
    row = await system.pool.fetchrow('SELECT state, shared_secret_enc FROM tenants')
    assert row is not None
    assert (row['state'], row['shared_secret_enc']) == ('uninstalled', None)
    assert await system.pool.fetchval('SELECT count(*) FROM rules WHERE enabled') == 0
    assert await snapshot_keys(system.settings) == []
    await system.drain()
    assert system.sim.calls == []
    assert await system.pool.fetchval('SELECT count(*) FROM audit_log') == 0
    # The old secret no longer opens anything.
    _, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='after', reporter=ALICE)
    assert [r.status_code for r in responses] == [401]
    await _assert_no_issue_data_left(system, 'queued-at-uninstall')


async def test_disable_pauses_and_enable_resumes(system: System) -> None:
    await system.add_rule(TRIAGE)
    await system.sim.lifecycle('disabled')
    _, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='paused', reporter=ALICE)
    assert responses[0].json()['status'] == 'ignored'
    await system.drain()
    assert system.sim.calls == []
    await system.sim.lifecycle('enabled')
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='resumed', reporter=ALICE)
    await system.drain()
    assert len(system.sim.comments[issue['key']]) == 1


async def test_own_actions_do_not_retrigger_rules(system: System) -> None:
    loop_prone = {
        'name': 'Comment on every update',
        'trigger': {'type': 'issue_updated'},
        'actions': [{'type': 'edit', 'fields': {'labels': {'add': ['touched']}}}],
    }
    await system.add_rule(loop_prone)
    system.sim.emit_app_events = True
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='s', reporter=ALICE)
    await system.sim.update_issue(issue['key'], {'summary': 'changed'}, user=ALICE)
    await system.drain()
    await system.sim.wait_for_app_events()
    await system.drain()
    edits = [c for c in system.sim.calls if c.method == 'PUT']
    assert len(edits) == 1  # the app's own edit came back as an event but ran nothing
    assert await system.pool.fetchval('SELECT count(*) FROM audit_log') == 1


async def test_rules_api_validation_and_tenant_isolation(system: System) -> None:
    bad = await system.api('POST', '/api/rules', json={'name': '', 'trigger': {'type': 'nope'}, 'actions': []})
    assert bad.status_code == 422
    paths = {e['path'] for e in bad.json()['errors']}
    assert {'name', 'actions'} <= paths
    assert any(p.startswith('trigger') for p in paths)

    created = await system.add_rule(TRIAGE)
    assert created['version'] == 1
    listed = (await system.api('GET', '/api/rules')).json()['rules']
    assert [r['id'] for r in listed] == [created['id']]
    updated = await system.api('PUT', f'/api/rules/{created["id"]}', json={**TRIAGE, 'name': 'Renamed'})
    assert updated.json()['version'] == 2
    assert (await system.api('GET', f'/api/rules/{created["id"]}')).json()['name'] == 'Renamed'

    from rulequeue.simulator import JiraSimulator

    other = JiraSimulator(install_signer=system.sim.install_signer)
    async with other.running():
        await other.install(system.url + '/atlassian-connect.json')
        token = other.sign_request('GET', f'{system.url}/api/rules/{created["id"]}')
        foreign = await system.http.get(
            f'{system.url}/api/rules/{created["id"]}', headers={'Authorization': f'JWT {token}'}
        )
        assert foreign.status_code == 404
        token = other.sign_request('GET', f'{system.url}/api/rules')
        listed_other = await system.http.get(f'{system.url}/api/rules', headers={'Authorization': f'JWT {token}'})
        assert listed_other.json() == {'rules': []}
        token = other.sign_request('DELETE', f'{system.url}/api/rules/{created["id"]}')
        deleted = await system.http.delete(
            f'{system.url}/api/rules/{created["id"]}', headers={'Authorization': f'JWT {token}'}
        )
        assert deleted.status_code == 404
    assert (await system.api('DELETE', f'/api/rules/{created["id"]}')).status_code == 204
    assert (await system.api('GET', f'/api/rules/{created["id"]}')).status_code == 404


async def test_context_qsh_token_reads_the_api(system: System) -> None:
    token = system.sim.context_token(ALICE['accountId'])
    response = await system.http.get(system.url + '/api/rules', headers={'Authorization': f'JWT {token}'})
    assert response.status_code == 200
    assert response.json() == {'rules': []}


async def test_audit_filters(system: System) -> None:
    triage = await system.add_rule(TRIAGE)
    first, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='1', reporter=ALICE)
    await system.sim.create_issue(project='PROJ', issuetype='Task', summary='2', reporter=ALICE)
    await system.drain()
    assert len(await system.audit()) == 2
    assert [e['issue_key'] for e in await system.audit(issue=first['key'])] == [first['key']]
    assert [e['status'] for e in await system.audit(status='SUCCESS')] == ['SUCCESS']
    assert len(await system.audit(rule=triage['id'])) == 2
    everything = await system.audit()
    ids = [e['id'] for e in everything]
    assert ids == sorted(ids, reverse=True)
    assert [e['id'] for e in await system.audit(limit='1')] == ids[:1]
    bad = await system.api('GET', '/api/audit', params={'status': 'bogus'})
    assert bad.status_code == 400
