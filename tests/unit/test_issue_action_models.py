"""Validation of the create_issue, create_subtasks, link_issues, add_watcher and refetch actions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.issue_actions import CreateIssueAction, CreateSubtasksAction
from schemas.rules import Rule


def _rule(action: dict[str, Any]) -> Rule:
    return Rule.model_validate({'name': 'r', 'trigger': {'type': 'issue_created'}, 'actions': [action]})


def test_valid_actions_parse_into_their_models() -> None:
    create = _rule(
        {
            'type': 'create_issue',
            'project': 'OPS',
            'issuetype': 'Task',
            'summary': 'Follow up on {{issue.key}}',
            'fields': {'labels': ['x']},
            'properties': {'origin.ref': {'key': '{{issue.key}}'}},
        }
    ).actions[0]
    assert isinstance(create, CreateIssueAction)
    assert create.fields == {'labels': ['x']}
    subtasks = _rule({'type': 'create_subtasks', 'summaries': ['a', 'b']}).actions[0]
    assert isinstance(subtasks, CreateSubtasksAction)
    assert subtasks.issuetype == 'Sub-task'
    link = _rule({'type': 'link_issues', 'link_type': 'Relates', 'issue': '{{createdIssue.key}}'}).actions[0]
    assert link.model_dump() == {'type': 'link_issues', 'link_type': 'Relates', 'issue': '{{createdIssue.key}}'}
    assert _rule({'type': 'add_watcher', 'account_id': '{{initiator.accountId}}'}).actions[0].type == 'add_watcher'
    assert _rule({'type': 'refetch'}).actions[0].type == 'refetch'


@pytest.mark.parametrize(
    ('action', 'message'),
    [
        ({'type': 'create_issue', 'project': 'OPS', 'issuetype': 'Task'}, 'summary'),
        ({'type': 'create_issue', 'project': '', 'issuetype': 'Task', 'summary': 's'}, 'project'),
        (
            {'type': 'create_issue', 'project': 'OPS', 'issuetype': 'Task', 'summary': 's', 'fields': {'summary': 'x'}},
            'summary: set by the action itself',
        ),
        (
            {'type': 'create_issue', 'project': 'P', 'issuetype': 'Task', 'summary': 's', 'fields': {'parent': {}}},
            'parent: set by the action itself',
        ),
        (
            {'type': 'create_issue', 'project': 'P', 'issuetype': 'T', 'summary': 's', 'properties': {'a b': 1}},
            'is not an entity property key',
        ),
        (
            {
                'type': 'create_issue',
                'project': 'P',
                'issuetype': 'T',
                'summary': 's',
                'properties': {'rulequeue.action': 1},
            },
            'set by rulequeue',
        ),
        ({'type': 'create_issue', 'project': 'P', 'issuetype': 'T', 'summary': 's', 'sumary': 's'}, 'sumary'),
        ({'type': 'create_subtasks', 'summaries': []}, 'summaries'),
        ({'type': 'create_subtasks', 'summaries': ['s'] * 51}, 'at most 50'),
        ({'type': 'create_subtasks', 'summaries': ['ok', '']}, 'summaries.1'),
        ({'type': 'link_issues', 'link_type': 'Blocks'}, 'issue'),
        ({'type': 'link_issues', 'link_type': '', 'issue': 'PROJ-1'}, 'link_type'),
        ({'type': 'add_watcher'}, 'account_id'),
        ({'type': 'add_watcher', 'account_id': ''}, 'account_id'),
        ({'type': 'refetch', 'fields': ['summary']}, 'fields'),
    ],
)
def test_invalid_actions_are_refused_with_the_faulty_field(action: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _rule(action)
    assert message in str(raised.value)


def test_fifty_subtasks_are_allowed() -> None:
    action = _rule({'type': 'create_subtasks', 'summaries': [f's{i}' for i in range(50)]}).actions[0]
    assert isinstance(action, CreateSubtasksAction)
    assert len(action.summaries) == 50
