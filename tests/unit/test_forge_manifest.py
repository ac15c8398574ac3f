"""rulequeue forge-manifest (FORGE.md 2 and conformance case 38)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from rulequeue.forge.manifest import ALL_ACTIONS, ALL_TRIGGERS, ROUTES, build_manifest

APP = 'ari:cloud:ecosystem::app/0f2c1c57-1f4e-4b8f-9d1e-6a7b3c2d1e0f'
BASE = 'https://rulequeue.example.com'
RULEQUEUE = str(Path(sys.executable).parent / 'rulequeue')


def _keys(document: dict[str, Any]) -> list[str]:
    modules = document['modules']
    return [m['key'] for kind in modules.values() for m in kind] + [r['key'] for r in document['remotes']]


def test_case_38_scopes_endpoint_auth_and_keys() -> None:
    document = build_manifest(app_id=APP, base_url=BASE + '/')
    assert document['app']['id'] == APP
    assert document['remotes'][0]['baseUrl'] == BASE
    scopes = document['permissions']['scopes']
    assert 'read:app-system-token' in scopes
    assert {'read:jira-work', 'write:jira-work'} <= set(scopes)
    endpoints = {e['key']: e for e in document['modules']['endpoint']}
    for kind in ('trigger', 'scheduledTrigger', 'preUninstall'):
        for module in document['modules'][kind]:
            endpoint = endpoints[module['endpoint']]
            assert endpoint['auth'] == {'appSystemToken': {'enabled': True}}, module
            assert endpoint['remote'] == document['remotes'][0]['key']
    assert {e['route']['path'] for e in endpoints.values()} == set(ROUTES.values())
    for key in _keys(document):
        assert len(key) <= 23
        assert re.fullmatch(r'[a-zA-Z0-9_-]+', key)


@pytest.mark.parametrize(
    ('triggers', 'actions', 'events', 'scopes'),
    [
        (
            {'issue_commented'},
            {'log'},
            ['avi:jira:commented:issue'],
            ['read:app-system-token', 'read:jira-user', 'read:jira-work'],
        ),
        (
            {'issue_transitioned', 'field_value_changed'},
            {'comment'},
            ['avi:jira:updated:issue'],
            ['read:app-system-token', 'read:jira-user', 'read:jira-work', 'write:jira-work'],
        ),
        (
            {'issue_assigned'},
            {'assign'},
            ['avi:jira:assigned:issue'],
            ['read:app-system-token', 'read:jira-user', 'read:jira-work', 'write:jira-work'],
        ),
        (
            {'issue_linked', 'worklog_added'},
            {'log'},
            ['avi:jira:created:issuelink', 'avi:jira:created:worklog'],
            ['read:app-system-token', 'read:jira-user', 'read:jira-work'],
        ),
        (set(), {'web_request'}, [], ['read:app-system-token']),
    ],
)
def test_events_and_scopes_follow_what_is_enabled(
    triggers: set[str], actions: set[str], events: list[str], scopes: list[str]
) -> None:
    document = build_manifest(app_id=APP, base_url=BASE, triggers=triggers, actions=actions)
    modules = {m['key']: m for m in document['modules']['trigger']}
    assert modules.get('rq-jira-events', {}).get('events', []) == events
    assert modules['rq-app-lifecycle']['events'] == ['avi:forge:installed:app', 'avi:forge:upgraded:app']
    assert document['permissions']['scopes'] == scopes


@pytest.mark.parametrize(
    'kwargs',
    [
        {'app_id': 'not-an-ari', 'base_url': BASE},
        {'app_id': APP, 'base_url': 'http://rulequeue.example.com'},
        {'app_id': APP, 'base_url': BASE, 'triggers': {'issue_teleported'}},
        {'app_id': APP, 'base_url': BASE, 'actions': {'format_disk'}},
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r'ARI|https|unknown'):
        build_manifest(**kwargs)


def _type_names(annotated: Any) -> set[str]:
    """The ``type`` literals of a discriminated union such as schemas.rules.Action."""
    union = get_args(annotated)[0]
    return {get_args(model.model_fields['type'].annotation)[0] for model in get_args(union)}


def test_every_trigger_and_action_of_the_rule_schema_is_known() -> None:
    from schemas.rules import Action, Trigger

    assert _type_names(Trigger) == ALL_TRIGGERS
    assert _type_names(Action) <= ALL_ACTIONS


def test_the_cli_writes_a_manifest_file(tmp_path: Path) -> None:
    out = tmp_path / 'manifest.yml'
    result = subprocess.run(
        [RULEQUEUE, 'forge-manifest', '--app-id', APP, '--base-url', BASE, '--actions', 'comment,log', '-o', str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={'PATH': '/usr/bin:/bin'},
    )
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(out.read_text())
    assert document == build_manifest(app_id=APP, base_url=BASE, actions={'comment', 'log'})
    refused = subprocess.run([RULEQUEUE, 'forge-manifest', '--app-id', 'x', '--base-url', BASE], capture_output=True)
    assert refused.returncode == 2
    assert b'ARI' in refused.stderr
