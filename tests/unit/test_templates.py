"""Sandboxed templates (worker/templates.py) over a realistic Jira Cloud REST v2 issue.

ISSUE, make_event and CONTEXT are shared with test_matching and test_edits.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from rulequeue.errors import TemplateError
from schemas.events import WebhookEvent
from worker.templates import (
    MAX_OUTPUT_CHARS,
    MAX_VALUE_OUTPUT_CHARS,
    Rendered,
    build_context,
    lookup,
    render,
    render_value,
)

NOW = datetime(2026, 11, 26, 19, 42, tzinfo=UTC)
REPORTER = {
    'accountId': '5b10a2844c20165700ede21g',
    'displayName': 'Ada Lovelace',
    'emailAddress': 'ada@example.com',
    'active': True,
}
ISSUE: dict[str, Any] = {
    'id': '10042',
    'key': 'PROJ-42',
    'self': 'https://example.atlassian.net/rest/api/2/issue/10042',
    'fields': {
        'summary': 'Login fails on Safari',
        'description': 'Steps: open Safari, log in.',
        'issuetype': {'id': '10004', 'name': 'Bug', 'subtask': False},
        'project': {'id': '10000', 'key': 'PROJ', 'name': 'Project'},
        'status': {
            'id': '3',
            'name': 'In Progress',
            'statusCategory': {'id': 4, 'key': 'indeterminate', 'name': 'In Progress'},
        },
        'priority': {'id': '2', 'name': 'High'},
        'labels': ['frontend', 'Safari'],
        'assignee': {
            'accountId': '712020:aa11',
            'displayName': 'Grace Hopper',
            'emailAddress': 'grace@example.com',
            'active': True,
        },
        'reporter': REPORTER,
        'components': [{'id': '10100', 'name': 'Web'}, {'id': '10101', 'name': 'Auth'}],
        'resolution': None,
        'duedate': '2026-12-01',
        'fixVersions': [],
        'environment': None,
        'watches': {'watchCount': 2, 'isWatching': False},
        'customfield_10010': 'Enterprise',
        'customfield_10020': 3,
        'customfield_10030': {'id': '10200', 'value': 'Gold'},
        'customfield_10040': '',
        'customfield_10050': {},
        'customfield_10060': True,
    },
}


def make_event(
    kind: str = 'jira:issue_created',
    *,
    items: list[dict[str, Any]] | None = None,
    issue: dict[str, Any] | None = None,
    **extra: Any,
) -> WebhookEvent:
    """A webhook body: ``items`` become the changelog; ``extra`` adds top-level keys."""
    body: dict[str, Any] = {
        'timestamp': 1_795_722_120_000,
        'webhookEvent': kind,
        'user': REPORTER,
        'issue': copy.deepcopy(ISSUE if issue is None else issue),
        **extra,
    }
    if items is not None:
        body['changelog'] = {'id': '20001', 'items': items}
    return WebhookEvent.model_validate(body)


CONTEXT = build_context(make_event(), rule_name='Triage new bugs', now=NOW)


@pytest.mark.parametrize(
    ('template', 'text', 'unknown'),
    [
        ('{{issue.key}}', 'PROJ-42', ()),
        ('{{issue.id}}', '10042', ()),
        ('{{issue.self}}', 'https://example.atlassian.net/rest/api/2/issue/10042', ()),
        ('{{issue.fields.summary}}', 'Login fails on Safari', ()),
        ('{{issue.summary}}', 'Login fails on Safari', ()),
        ('{{issue.fields.priority.name}}', 'High', ()),
        ('{{issue.priority.name}}', 'High', ()),
        ('{{issue.priority}}', 'High', ()),
        ('{{issue.assignee}}', 'Grace Hopper', ()),
        ('{{issue.assignee.emailAddress}}', 'grace@example.com', ()),
        ('{{issue.project.key}}', 'PROJ', ()),
        ('{{issue.status.statusCategory.key}}', 'indeterminate', ()),
        ('{{issue.customfield_10010}}', 'Enterprise', ()),
        ('{{issue.fields.customfield_10020}}', '3', ()),
        ('{{issue.customfield_10030}}', 'Gold', ()),
        ('{{issue.customfield_10060}}', 'true', ()),
        ('{{issue.issuetype.subtask}}', 'false', ()),
        ('{{issue.components.0.name}}', 'Web', ()),
        ('{{issue.fields.components.1.name}}', 'Auth', ()),
        ('{{issue.components}}', 'Web, Auth', ()),
        ('{{issue.labels}}', 'frontend, Safari', ()),
        ('{{issue.labels.1}}', 'Safari', ()),
        ('{{issue.duedate}}', '2026-12-01', ()),
        ('{{issue.watches}}', '{"isWatching":false,"watchCount":2}', ()),
        ('{{issue.resolution}}', '', ()),
        ('{{issue.fixVersions}}', '', ()),
        ('{{issue}}', 'PROJ-42', ()),
        ('{{initiator.displayName}}', 'Ada Lovelace', ()),
        ('{{initiator.accountId}}', '5b10a2844c20165700ede21g', ()),
        ('{{rule.name}}', 'Triage new bugs', ()),
        ('{{now}}', '2026-11-26T19:42:00Z', ()),
        ('{{ issue.key }}', 'PROJ-42', ()),
        ('{{\tissue.key  }}', 'PROJ-42', ()),
        (
            'Thanks {{initiator.displayName}}, {{issue.key}} is in triage.',
            'Thanks Ada Lovelace, PROJ-42 is in triage.',
            (),
        ),
        ('plain text', 'plain text', ()),
        ('', '', ()),
        ('a } b { c }}', 'a } b { c }}', ()),
        ('{{issue.nope}}', '', ('issue.nope',)),
        ('{{issue.labels.2}}', '', ('issue.labels.2',)),
        ('{{issue.Customfield_10010}}', 'Enterprise', ()),
        ('{{issue.__class__}}', '', ('issue.__class__',)),
        ('{{issue.key.upper}}', '', ('issue.key.upper',)),
        ('{{issue.fields.__dict__}}', '', ('issue.fields.__dict__',)),
        ('{{issue.summary.__len__}}', '', ('issue.summary.__len__',)),
        ('{{issue.labels.count}}', '', ('issue.labels.count',)),
        ('{{comment.body}}', '', ('comment.body',)),
        ('{{x}}-{{x}}-{{issue.key}}-{{y}}', '--PROJ-42-', ('x', 'y')),
    ],
)
def test_render(template: str, text: str, unknown: tuple[str, ...]) -> None:
    assert render(template, CONTEXT) == Rendered(text, unknown)


@pytest.mark.parametrize(
    ('template', 'position'),
    [
        ('{{issue.key', 0),
        ('Hello {{issue.key', 6),
        ('{{issue.key}} and {{issue.id', 18),
        ('{{}}', 0),
        ('x {{   }}', 2),
        ('{{issue..key}}', 8),
        ('{{issue.key.}}', 12),
        ('{{issue.key()}}', 8),
        ("{{issue['key']}}", 8),
        ('ok {{issue.key}} {{issue.labels.get(}}', 36),
        ('{{ {{issue.key}} }}', 3),
        ('{{issue.key|}}', 12),
    ],
)
def test_syntax_errors_carry_the_position(template: str, position: int) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, CONTEXT)
    assert caught.value.position == position
    assert caught.value.template == template


def test_names_may_contain_spaces_and_brackets_and_are_then_unknown() -> None:
    assert render('{{issue key}} {{issue.labels[0]}}', CONTEXT) == Rendered(' ', ('issue key', 'issue.labels[0]'))


def test_syntax_error_message_does_not_quote_issue_data() -> None:
    with pytest.raises(TemplateError) as caught:
        render('{{issue.summary}} {{oops', CONTEXT)
    assert 'Login fails' not in str(caught.value)
    assert str(caught.value) == 'unclosed "{{" at position 18'


def test_output_at_the_cap_renders() -> None:
    assert len(render('x' * MAX_OUTPUT_CHARS, CONTEXT).text) == MAX_OUTPUT_CHARS


def test_literal_output_over_the_cap_raises() -> None:
    with pytest.raises(TemplateError, match='output over'):
        render('x' * (MAX_OUTPUT_CHARS + 1), CONTEXT)


def test_substituted_output_over_the_cap_raises_at_the_placeholder() -> None:
    context = {'issue': {'fields': {'summary': 'y' * 20_000}}}
    with pytest.raises(TemplateError) as caught:
        render('{{issue.summary}} {{issue.summary}}', context)
    assert caught.value.position == 18


def test_python_objects_in_the_context_are_not_reached() -> None:
    class Secret:
        token = 'hunter2'

        def __str__(self) -> str:
            raise AssertionError('__str__ must not run')

    context = {'obj': Secret(), 'items': (1, 2)}
    assert render('{{obj}}|{{obj.token}}|{{items.0}}', context) == Rendered('||', ('obj.token', 'items.0'))


def test_issue_data_is_never_rendered_as_a_template() -> None:
    context = {'issue': {'fields': {'summary': '{{rule.name}} {{oops'}}, 'rule': {'name': 'secret'}}
    assert render('{{issue.summary}}', context) == Rendered('{{rule.name}} {{oops', ())


def test_escape_applies_to_substituted_values_only() -> None:
    assert render('^{{issue.summary}}.*$', CONTEXT, escape=re.escape).text == r'^Login\ fails\ on\ Safari.*$'


@pytest.mark.parametrize(
    ('path', 'expected'),
    [
        ('issue.key', (True, 'PROJ-42')),
        ('issue.summary', (True, 'Login fails on Safari')),
        ('issue.fields.summary', (True, 'Login fails on Safari')),
        ('issue.resolution', (True, None)),
        ('issue.components.1.id', (True, '10101')),
        ('issue.nope', (False, None)),
        ('issue.fields.nope', (False, None)),
        ('issue.labels.\u00b2', (False, None)),
        ('issue.labels.99999999999999999999999', (False, None)),
        ('issue.labels.' + '9' * 5000, (False, None)),
        ('rule.name', (True, 'Triage new bugs')),
        ('now', (True, '2026-11-26T19:42:00Z')),
        ('', (False, None)),
    ],
)
def test_lookup(path: str, expected: tuple[bool, Any]) -> None:
    assert lookup(CONTEXT, path) == expected


def test_lookup_prefers_the_top_level_over_fields() -> None:
    context = {'issue': {'id': '1', 'fields': {'id': 'field'}}}
    assert lookup(context, 'issue.id') == (True, '1')


@pytest.mark.parametrize(
    ('value', 'expected', 'unknown'),
    [
        ({'name': '{{issue.priority.name}}'}, {'name': 'High'}, ()),
        (['{{issue.key}}', 3, None, True, 2.5], ['PROJ-42', 3, None, True, 2.5], ()),
        ({'a': [{'b': '{{issue.nope}}'}, '{{issue.nope}}']}, {'a': [{'b': ''}, '']}, ('issue.nope',)),
        ({'{{issue.key}}': 'x'}, {'{{issue.key}}': 'x'}, ()),
        ('{{issue.labels}}', 'frontend, Safari', ()),
        (7, 7, ()),
    ],
)
def test_render_value(value: Any, expected: Any, unknown: tuple[str, ...]) -> None:
    original = copy.deepcopy(value)
    assert render_value(value, CONTEXT) == (expected, unknown)
    assert value == original


def test_render_value_bounds_the_total_output() -> None:
    context = {'issue': {'fields': {'summary': 'y' * 30_000}}}
    count = MAX_VALUE_OUTPUT_CHARS // 30_000 + 1
    with pytest.raises(TemplateError, match='output over'):
        render_value(['{{issue.summary}}'] * count, context)


def test_render_value_raises_on_a_syntax_error() -> None:
    with pytest.raises(TemplateError) as caught:
        render_value({'summary': 'x {{issue.key'}, CONTEXT)
    assert caught.value.position == 2


def test_context_is_plain_json() -> None:
    assert json.loads(json.dumps(CONTEXT)) == CONTEXT
    assert CONTEXT['issue'] == ISSUE
    assert CONTEXT['comment'] == {}
    assert CONTEXT['rule'] == {'name': 'Triage new bugs'}


def test_comment_created_has_the_comment_author_as_initiator() -> None:
    event = make_event(
        'comment_created',
        user=None,
        comment={'id': '300', 'body': 'This is URGENT', 'author': {'accountId': 'u-9', 'displayName': 'Bo'}},
    )
    context = build_context(event, rule_name='r', now=NOW)
    assert render('{{initiator.displayName}}: {{comment.body}}', context).text == 'Bo: This is URGENT'


def test_comment_updated_has_the_update_author_as_initiator() -> None:
    event = make_event(
        'comment_updated',
        user=None,
        comment={
            'body': 'edited',
            'author': {'displayName': 'Bo'},
            'updateAuthor': {'displayName': 'Cy'},
        },
    )
    assert build_context(event, rule_name='r', now=NOW)['initiator'] == {'displayName': 'Cy'}


def test_no_user_means_an_unknown_initiator() -> None:
    context = build_context(make_event(user=None), rule_name='r', now=NOW)
    assert render('{{initiator.displayName}}', context) == Rendered('', ('initiator.displayName',))


def test_user_fields_jira_did_not_send_are_unknown() -> None:
    context = build_context(make_event(user={'accountId': 'u-1'}), rule_name='r', now=NOW)
    assert context['initiator'] == {'accountId': 'u-1'}
    assert render('{{initiator.displayName}}', context) == Rendered('', ('initiator.displayName',))


@pytest.mark.parametrize(
    ('now', 'expected'),
    [
        (datetime(2026, 11, 26, 19, 42, 5, 999_000, tzinfo=UTC), '2026-11-26T19:42:05Z'),
        (datetime(2026, 11, 26, 21, 42, tzinfo=timezone(timedelta(hours=2))), '2026-11-26T19:42:00Z'),
        (datetime(2026, 11, 26, 19, 42), '2026-11-26T19:42:00Z'),
    ],
)
def test_now_is_iso_8601_utc(now: datetime, expected: str) -> None:
    assert build_context(make_event(), rule_name='r', now=now)['now'] == expected
