"""JQL, table-driven: tests/data/jql.yaml holds the cases (see its header).

Every case that parses is also written back with to_jql and parsed again to the same tree, so
the renderer (used for ``key = X AND (…)``) never changes a query's meaning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from rulequeue import constants
from rulequeue.errors import JqlError
from rulequeue.jql import JqlContext, evaluate_locally, parse, restrict_to_issue, to_jql
from tests.unit.test_smartvalues import FIELD_NAMES, ISSUES

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent.parent / 'data' / 'jql.yaml').read_text())
EVALUATED = [c for c in CASES if 'expect' in c]
ERRORS = [c for c in CASES if 'error' in c]
CONTEXT = JqlContext(
    now=datetime(2026, 11, 26, 19, 42, 5, tzinfo=UTC), current_user='712020:aa11', field_names=FIELD_NAMES
)


def _id(case: dict[str, Any]) -> str:
    return str(case['jql'])[:70]


def test_the_table_is_big_enough() -> None:
    assert len(EVALUATED) >= 120
    assert len(ERRORS) >= 20
    assert {c['expect'] for c in EVALUATED} == {True, False, None}


@pytest.mark.parametrize('case', EVALUATED, ids=_id)
def test_evaluates(case: dict[str, Any]) -> None:
    query = parse(case['jql'])
    assert evaluate_locally(query, ISSUES[case.get('issue', 'bug')], CONTEXT) is case['expect']


@pytest.mark.parametrize('case', EVALUATED, ids=_id)
def test_renders_back_to_the_same_query(case: dict[str, Any]) -> None:
    query = parse(case['jql'])
    text = to_jql(query)
    if 'render' in case:
        assert text == case['render']
    assert parse(text) == query


@pytest.mark.parametrize('case', ERRORS, ids=_id)
def test_parse_errors_carry_the_position(case: dict[str, Any]) -> None:
    with pytest.raises(JqlError) as caught:
        parse(case['jql'])
    assert caught.value.position == case['error']
    assert caught.value.jql == case['jql']
    assert case['message'] in caught.value.message


@pytest.mark.parametrize(
    ('jql', 'expected'),
    [
        ('project = PROJ OR labels = x ORDER BY key', 'key = PROJ-42 AND (project = PROJ OR labels = x)'),
        ('summary ~ "a \\"b\\""', 'key = PROJ-42 AND (summary ~ "a \\"b\\"")'),
        ('ORDER BY created', 'key = PROJ-42'),
    ],
)
def test_restrict_to_issue_wraps_the_query(jql: str, expected: str) -> None:
    assert restrict_to_issue(parse(jql), 'PROJ-42') == expected


def test_long_and_deep_queries_are_refused() -> None:
    with pytest.raises(JqlError, match='longer than'):
        parse('summary ~ "' + 'a' * constants.JQL_MAX_CHARS + '"')
    depth = constants.JQL_MAX_DEPTH + 1
    with pytest.raises(JqlError, match='nested deeper') as caught:
        parse('(' * depth + 'a = 1' + ')' * depth)
    assert caught.value.position == constants.JQL_MAX_DEPTH  # the 51st "("


def test_current_user_unknown_leaves_the_clause_to_jira() -> None:
    context = JqlContext(now=CONTEXT.now)
    assert evaluate_locally(parse('assignee = currentUser()'), ISSUES['bug'], context) is None
