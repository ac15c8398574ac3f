"""Smart values, table-driven: tests/data/smartvalues.yaml holds the cases.

Each case names a template ``t`` and either the expected text ``out`` (with the ``unknown``
paths, none by default) or an ``error`` with its ``position`` (and a ``message`` fragment). The
context is built from a named fixture issue (``issue:``, ``bug`` by default) with a fixed
``now``, so date cases are deterministic.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from rulequeue.errors import TemplateError
from rulequeue.store.tenants import Tenant
from schemas.audit import ActionStatus
from schemas.rules import CommentAction
from tests.unit.test_templates import ISSUE, make_event
from worker.actions import Target, run_action
from worker.jira import JiraClient
from worker.smartvalues import Limits, Rendered, build_context, render

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent.parent / 'data' / 'smartvalues.yaml').read_text())
NOW = datetime(2026, 11, 26, 19, 42, 5, tzinfo=UTC)  # a Thursday

BUG = copy.deepcopy(ISSUE)
BUG['fields'] |= {
    'created': '2026-11-20T09:15:30.000+0000',
    'updated': '2026-11-25T17:00:00.000+0100',
    'customfield_10070': 2.5,
    'customfield_10080': ['alpha', 'beta', 'gamma'],
    'subtasks': [
        {'id': '10043', 'key': 'PROJ-43', 'fields': {'summary': 'Reproduce', 'status': {'name': 'Done'}}},
        {'id': '10044', 'key': 'PROJ-44', 'fields': {'summary': 'Fix', 'status': {'name': 'To Do'}}},
    ],
}
BUG['names'] = {'customfield_10010': 'Customer Tier', 'customfield_10020': 'Story Points'}
STORY: dict[str, Any] = {
    'id': '20001',
    'key': 'OPS-7',
    'self': 'https://ops.atlassian.net/rest/api/2/issue/20001',
    'fields': {
        'summary': '  padded title  ',
        'issuetype': {'name': 'Story'},
        'labels': [],
        'components': [],
        'duedate': None,
        'customfield_10016': 8.0,
        'customfield_10099': 'Platform',
        'description': None,
    },
}
ISSUES = {'bug': BUG, 'story': STORY}
FIELD_NAMES = {'customfield_10099': 'Owning Team'}


def _context(issue_name: str) -> dict[str, Any]:
    event = make_event(
        'jira:issue_updated',
        issue=ISSUES[issue_name],
        items=[
            {
                'field': 'status',
                'fieldId': 'status',
                'from': '1',
                'fromString': 'To Do',
                'to': '3',
                'toString': 'In Progress',
            },
            {'field': 'labels', 'fieldId': 'labels', 'fromString': 'frontend', 'toString': 'frontend Safari'},
        ],
        comment={'id': '300', 'body': 'Please look at this', 'author': {'displayName': 'Bo Builder'}},
    )
    return build_context(event, rule_name='Triage new bugs', now=NOW, field_names=FIELD_NAMES)


def _id(case: dict[str, Any]) -> str:
    return str(case['t'])[:60]


OUTPUTS = [c for c in CASES if 'error' not in c]
ERRORS = [c for c in CASES if 'error' in c]


def test_the_table_is_big_enough() -> None:
    assert len(OUTPUTS) >= 150
    assert len(ERRORS) >= 15


@pytest.mark.parametrize('case', OUTPUTS, ids=_id)
def test_renders(case: dict[str, Any]) -> None:
    rendered = render(case['t'], _context(case.get('issue', 'bug')))
    assert rendered == Rendered(str(case['out']), tuple(case.get('unknown', ())))


@pytest.mark.parametrize('case', ERRORS, ids=_id)
def test_errors_carry_template_and_position(case: dict[str, Any]) -> None:
    with pytest.raises(TemplateError) as caught:
        render(case['t'], _context(case.get('issue', 'bug')))
    assert caught.value.template == case['t']
    assert caught.value.position == case['error']
    assert case['message'] in str(caught.value)


def test_steps_are_bounded() -> None:
    context = _context('bug')
    template = '{{#issue.customfield_10080}}{{#issue.customfield_10080}}{{.}}{{/}}{{/}}'
    assert render(template, context).text == 'alphabetagamma' * 3
    with pytest.raises(TemplateError, match='evaluation over 15 steps') as caught:
        render(template, context, limits=Limits(max_steps=15))
    assert caught.value.position == 56  # the {{.}} of the second outer item's first inner item


def test_time_is_bounded() -> None:
    context = {'issue': {'fields': {'summary': 'a' * 5000 + '!'}}}
    # A catastrophically backtracking pattern: the regex call itself is cut off.
    with pytest.raises(TemplateError, match='timed out') as caught:
        render('{{issue.summary.replaceAll("(a|aa)+$", "x")}}', context, limits=Limits(timeout_seconds=0.05))
    assert caught.value.position == 16


def test_nesting_is_bounded() -> None:
    template = '{{#issue}}' * 3 + '{{/}}' * 3
    assert render(template, _context('bug'), limits=Limits(max_depth=3)).text == ''
    with pytest.raises(TemplateError, match='nested deeper than 2') as caught:
        render(template, _context('bug'), limits=Limits(max_depth=2))
    assert caught.value.position == 20


def test_a_function_result_is_bounded_like_the_output() -> None:
    context = {'issue': {'fields': {'summary': 'x' * 600}}}
    template = '{{issue.summary.concat(issue.summary)}}'
    assert len(render(template, context, limits=Limits(max_output_chars=1200)).text) == 1200
    with pytest.raises(TemplateError, match='output over 1000') as caught:
        render(template, context, limits=Limits(max_output_chars=1000))
    assert caught.value.position == 16


def test_python_objects_are_never_called() -> None:
    class Trap:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f'attribute {name} read')

        def __str__(self) -> str:
            raise AssertionError('__str__ ran')

    context = {'issue': {'fields': {'x': Trap()}}}
    rendered = render('{{issue.x}}|{{issue.x.upper}}|{{issue.x.toUpperCase()}}', context)
    assert rendered == Rendered('||', ('issue.x.upper',))


async def test_a_template_error_fails_the_action_with_template_and_position() -> None:
    def no_call(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f'no Jira call expected, got {request.method} {request.url}')

    async with httpx.AsyncClient(transport=httpx.MockTransport(no_call)) as http:
        jira = JiraClient(http, app_key='rulequeue', timeout=1)
        tenant = Tenant('ck', 'https://example.atlassian.net', 'installed', SecretStr('s' * 32))
        action = CommentAction(type='comment', body='Hi {{issue.summary.nosuch()}}')
        result = await run_action(Target(jira, tenant, 'PROJ-42'), 0, action, _context('bug'))
    assert result.status is ActionStatus.FAILED
    assert result.message == (
        "template error: nosuch: unknown function 'nosuch' at position 19 in template 'Hi {{issue.summary.nosuch()}}'"
    )
