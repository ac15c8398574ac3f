"""JQL in rules: the schema refuses bad queries with their position; the worker decides each check
on the snapshot when it can and with exactly one search when it cannot (worker/jql_checks.py).

The search here is a recording stand-in for Jira's; the signed search itself runs against the
simulator in tests/e2e/test_jql_rules.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from rulequeue.errors import PermanentJiraError, TransientJiraError
from rulequeue.jql import JqlContext
from schemas.rules import Condition, JqlCondition, Rule
from tests.unit.test_templates import CONTEXT, ISSUE, NOW, make_event
from worker.jql_checks import JIRA_SEARCH, LOCAL, JqlCheck, check_jql, evaluate_all, jql_notes, restricted

CONDITIONS: TypeAdapter[list[Condition]] = TypeAdapter(list[Condition])
JQL_CONTEXT = JqlContext(now=NOW)
LOG = [{'type': 'log', 'message': 'hit'}]


def rule(**parts: Any) -> dict[str, Any]:
    return {'name': 'r', 'trigger': {'type': 'issue_updated'}, 'actions': LOG, **parts}


class Search:
    """Jira's search as the worker sees it: records each query and answers ``answer``."""

    def __init__(self, answer: bool = True, error: Exception | None = None) -> None:
        self.answer = answer
        self.error = error
        self.queries: list[str] = []

    async def __call__(self, jql: str) -> bool:
        self.queries.append(jql)
        if self.error is not None:
            raise self.error
        return self.answer


# -- the schema ------------------------------------------------------------------------------


def test_jql_condition_and_a_filter_on_every_trigger_type_are_accepted() -> None:
    triggers = [
        {'type': 'issue_created'},
        {'type': 'issue_updated'},
        {'type': 'field_value_changed', 'fields': ['priority']},
        {'type': 'issue_transitioned', 'to': 'Done'},
        {'type': 'issue_commented'},
        {'type': 'issue_assigned'},
        {'type': 'issue_deleted'},
    ]
    jql = 'project = OPS AND labels = customer'
    for trigger in triggers:
        parsed = Rule.model_validate(rule(trigger={**trigger, 'jql': jql}))
        assert parsed.trigger.jql == jql
    plain = Rule.model_validate(rule(conditions=[{'type': 'jql', 'jql': 'priority in (High, Highest)'}]))
    assert plain.trigger.jql is None
    assert plain.conditions == [JqlCondition(type='jql', jql='priority in (High, Highest)')]


@pytest.mark.parametrize(
    ('document', 'path', 'message'),
    [
        (
            rule(trigger={'type': 'issue_updated', 'jql': 'project = OPS AND'}),
            'trigger/issue_updated/jql',
            'unexpected end of query at position 17',
        ),
        (
            rule(conditions=[{'type': 'jql', 'jql': 'labels in (a, b'}]),
            'conditions/0/jql/jql',
            'unclosed "(" at position 10',
        ),
        (
            rule(conditions=[{'type': 'jql', 'jql': 'status was Done'}]),
            'conditions/0/jql/jql',
            'the WAS operator is not supported at position 7',
        ),
        (rule(conditions=[{'type': 'jql', 'jql': ''}]), 'conditions/0/jql/jql', 'at least 1 character'),
        (rule(trigger={'type': 'issue_created', 'jql': 'a = b)'}), 'trigger/issue_created/jql', 'position 5'),
    ],
)
def test_a_bad_query_is_refused_with_its_path_and_position(document: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate(document)
    errors = [('/'.join(str(p) for p in e['loc']), e['msg']) for e in caught.value.errors()]
    assert len(errors) == 1
    assert errors[0][0] == path
    assert message in errors[0][1]


# -- local or Jira ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('jql', 'matched'),
    [
        ('project = PROJ AND labels = frontend', True),
        ('project = OPS', False),
        # Decided locally although one clause cannot be: AND with a false part is false...
        ('project = OPS AND assignee in membersOf("jira-admins")', False),
        # ...and OR with a true part is true.
        ('priority = High OR assignee in membersOf("jira-admins")', True),
        ('labels = frontend ORDER BY created DESC', True),
    ],
)
async def test_a_query_the_snapshot_decides_makes_no_search(jql: str, matched: bool) -> None:
    search = Search()
    check = await check_jql(jql, ISSUE, JQL_CONTEXT, search)
    assert check == JqlCheck(matched, LOCAL)
    assert check.describe('trigger') == f'trigger jql: local, {"matched" if matched else "not matched"}'
    assert search.queries == []


@pytest.mark.parametrize(
    ('jql', 'sent'),
    [
        ('assignee in membersOf("jira-admins")', 'key = PROJ-42 AND (assignee IN (membersOf(jira-admins)))'),
        # A custom field by display name: the webhook carries no names, Jira knows them.
        ('Team = Platform AND priority = High', 'key = PROJ-42 AND (Team = Platform AND priority = High)'),
        ('assignee = currentUser()', 'key = PROJ-42 AND (assignee = currentUser())'),
    ],
)
@pytest.mark.parametrize('answer', [True, False])
async def test_an_undecided_query_is_one_search_restricted_to_the_issue(jql: str, sent: str, answer: bool) -> None:
    search = Search(answer)
    check = await check_jql(jql, ISSUE, JQL_CONTEXT, search)
    assert check == JqlCheck(answer, JIRA_SEARCH)
    assert check.describe('trigger') == f'trigger jql: jira search, {"matched" if answer else "not matched"}'
    assert search.queries == [sent]


async def test_current_user_is_decided_locally_once_the_app_user_is_known() -> None:
    search = Search()
    knowing = JqlContext(now=NOW, current_user='712020:aa11')
    assert await check_jql('assignee = currentUser()', ISSUE, knowing, search) == JqlCheck(True, LOCAL)
    assert search.queries == []


def test_a_query_our_parser_refuses_is_sent_to_jira_as_written() -> None:
    # Only a rule saved under an older parser gets here: Jira, not a guess, decides.
    assert restricted('status WAS Done', 'PROJ-42') == 'key = PROJ-42 AND (status WAS Done)'
    assert restricted('labels = "a b"', 'PROJ-42') == 'key = PROJ-42 AND (labels = "a b")'


async def test_conditions_search_only_when_reached_and_go_on_after_a_match() -> None:
    conditions = CONDITIONS.validate_python(
        [
            {'type': 'field', 'field': 'issuetype', 'op': 'equals', 'value': 'Bug'},
            {'type': 'jql', 'jql': 'project = PROJ'},
            {'type': 'jql', 'jql': 'assignee in membersOf("jira-admins")'},
            {'type': 'field', 'field': 'labels', 'op': 'contains', 'value': 'frontend'},
        ]
    )
    search = Search(True)
    outcomes = await evaluate_all(conditions, make_event(), CONTEXT, JQL_CONTEXT, search)
    assert [(o.index, o.passed, o.description) for o in outcomes] == [
        (1, True, "condition 1: issuetype equals 'Bug' -> met"),
        (2, True, 'condition 2 jql: local, matched'),
        (3, True, 'condition 3 jql: jira search, matched'),
        (4, True, "condition 4: labels contains 'frontend' -> met"),
    ]
    assert search.queries == ['key = PROJ-42 AND (assignee IN (membersOf(jira-admins)))']
    assert jql_notes(conditions, outcomes) == [
        'condition 2 jql: local, matched',
        'condition 3 jql: jira search, matched',
    ]

    refusing = Search(False)
    outcomes = await evaluate_all(conditions, make_event(), CONTEXT, JQL_CONTEXT, refusing)
    assert [(o.passed, o.description) for o in outcomes][2:] == [(False, 'condition 3 jql: jira search, not matched')]
    assert len(outcomes) == 3
    assert len(refusing.queries) == 1

    # A condition that fails first means no search at all.
    failing_first = [CONDITIONS.validate_python([{'type': 'jql', 'jql': 'project = OPS'}])[0], *conditions[2:]]
    untouched = Search()
    outcomes = await evaluate_all(failing_first, make_event(), CONTEXT, JQL_CONTEXT, untouched)
    assert [o.description for o in outcomes] == ['condition 1 jql: local, not matched']
    assert untouched.queries == []


async def test_jira_failures_keep_their_kind_and_name_the_check() -> None:
    conditions = CONDITIONS.validate_python([{'type': 'jql', 'jql': 'Teem = Platform'}])
    refused = PermanentJiraError('Jira answered 400: Field Teem does not exist', method='POST', path='/s', status=400)
    with pytest.raises(PermanentJiraError) as caught:
        await evaluate_all(conditions, make_event(), CONTEXT, JQL_CONTEXT, Search(error=refused))
    assert str(caught.value) == 'condition 1 jql: jira search refused: Jira answered 400: Field Teem does not exist'
    assert caught.value.status == 400
    busy = TransientJiraError('Jira answered 429', method='POST', path='/s', status=429, retry_after=3.0)
    with pytest.raises(TransientJiraError) as transient:
        await check_jql('Teem = Platform', ISSUE, JQL_CONTEXT, Search(error=busy))
    assert transient.value is busy
