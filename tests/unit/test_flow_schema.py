"""The branch and delay components in the rule document: shape, nesting, bounds and counting."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.rules import Rule, count_components
from worker.flow import find_step

LOG = {'type': 'log', 'message': 'x'}
IF = {'type': 'if', 'conditions': [{'type': 'field', 'field': 'labels', 'op': 'is_empty'}], 'then': [LOG]}


def _rule(*actions: dict[str, Any], **context: int) -> Rule:
    document = {'name': 'r', 'trigger': {'type': 'issue_created'}, 'actions': list(actions)}
    return Rule.model_validate(document, context=context or None)


def test_components_inside_a_branch_count_toward_the_limit() -> None:
    branch = {'type': 'branch', 'over': 'subtasks', 'conditions': IF['conditions'], 'actions': [LOG, IF]}
    rule = _rule(LOG, {'type': 'delay', 'seconds': 5}, branch)
    # log, delay, then the branch (1) + its condition (1) + log (1) + if (1 + 1 condition + 1 log).
    assert count_components(rule.actions) == 8
    _rule(LOG, {'type': 'delay', 'seconds': 5}, branch, max_components=9)
    with pytest.raises(ValidationError, match='at most 8 components, this one has 9'):
        _rule(LOG, {'type': 'delay', 'seconds': 5}, branch, max_components=8)


@pytest.mark.parametrize(
    ('step', 'message'),
    [
        (
            {'type': 'branch', 'over': 'subtasks', 'actions': [{'type': 'branch', 'over': 'parent', 'actions': [LOG]}]},
            'cannot sit inside a branch',
        ),
        (
            {'type': 'branch', 'over': 'subtasks', 'actions': [{**IF, 'then': [{'type': 'delay', 'seconds': 1}]}]},
            'cannot sit inside a branch',
        ),
        ({'type': 'branch', 'over': 'jql', 'actions': [LOG]}, '"jql" is given exactly'),
        ({'type': 'branch', 'over': 'subtasks', 'jql': 'labels = x', 'actions': [LOG]}, '"jql" is given exactly'),
        ({'type': 'branch', 'over': 'parent', 'link_type': 'blocks', 'actions': [LOG]}, '"link_type" is for'),
        ({'type': 'branch', 'over': 'jql', 'jql': 'labels = = x', 'actions': [LOG]}, 'invalid JQL'),
        ({'type': 'branch', 'over': 'subtasks', 'actions': []}, 'at least 1 item'),
        ({'type': 'delay', 'seconds': 0}, 'greater than or equal to 1'),
        ({'type': 'delay', 'seconds': 3601}, 'less than or equal to 3600'),
    ],
)
def test_bad_flow_components_are_refused(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _rule(step)


def test_a_delay_is_bounded_by_the_deployment() -> None:
    _rule({'type': 'delay', 'seconds': 900}, max_delay_seconds=900)
    with pytest.raises(ValidationError, match='at most 900 seconds'):
        _rule({**IF, 'then': [{'type': 'delay', 'seconds': 901}]}, max_delay_seconds=900)


def test_a_templated_jql_is_checked_when_rendered() -> None:
    _rule({'type': 'branch', 'over': 'jql', 'jql': 'parent = {{issue.key}}', 'actions': [LOG]})


def test_find_step_follows_if_paths() -> None:
    branch = {'type': 'branch', 'over': 'parent', 'actions': [LOG]}
    rule = _rule(LOG, {**IF, 'then': [LOG], 'else': [branch]})
    assert find_step(rule.actions, '1.else.0').type == 'branch'
    assert find_step(rule.actions, '0').type == 'log'
    for missing in ('2', '1.then.3', '0.then.0', '1.other.0', 'x'):
        assert find_step(rule.actions, missing) is None
