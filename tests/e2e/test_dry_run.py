"""Dry-run of a rule and the rule JSON Schema, through the API against the simulator (issue #3)."""

from __future__ import annotations

import copy
import json
from typing import Any

from rulequeue.simulator import ALICE
from schemas.rule_schema import rule_json_schema
from tests.harness import System

TRIAGE: dict[str, Any] = {
    'name': 'Triage new bugs',
    'trigger': {'type': 'issue_created'},
    'conditions': [{'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Bug'}],
    'actions': [
        {'type': 'comment', 'body': 'Triage {{issue.key}}: {{issue.summary}}'},
        {'type': 'edit', 'fields': {'labels': {'add': ['triage']}}},
        {'type': 'transition', 'to': 'In Progress'},
        {'type': 'assign', 'account_id': ALICE['accountId']},
        {'type': 'log', 'message': 'triaged'},
    ],
}


def _comparable(method: str, path: str, body: Any) -> tuple[str, str, str]:
    """A write, with the idempotency key (derived from the delivery id, unknown to a dry run) blanked."""
    body = copy.deepcopy(body)
    for prop in (body or {}).get('properties', []) if isinstance(body, dict) else []:
        prop['value'] = {'key': '*'}
    return method, path, json.dumps(body, sort_keys=True)


async def _dry_run(system: System, **request: Any) -> dict[str, Any]:
    response = await system.api('POST', '/api/rules/dry-run', json=request)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def test_dry_run_lists_the_writes_a_real_run_then_makes(system: System) -> None:
    # The issue_created event is queued but not drained: the rule is added after the dry run,
    # so the worker then runs it on that very event.
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='Login fails', reporter=ALICE)
    issues_before, comments_before = copy.deepcopy(system.sim.issues), copy.deepcopy(system.sim.comments)
    calls_before = len(system.sim.calls)

    by_key = await _dry_run(system, rule=TRIAGE, issue_key=issue['key'])
    assert (by_key['in_scope'], by_key['trigger_matched'], by_key['would_run_actions']) == (True, True, True)
    assert [(c['index'], c['passed']) for c in by_key['conditions']] == [(1, True)]
    assert [(c['method'], c['path'].rsplit('/', 1)[-1]) for c in by_key['calls']] == [
        ('POST', 'comment'),
        ('PUT', issue['key']),
        ('POST', 'transitions'),
        ('PUT', 'assignee'),
    ]
    assert by_key['calls'][0]['json']['body'] == f'Triage {issue["key"]}: Login fails'
    assert [(r['method'], r['path'].rsplit('/', 1)[-1]) for r in by_key['reads']] == [('GET', 'transitions')]
    assert [a['status'] for a in by_key['actions']] == ['SUCCESS'] * 5

    # The same with the issue's JSON instead of its key: the same writes.
    by_json = await _dry_run(system, rule=TRIAGE, issue=issues_before[issue['key']], event='issue_created')
    assert by_json['calls'] == by_key['calls']

    # Nothing changed in Jira, no write was sent, nothing was stored.
    assert system.sim.issues == issues_before
    assert system.sim.comments == comments_before
    assert [c.method for c in system.sim.calls[calls_before:]] == ['GET'] * 3  # the issue, transitions twice
    assert await system.pool.fetchval('SELECT count(*) FROM audit_log') == 0
    assert await system.pool.fetchval('SELECT count(*) FROM rules') == 0

    await system.add_rule(TRIAGE)
    await system.drain()
    sent = [c for c in system.sim.calls[calls_before:] if c.method != 'GET']
    base = system.sim.base_url.rstrip('/')
    prefix = base[base.index('/', len('http://')) :] if base.count('/') > 2 else ''
    expected = [_comparable(c['method'], prefix + c['path'], c['json']) for c in by_key['calls']]
    assert [_comparable(c.method, c.path, c.json) for c in sent] == expected


async def test_dry_run_explains_a_rule_that_would_not_act(system: System) -> None:
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Task', summary='Tidy up', reporter=ALICE)
    snapshot = copy.deepcopy(system.sim.issues[issue['key']])
    failing = await _dry_run(system, rule=TRIAGE, issue=snapshot)
    assert failing['trigger_matched'] is True
    assert [(c['index'], c['passed']) for c in failing['conditions']] == [(1, False)]
    assert 'issuetype' in failing['conditions'][0]['description']
    assert (failing['would_run_actions'], failing['calls'], failing['actions']) == (False, [], [])

    other_event = await _dry_run(system, rule=TRIAGE, issue=snapshot, event='issue_deleted')
    assert other_event['trigger_matched'] is False
    assert 'issue_created' in other_event['trigger_reason']

    hook = {**TRIAGE, 'conditions': [], 'actions': [{'type': 'web_request', 'url': 'https://example.com/hook'}]}
    web = await _dry_run(system, rule=hook, issue=snapshot)
    assert [(a['type'], a['status'], a['message']) for a in web['actions']] == [
        ('web_request', 'SKIPPED', 'web requests are not sent in a dry run')
    ]
    assert web['calls'] == []

    missing = await system.api('POST', '/api/rules/dry-run', json={'rule': TRIAGE, 'issue_key': 'PROJ-999'})
    assert missing.status_code == 404
    neither = await system.api('POST', '/api/rules/dry-run', json={'rule': TRIAGE})
    assert neither.status_code == 422


async def test_rule_schema_is_served_from_the_model(system: System) -> None:
    # The shipped file equals the model's schema too: tests/unit/test_rule_schema.py.
    response = await system.api('GET', '/api/rules/schema')
    assert response.status_code == 200
    assert response.json() == rule_json_schema()
    assert response.json()['title'] == 'Rule'
