"""Webhook bodies shaped like the ones Jira Cloud sends, built from a :class:`~.state.Change`.

Which events one change produces follows Jira: a comment sends ``comment_created`` *and* a
``jira:issue_updated`` of type ``issue_commented``; a transition is ``issue_generic``; an
assignee-only edit is ``issue_assigned``. Comment events carry a reduced issue, the others the
full issue as the REST API returns it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rulequeue.simulator import link_worklog
from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.state import Change

ISSUE_CREATED = 'jira:issue_created'
ISSUE_UPDATED = 'jira:issue_updated'
ISSUE_DELETED = 'jira:issue_deleted'
COMMENT_CREATED = 'comment_created'

# issue_event_type_name of a jira:issue_updated, per kind of change.
_UPDATE_TYPES = {'updated': 'issue_updated', 'assigned': 'issue_assigned', 'transitioned': 'issue_generic'}
_REDUCED_FIELDS = ('summary', 'status', 'issuetype', 'priority', 'assignee', 'project')


def _timestamp(change: Change) -> int:
    return int(change.at * 1000)


def _issue_event(event: str, type_name: str, change: Change, user: Mapping[str, Any]) -> JsonObject:
    return {
        'timestamp': _timestamp(change),
        'webhookEvent': event,
        'issue_event_type_name': type_name,
        'user': copy.deepcopy(dict(user)),
        'issue': copy.deepcopy(change.issue),
    }


def issue_created(change: Change, user: Mapping[str, Any]) -> JsonObject:
    """``jira:issue_created`` / ``issue_created``."""
    return _issue_event(ISSUE_CREATED, 'issue_created', change, user)


def issue_updated(change: Change, user: Mapping[str, Any]) -> JsonObject:
    """``jira:issue_updated`` with its changelog (an edit, an assignment or a transition)."""
    body = _issue_event(ISSUE_UPDATED, _UPDATE_TYPES[change.kind], change, user)
    body['changelog'] = {'id': change.changelog_id, 'items': copy.deepcopy(list(change.items))}
    return body


def issue_commented(change: Change, user: Mapping[str, Any]) -> JsonObject:
    """``jira:issue_updated`` / ``issue_commented``: the comment, no changelog."""
    body = _issue_event(ISSUE_UPDATED, 'issue_commented', change, user)
    body['comment'] = copy.deepcopy(change.comment)
    return body


def issue_deleted(change: Change, user: Mapping[str, Any]) -> JsonObject:
    """``jira:issue_deleted`` / ``issue_deleted`` with the issue as it was."""
    return _issue_event(ISSUE_DELETED, 'issue_deleted', change, user)


def reduced_issue(issue: Mapping[str, Any]) -> JsonObject:
    """The issue as comment events carry it: id, key, self and a handful of fields."""
    fields = issue['fields']
    return {
        'id': issue['id'],
        'self': issue['self'],
        'key': issue['key'],
        'fields': {name: copy.deepcopy(fields.get(name)) for name in _REDUCED_FIELDS},
    }


def comment_created(change: Change) -> JsonObject:
    """``comment_created``: no ``user`` and no ``issue_event_type_name``; the author is in the comment."""
    return {
        'timestamp': _timestamp(change),
        'webhookEvent': COMMENT_CREATED,
        'comment': copy.deepcopy(change.comment),
        'issue': reduced_issue(change.issue),
    }


def bodies_for(change: Change, user: Mapping[str, Any]) -> list[JsonObject]:
    """Every webhook body Jira sends for ``change`` made by ``user``, in sending order."""
    if change.kind == 'created':
        return [issue_created(change, user)]
    if change.kind == 'deleted':
        return [issue_deleted(change, user)]
    if change.kind == 'commented':
        return [comment_created(change), issue_commented(change, user)]
    if change.kind in link_worklog.KINDS:
        return link_worklog.bodies_for(change)
    return [issue_updated(change, user)]
