"""Importing an Automation for Jira export through ``POST /api/rules/import``: the imported rule
then runs on a real (simulated) issue; a dry run stores nothing; a body that is not an export is
refused with 422; and ``rulequeue import-a4j`` imports for the tenant named by its client key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rulequeue.a4j_cli import import_file, read_export
from rulequeue.simulator import ALICE
from tests.harness import System

EXPORT: dict[str, Any] = json.loads((Path(__file__).parent.parent / 'data' / 'a4j_export.json').read_text())
IDS = {'projects': {'10000': 'PROJ'}, 'statuses': {'10100': 'Triage'}, 'issuetypes': {'10004': 'Bug'}}


def _only(*names: str) -> dict[str, Any]:
    return {'rules': [r for r in EXPORT['rules'] if r['name'] in names], 'ids': IDS}


async def test_an_imported_rule_runs_on_a_new_issue(system: System) -> None:
    response = await system.api('POST', '/api/rules/import', json=_only('Triage new bugs', 'Mail and branch'))
    assert response.status_code == 200, response.text
    report = response.json()
    [imported] = report['imported']
    assert (imported['name'], imported['enabled'], imported['dropped']) == ('Triage new bugs', True, [])
    assert [s['name'] for s in report['skipped']] == ['Mail and branch']
    assert [c['type'] for c in report['skipped'][0]['components']] == [
        'jira.comparator.condition',
        'jira.issue.outgoing.email',
        'jira.issue.related',
    ]
    stored = (await system.api('GET', f'/api/rules/{imported["id"]}')).json()
    assert stored['projects'] == ['PROJ']

    issue, _ = await system.sim.create_issue(issuetype='Bug', reporter=ALICE)
    await system.drain()
    fields = system.sim.issues[issue['key']]['fields']
    assert fields['labels'] == ['triage']
    assert fields['priority']['name'] == 'High'
    assert fields['status']['name'] == 'Triage'
    [comment] = system.sim.comments[issue['key']]
    assert comment['body'] == f'Thanks {ALICE["displayName"]}, {issue["key"]} is in triage.'
    [entry] = await system.audit()
    assert (entry['rule_id'], entry['status']) == (imported['id'], 'SUCCESS')


async def test_a_dry_run_reports_and_stores_nothing(system: System) -> None:
    response = await system.api('POST', '/api/rules/import?dry_run=true', json={**EXPORT, 'ids': IDS})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report['dry_run'] is True
    assert 'Triage new bugs' in [i['name'] for i in report['imported']]
    assert all(i['id'] is None for i in report['imported'])
    assert (await system.api('GET', '/api/rules')).json() == {'rules': []}


async def test_a_partial_import_is_disabled_and_names_what_it_dropped(system: System) -> None:
    response = await system.api('POST', '/api/rules/import?allow_partial=true', json=_only('Mail and branch'))
    assert response.status_code == 200, response.text
    [imported] = response.json()['imported']
    assert imported['enabled'] is False
    assert [d['type'] for d in imported['dropped']] == [
        'jira.comparator.condition',
        'jira.issue.outgoing.email',
        'jira.issue.related',
    ]
    # Importing again skips it: the name is taken.
    again = (await system.api('POST', '/api/rules/import?allow_partial=true', json=_only('Mail and branch'))).json()
    assert again['imported'] == []
    assert again['skipped'][0]['components'][-1]['reason'] == 'a rule with this name exists already'


async def test_a_body_that_is_not_an_export_is_unprocessable(system: System) -> None:
    for body in ({'name': 'a rule', 'trigger': {'type': 'issue_created'}}, {'rules': 'all'}):
        response = await system.api('POST', '/api/rules/import', json=body)
        assert response.status_code == 422, response.text
    assert (await system.api('POST', '/api/rules/import?dry_run=maybe', json=EXPORT)).status_code == 400
    assert (await system.api('GET', '/api/rules')).json() == {'rules': []}


async def test_the_cli_imports_for_the_tenant_named_by_client_key(system: System, tmp_path: Path) -> None:
    export, ids = tmp_path / 'export.json', tmp_path / 'ids.json'
    export.write_text(json.dumps({'rules': _only('Triage new bugs')['rules']}))
    ids.write_text(json.dumps(IDS))
    report = await import_file(
        system.settings, read_export(export, ids), system.sim.client_key, dry_run=False, allow_partial=False
    )
    assert [i.name for i in report.imported] == ['Triage new bugs']
    [rule] = (await system.api('GET', '/api/rules')).json()['rules']
    assert rule['id'] == report.imported[0].id
