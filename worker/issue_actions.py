"""Actions that create or relate issues: create_issue, create_subtasks, link_issues, add_watcher, refetch.

Effectively once, like the comment action (worker/actions.py): every issue we create carries the
entity property ``rulequeue.action`` = ``{"key": <action key>}``, set in the create call itself
so no issue exists without it. A retry that may follow a lost progress marker first asks Jira
for an issue with that key: ``issue.property[rulequeue.action].key = "<key>"``, a JQL clause Jira
answers because the descriptor declares the property in a ``jiraEntityProperties`` module
(rulequeue/connect/descriptor.py). It is the only documented way to find an issue by a value
the app chose; issue keys and summaries are not ours to trust. Jira's search index lags writes
by about a second, far less than a retry's back-off. Links and watchers are read back from the
issue before they are added again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from schemas.audit import ActionResult, ActionStatus
from schemas.issue_actions import (
    ACTION_PROPERTY,
    AddWatcherAction,
    CreateIssueAction,
    CreateSubtasksAction,
    LinkIssuesAction,
    RefetchAction,
)
from worker.templates import render, render_value

if TYPE_CHECKING:
    from worker.actions import Target

SEARCH_PATH = '/rest/api/3/search/jql'
IssueActions = CreateIssueAction | CreateSubtasksAction | LinkIssuesAction | AddWatcherAction | RefetchAction


def _ok(index: int, action: IssueActions, changes: dict[str, Any], notes: tuple[str, ...]) -> ActionResult:
    message = f'unknown template paths rendered empty: {", ".join(sorted(set(notes)))}' if notes else None
    return ActionResult(index=index, type=action.type, status=ActionStatus.SUCCESS, changes=changes, message=message)


async def run_issue_action(
    target: Target, index: int, action: IssueActions, context: Mapping[str, Any]
) -> ActionResult:
    """Run one of these actions; errors propagate to worker.actions.run_action, which sorts them."""
    if isinstance(action, CreateIssueAction):
        return await _create_issue(target, index, action, context)
    if isinstance(action, CreateSubtasksAction):
        return await _create_subtasks(target, index, action, context)
    if isinstance(action, LinkIssuesAction):
        return await _link(target, index, action, context)
    if isinstance(action, AddWatcherAction):
        return await _add_watcher(target, index, action, context)
    return await _refetch(target, index, action, context)


def remember_created(context: Mapping[str, Any], created: list[dict[str, str]]) -> None:
    """Make created issues visible to later actions: ``{{createdIssue}}`` is the last one,
    ``{{createdIssues}}`` all of this run's. Also used for an action done in an earlier attempt."""
    if isinstance(context, dict) and created:
        context['createdIssues'] = [*context.get('createdIssues', []), *created]
        context['createdIssue'] = created[-1]


async def _create_issue(
    target: Target, index: int, action: CreateIssueAction, context: Mapping[str, Any]
) -> ActionResult:
    project, issuetype, summary = (render(t, context) for t in (action.project, action.issuetype, action.summary))
    others, unknown = render_value(action.fields, context)
    properties, unknown_in_properties = render_value(action.properties, context)
    fields = {
        **others,
        'project': {'key': project.text},
        'issuetype': {'name': issuetype.text},
        'summary': summary.text,
    }
    created = await _create_once(target, target.action_key(index), fields, properties)
    remember_created(context, [created])
    notes = (*project.unknown_paths, *issuetype.unknown_paths, *summary.unknown_paths, *unknown)
    return _ok(index, action, {'created': [created]}, (*notes, *unknown_in_properties))


async def _create_subtasks(
    target: Target, index: int, action: CreateSubtasksAction, context: Mapping[str, Any]
) -> ActionResult:
    parent = context.get('issue') or {}
    project = ((parent.get('fields') or {}).get('project') or {}).get('key') or target.issue_key.rsplit('-', 1)[0]
    created: list[dict[str, str]] = []
    notes: list[str] = []
    action_key = target.action_key(index)
    for number, template in enumerate(action.summaries):
        summary = render(template, context)
        notes.extend(summary.unknown_paths)
        fields = {
            'project': {'key': project},
            'issuetype': {'name': action.issuetype},
            'parent': {'key': target.issue_key},
            'summary': summary.text,
        }
        # Each sub-task has its own key, so a retry re-creates only the ones still missing.
        key = hashlib.sha256(f'{action_key}\0{number}'.encode()).hexdigest()[:32]
        created.append(await _create_once(target, key, fields, {}))
    remember_created(context, created)
    return _ok(index, action, {'created': created}, tuple(notes))


async def _create_once(
    target: Target, key: str, fields: dict[str, Any], properties: Mapping[str, Any]
) -> dict[str, str]:
    if target.retrying:
        found = await _created_by(target, key)
        if found is not None:
            return found
    marked = [*({'key': k, 'value': v} for k, v in properties.items()), {'key': ACTION_PROPERTY, 'value': {'key': key}}]
    answer = await target.jira.request(
        target.tenant, 'POST', '/rest/api/2/issue', json={'fields': fields, 'properties': marked}
    )
    return {'key': str(answer['key']), 'id': str(answer['id'])}


async def _created_by(target: Target, key: str) -> dict[str, str] | None:
    """The issue an earlier attempt created for this key, if any (see the module's docstring)."""
    jql = f'issue.property[{ACTION_PROPERTY}].key = "{key}"'  # the key is hex: nothing to escape
    found = await target.jira.request(
        target.tenant, 'POST', SEARCH_PATH, json={'jql': jql, 'fields': ['key'], 'maxResults': 1}
    )
    for issue in (found or {}).get('issues') or []:
        return {'key': str(issue['key']), 'id': str(issue['id'])}
    return None


async def _link(target: Target, index: int, action: LinkIssuesAction, context: Mapping[str, Any]) -> ActionResult:
    other = render(action.issue, context)
    changes = {'link_type': action.link_type, 'issue': other.text}
    if target.retrying and await _linked(target, action.link_type, other.text):
        return _ok(index, action, changes, other.unknown_paths)
    # Jira shows the inward issue with the type's outward words: "<rule's issue> blocks <other>".
    body = {
        'type': {'name': action.link_type},
        'inwardIssue': {'key': target.issue_key},
        'outwardIssue': {'key': other.text},
    }
    await target.jira.request(target.tenant, 'POST', '/rest/api/2/issueLink', json=body)
    return _ok(index, action, changes, other.unknown_paths)


async def _linked(target: Target, link_type: str, other: str) -> bool:
    issue = await target.jira.request(target.tenant, 'GET', target.path(), params={'fields': 'issuelinks'})
    for link in ((issue or {}).get('fields') or {}).get('issuelinks') or []:
        same_type = str((link.get('type') or {}).get('name', '')).casefold() == link_type.casefold()
        if same_type and (link.get('outwardIssue') or {}).get('key') == other:
            return True
    return False


async def _add_watcher(
    target: Target, index: int, action: AddWatcherAction, context: Mapping[str, Any]
) -> ActionResult:
    account = render(action.account_id, context)
    if target.retrying:
        listing = await target.jira.request(target.tenant, 'GET', target.path('/watchers'))
        if any(w.get('accountId') == account.text for w in (listing or {}).get('watchers') or []):
            return _ok(index, action, {'watcher': account.text}, account.unknown_paths)
    await target.jira.request(target.tenant, 'POST', target.path('/watchers'), json=account.text)
    return _ok(index, action, {'watcher': account.text}, account.unknown_paths)


async def _refetch(target: Target, index: int, action: RefetchAction, context: Mapping[str, Any]) -> ActionResult:
    issue = await target.jira.request(target.tenant, 'GET', target.path())
    if isinstance(context, dict) and isinstance(issue, dict):
        if (context.get('triggerIssue') or {}).get('key') == target.issue_key:
            context['triggerIssue'] = issue
        context['issue'] = issue
    # Field values stay out of the audit entry: only when Jira last saw a change.
    updated = ((issue or {}).get('fields') or {}).get('updated')
    return _ok(index, action, {'updated': updated}, ())
