"""JQL in rules, end to end: trigger filters and ``jql`` conditions decided on the snapshot, or by one
signed search of the simulated Jira; bad queries refused when the rule is saved."""

from __future__ import annotations

from typing import Any

from rulequeue.simulator.calls import RecordedCall
from tests.harness import System

SEARCH = '/rest/api/3/search/jql'


def _rule(name: str, trigger: dict[str, Any], *conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        'name': name,
        'trigger': trigger,
        'conditions': list(conditions),
        'actions': [{'type': 'comment', 'body': f'{name} ran on {{{{issue.key}}}}'}],
    }


def _searches(system: System) -> list[RecordedCall]:
    return [c for c in system.sim.calls if c.path == SEARCH]


def _comments(system: System, key: str) -> list[str]:
    return [c['body'] for c in system.sim.comments.get(key, [])]


async def test_trigger_filter_runs_the_rule_only_for_matching_issues(system: System) -> None:
    customers = _rule('Customer issues', {'type': 'issue_created', 'jql': 'project = OPS AND labels = customer'})
    proj = _rule('PROJ issues', {'type': 'issue_created', 'jql': 'project = PROJ'})
    for rule in (customers, proj):
        await system.add_rule(rule)
    ops, _ = await system.sim.create_issue(project='OPS', labels=['customer', 'vip'])
    internal, _ = await system.sim.create_issue(project='OPS', labels=['internal'])
    await system.drain()

    assert _comments(system, ops['key']) == [f'Customer issues ran on {ops["key"]}']
    assert _comments(system, internal['key']) == []
    entries = await system.audit()
    # A filter that does not match is a trigger that did not fire: no audit row at all.
    assert [(e['rule_name'], e['issue_key'], e['status']) for e in entries] == [
        ('Customer issues', ops['key'], 'SUCCESS')
    ]
    assert entries[0]['messages'] == ['trigger jql: local, matched']
    assert _searches(system) == []

    proj_issue, _ = await system.sim.create_issue(project='PROJ', labels=['customer'])
    await system.drain()
    assert _comments(system, proj_issue['key']) == [f'PROJ issues ran on {proj_issue["key"]}']
    assert {(e['rule_name'], e['issue_key']) for e in await system.audit()} == {
        ('Customer issues', ops['key']),
        ('PROJ issues', proj_issue['key']),
    }


async def test_jql_condition_decided_on_the_snapshot(system: System) -> None:
    await system.add_rule(
        _rule(
            'Urgent customers',
            {'type': 'issue_created'},
            {'type': 'jql', 'jql': 'priority = High AND labels = customer'},
        )
    )
    hit, _ = await system.sim.create_issue(priority='High', labels=['customer'])
    miss, _ = await system.sim.create_issue(priority='Low', labels=['customer'])
    await system.drain()

    assert _comments(system, hit['key']) == [f'Urgent customers ran on {hit["key"]}']
    assert _comments(system, miss['key']) == []
    by_issue = {e['issue_key']: e for e in await system.audit()}
    assert by_issue[hit['key']]['status'] == 'SUCCESS'
    assert by_issue[hit['key']]['messages'] == ['condition 1 jql: local, matched']
    assert by_issue[miss['key']]['status'] == 'NO_ACTIONS_PERFORMED'
    assert by_issue[miss['key']]['messages'] == ['condition 1 jql: local, not matched']
    assert _searches(system) == []


async def test_jql_condition_the_snapshot_cannot_decide_is_one_signed_search(system: System) -> None:
    # "Team" is a custom field named by its display name: the webhook carries no field names,
    # so only Jira can resolve it.
    await system.add_rule(_rule('Platform bugs', {'type': 'issue_created'}, {'type': 'jql', 'jql': 'Team = Platform'}))
    hit, _ = await system.sim.create_issue(customfield_10010='Platform')
    await system.drain()

    assert _comments(system, hit['key']) == [f'Platform bugs ran on {hit["key"]}']
    [search] = _searches(system)
    assert (search.method, search.status, search.jwt_valid) == ('POST', 200, True)
    assert search.json == {
        'jql': f'key = {hit["key"]} AND (Team = Platform)',
        'fields': ['id'],
        'maxResults': 1,
        'reconcileIssues': [int(hit['id'])],
    }
    [entry] = await system.audit()
    assert (entry['status'], entry['messages']) == ('SUCCESS', ['condition 1 jql: jira search, matched'])

    miss, _ = await system.sim.create_issue(customfield_10010='Ops')
    await system.drain()
    assert _comments(system, miss['key']) == []
    assert len(_searches(system)) == 2
    entry = next(e for e in await system.audit() if e['issue_key'] == miss['key'])
    assert (entry['status'], entry['messages']) == (
        'NO_ACTIONS_PERFORMED',
        ['condition 1 jql: jira search, not matched'],
    )


async def test_a_failed_search_is_retried_like_any_jira_call_and_a_refused_one_is_a_failure(system: System) -> None:
    await system.add_rule(_rule('Platform issues', {'type': 'issue_created', 'jql': 'Team = Platform'}))
    system.sim.fail_next(status=503, times=1, method='POST', path_contains=SEARCH)
    hit, _ = await system.sim.create_issue(customfield_10010='Platform')
    await system.drain()

    assert _comments(system, hit['key']) == [f'Platform issues ran on {hit["key"]}']
    assert [c.status for c in _searches(system)] == [503, 200]
    [entry] = await system.audit()
    assert (entry['status'], entry['attempts']) == ('SUCCESS', 2)
    assert entry['messages'] == ['trigger jql: jira search, matched']

    # A field the site does not know: Jira refuses the search (400); the rule is recorded as failed.
    await system.add_rule(_rule('Misspelt', {'type': 'issue_created', 'jql': 'Teem = Platform'}))
    other, _ = await system.sim.create_issue(customfield_10010='Ops')
    await system.drain()
    entries = {e['rule_name']: e for e in await system.audit(issue=other['key'])}
    assert set(entries) == {'Misspelt'}  # 'Platform issues' did not match: no row
    assert entries['Misspelt']['status'] == 'FAILURE'
    [message] = entries['Misspelt']['messages']
    assert message.startswith('trigger jql: jira search refused: Jira answered 400')
    assert [a['status'] for a in entries['Misspelt']['actions']] == ['SKIPPED']
    assert _comments(system, other['key']) == []


async def test_a_bad_query_is_refused_with_its_position_when_the_rule_is_saved(system: System) -> None:
    bad_trigger = _rule('Bad', {'type': 'issue_updated', 'jql': 'project = OPS AND (labels = customer'})
    response = await system.api('POST', '/api/rules', json=bad_trigger)
    assert response.status_code == 422
    [error] = response.json()['errors']
    assert error['path'] == 'trigger/issue_updated/jql'
    assert 'unclosed "(" at position 18' in error['message']

    saved = await system.add_rule(_rule('Good', {'type': 'issue_updated'}))
    bad_condition = _rule('Good', {'type': 'issue_updated'}, {'type': 'jql', 'jql': 'priority = '})
    response = await system.api('PUT', f'/api/rules/{saved["id"]}', json=bad_condition)
    assert response.status_code == 422
    [error] = response.json()['errors']
    assert error['path'] == 'conditions/0/jql/jql'
    assert 'unexpected end of query at position 11' in error['message']
    assert (await system.api('GET', f'/api/rules/{saved["id"]}')).json()['version'] == saved['version']
