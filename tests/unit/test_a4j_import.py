"""The Automation for Jira export mapper over a realistic export (tests/data/a4j_export.json):
the exact rules it maps, the exact report of what it refuses, partial imports, and bodies that
are not exports at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rulequeue.a4j_components import Unmappable, _fixed_rate, _quartz_to_cron
from rulequeue.a4j_import import Dropped, Skipped, plan_import
from rulequeue.errors import Unprocessable

EXPORT = json.loads((Path(__file__).parent.parent / 'data' / 'a4j_export.json').read_text())
IDS = {
    'projects': {'10000': 'PROJ'},
    'statuses': {'10100': 'Triage', '10001': 'To Do'},
    'issuetypes': {'10004': 'Bug'},
    'link_types': {'10200': 'Blocks'},
}
LOG_DELETIONS: dict[str, Any] = {
    'name': 'Log deletions',
    'trigger': {'type': 'issue_deleted'},
    'actions': [{'type': 'log', 'message': '{{issue.key}} deleted'}],
}

MAPPED: list[dict[str, Any]] = [
    {
        'name': 'Triage new bugs',
        'description': 'New bugs are acknowledged, labelled and moved to Triage.',
        'projects': ['PROJ'],
        'trigger': {'type': 'issue_created'},
        'conditions': [{'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Bug'}],
        'actions': [
            {'type': 'comment', 'body': 'Thanks {{initiator.displayName}}, {{issue.key}} is in triage.'},
            {'type': 'edit', 'fields': {'labels': {'add': ['triage']}, 'priority': {'name': 'High'}}},
            {'type': 'transition', 'to': 'Triage'},
        ],
    },
    {
        'name': 'Escalate urgent comments',
        'trigger': {'type': 'issue_commented'},
        'conditions': [
            {'type': 'compare', 'left': '{{comment.body}}', 'op': 'matches', 'right': '(?i)\\burgent\\b'},
            {'type': 'user', 'op': 'is_not', 'account_ids': ['557058:bot']},
        ],
        'actions': [
            {'type': 'edit', 'fields': {'priority': {'name': 'Highest'}}},
            {'type': 'log', 'message': '{{issue.key}} escalated by {{initiator.displayName}}'},
        ],
        'allow_rule_trigger': True,
    },
    {
        'name': 'Reopened work',
        'enabled': False,
        'trigger': {'type': 'issue_transitioned', 'from': 'Done', 'to': 'To Do'},
        'actions': [
            {
                'type': 'if',
                'conditions': [{'type': 'jql', 'jql': 'priority = Highest'}],
                'then': [{'type': 'assign', 'account_id': '557058:lead'}],
                'else': [{'type': 'assign', 'account_id': None}],
            },
            {
                'type': 'if',
                'conditions': [{'type': 'jql', 'jql': 'labels = customer'}],
                'then': [{'type': 'comment', 'body': 'Reopened: a customer is waiting.'}],
            },
        ],
    },
    {
        'name': 'Follow up on resolution',
        'projects': ['PROJ'],
        'trigger': {'type': 'field_value_changed', 'fields': ['Resolution']},
        'conditions': [{'type': 'field', 'field': 'resolution', 'op': 'is_not_empty'}],
        'actions': [
            {
                'type': 'create_issue',
                'project': 'PROJ',
                'issuetype': 'Task',
                'summary': 'Follow up on {{issue.key}}',
                'fields': {'labels': ['follow-up']},
            },
            {'type': 'link_issues', 'link_type': 'Blocks', 'issue': '{{createdIssue.key}}'},
            {'type': 'add_watcher', 'account_id': '557058:qa'},
            {'type': 'create_subtasks', 'summaries': ['Verify {{issue.key}}']},
            {'type': 'refetch'},
            {
                'type': 'web_request',
                'url': 'https://hooks.example.com/resolved',
                'headers': {'X-Source': 'jira'},
                'body': '{"key": "{{issue.key}}"}',
            },
        ],
    },
    {
        'name': 'Weekday stale check',
        'trigger': {'type': 'scheduled', 'cron': '0 9 * * 1-5', 'jql': 'status = Stale'},
        'actions': [{'type': 'comment', 'body': 'Still stale: {{issue.key}}'}],
    },
    {
        'name': 'Hourly sweep',
        'trigger': {'type': 'scheduled', 'cron': '0 */2 * * *', 'jql': 'labels = sweep'},
        'actions': [{'type': 'log', 'message': 'swept {{issue.key}}'}],
    },
    {
        'name': 'Run by hand',
        'trigger': {'type': 'manual'},
        'actions': [{'type': 'log', 'message': 'run by {{initiator.displayName}}'}],
    },
    {
        'name': 'Notify assignee',
        'trigger': {'type': 'issue_assigned', 'jql': 'project = PROJ'},
        'actions': [{'type': 'comment', 'body': 'Assigned to {{issue.assignee.displayName}}.'}],
    },
    LOG_DELETIONS,
]

MAIL_AND_BRANCH = [
    Dropped(type='jira.comparator.condition', reason='operator NOT_CONTAINS has no rulequeue equivalent'),
    Dropped(type='jira.issue.outgoing.email', reason='rulequeue does not send e-mail from rules'),
    Dropped(type='jira.issue.related', reason='rulequeue rules have no branches (split into rules per issue)'),
]
SKIPPED = [
    Skipped(name='Mail and branch', components=MAIL_AND_BRANCH),
    Skipped(
        name='Sprint started',
        components=[Dropped(type='jira.sprint.event.trigger:started', reason='rulequeue has no such trigger')],
    ),
    Skipped(
        name='Unknown project',
        components=[
            Dropped(type='(scope)', reason='project id 99999 has no key: give it in "ids.projects"'),
            Dropped(
                type='jira.issue.comment', reason='an internal (non-public) comment: rulequeue comments are public'
            ),
        ],
    ),
]


def _documents(planned: list[Any]) -> list[dict[str, Any]]:
    return [rule.model_dump(mode='json', by_alias=True, exclude_defaults=True) for rule, _ in planned]


def test_an_export_maps_to_exactly_these_rules_and_this_report() -> None:
    planned, skipped = plan_import({**EXPORT, 'ids': IDS}, allow_partial=False, max_components=65)
    assert _documents(planned) == MAPPED
    assert all(dropped == [] for _, dropped in planned)
    assert skipped == SKIPPED


@pytest.mark.parametrize('expected', MAPPED, ids=[m['name'] for m in MAPPED])
def test_each_mapped_rule(expected: dict[str, Any]) -> None:
    raw = next(r for r in EXPORT['rules'] if r['name'] == expected['name'])
    planned, skipped = plan_import({'rules': [raw], 'ids': IDS}, allow_partial=False, max_components=65)
    assert (_documents(planned), skipped) == ([expected], [])


def test_ids_nobody_named_skip_the_rules_that_use_them() -> None:
    _, skipped = plan_import(EXPORT, allow_partial=False, max_components=65)
    assert [s.name for s in skipped] == [
        'Triage new bugs',
        'Reopened work',
        'Follow up on resolution',
        'Mail and branch',
        'Sprint started',
        'Unknown project',
    ]
    assert skipped[0].components == [
        Dropped(type='(scope)', reason='project id 10000 has no key: give it in "ids.projects"'),
        Dropped(type='jira.issue.condition', reason='issue type id 10004 has no name: give it in "ids.issuetypes"'),
        Dropped(type='jira.issue.transition', reason='status id 10100 has no name: give it in "ids.statuses"'),
    ]


def test_allow_partial_imports_what_it_can_disabled_and_names_what_it_dropped() -> None:
    planned, skipped = plan_import({**EXPORT, 'ids': IDS}, allow_partial=True, max_components=65)
    documents = _documents(planned)
    assert documents[:-1] == MAPPED
    dropped = planned[-1][1]
    assert documents[-1] == {
        'name': 'Mail and branch',
        'enabled': False,
        'trigger': {'type': 'issue_updated'},
        'actions': [{'type': 'log', 'message': 'updated {{issue.key}}'}],
    }
    assert dropped == MAIL_AND_BRANCH
    # An unmappable trigger or scope is never dropped: the rule would do something else.
    assert skipped == SKIPPED[1:]


def test_a_rule_with_nothing_left_to_run_is_not_imported_even_partially() -> None:
    raw = {
        'name': 'Only mail',
        'trigger': {'type': 'jira.issue.event.trigger:created', 'value': {}},
        'components': [{'component': 'ACTION', 'type': 'jira.issue.outgoing.email', 'value': {}}],
    }
    planned, [skipped] = plan_import({'rules': [raw]}, allow_partial=True, max_components=65)
    assert planned == []
    assert skipped.components == [
        Dropped(type='jira.issue.outgoing.email', reason='rulequeue does not send e-mail from rules'),
        Dropped(type='(rule)', reason='actions: List should have at least 1 item after validation, not 0'),
    ]


def test_existing_names_and_component_limits_are_reported() -> None:
    planned, skipped = plan_import(
        {**EXPORT, 'ids': IDS}, allow_partial=False, max_components=3, existing=frozenset({'Log deletions'})
    )
    assert 'Log deletions' not in [rule.name for rule, _ in planned]
    reasons = {s.name: [c.reason for c in s.components] for s in skipped}
    assert reasons['Log deletions'] == ['a rule with this name exists already']
    assert reasons['Follow up on resolution'] == ['/: Value error, a rule has at most 3 components, this one has 8']


@pytest.mark.parametrize(
    'body',
    [[], {'rule': 'x'}, {'rules': 'x'}, {'rules': [1]}, {'name': 'a rule'}, {'rules': [], 'ids': {'projects': [1]}}],
)
def test_a_body_that_is_not_an_export_is_unprocessable(body: Any) -> None:
    with pytest.raises(Unprocessable):
        plan_import(body, allow_partial=False, max_components=65)


def test_one_rule_as_the_cloud_api_returns_it() -> None:
    planned, skipped = plan_import(
        {'rule': next(r for r in EXPORT['rules'] if r['name'] == 'Log deletions'), 'connections': []},
        allow_partial=False,
        max_components=65,
    )
    assert (_documents(planned), skipped) == ([LOG_DELETIONS], [])


@pytest.mark.parametrize(
    ('quartz', 'cron'),
    [('0 0 9 ? * 2-6', '0 9 * * 1-5'), ('0 30 8 1 * ?', '30 8 1 * *'), ('0 0 12 ? * 6#2 *', '0 12 * * 5#2')],
)
def test_quartz_cron_becomes_five_fields(quartz: str, cron: str) -> None:
    assert _quartz_to_cron(quartz) == cron


@pytest.mark.parametrize('quartz', ['30 0 9 * * ?', '0 0 9 ? * 6L', '0 0 9 * * ? 2030', '0 9 * * *'])
def test_quartz_cron_without_a_five_field_equivalent_is_unmappable(quartz: str) -> None:
    with pytest.raises(Unmappable):
        _quartz_to_cron(quartz)


@pytest.mark.parametrize(
    ('rate', 'interval', 'cron'),
    [(15, 60, '*/15 * * * *'), (1, 3600, '0 * * * *'), (6, 3600, '0 */6 * * *'), (1, 86400, '0 0 * * *')],
)
def test_fixed_rates_that_divide_an_hour_or_a_day(rate: int, interval: int, cron: str) -> None:
    assert _fixed_rate(rate, interval) == cron


@pytest.mark.parametrize(
    ('kind', 'value', 'trigger'),
    [
        ('jira.issue.linked', {}, {'type': 'issue_linked'}),
        ('jira.issue.linked', {'linkTypes': ['Blocks']}, {'type': 'issue_linked', 'link_type': 'Blocks'}),
        ('jira.worklog.event:created', {'jql': 'project = OPS'}, {'type': 'worklog_added', 'jql': 'project = OPS'}),
    ],
)
def test_link_and_worklog_triggers(kind: str, value: dict[str, Any], trigger: dict[str, Any]) -> None:
    raw = {'name': 'r', 'trigger': {'type': kind, 'value': value}, 'components': [LOG]}
    planned, skipped = plan_import({'rules': [raw]}, allow_partial=False, max_components=65)
    assert (_documents(planned), skipped) == ([{'name': 'r', 'trigger': trigger, 'actions': [LOG_STEP]}], [])


LOG = {'component': 'ACTION', 'type': 'codebarrel.action.log', 'value': 'x'}
LOG_STEP = {'type': 'log', 'message': 'x'}
