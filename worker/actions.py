"""Rule actions, each turned into signed Jira REST calls.

A permanent failure (a 4xx from Jira, a template error, no such transition) is returned as a
FAILED result for the audit row; transient failures raise TransientJiraError so the whole
execution is retried later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from rulequeue.errors import EgressRefused, PermanentJiraError, TemplateError
from rulequeue.store.tenants import Tenant
from schemas.audit import ActionResult, ActionStatus
from schemas.rules import (
    Action,
    AssignAction,
    CommentAction,
    EditAction,
    LogAction,
    TransitionAction,
    WebRequestAction,
)
from worker.already_applied import edit_in_effect, edited_field_names
from worker.edits import plan_edit
from worker.issue_actions import IssueActions, run_issue_action
from worker.jira import JiraClient
from worker.templates import render
from worker.web_request import WebRequester, send

# Entity property set on every comment we create, holding the action's idempotency key.
COMMENT_PROPERTY = 'rulequeue.action'


@dataclass(frozen=True)
class Target:
    """The issue an action works on, how to reach its Jira, and who is acting.

    ``actor`` names the (delivery, rule, rule version) so each action has a stable
    idempotency key; ``retrying`` is true when an earlier attempt may already have made a
    change whose progress marker was never written (a crash between the call and the record).
    """

    jira: JiraClient
    tenant: Tenant
    issue_key: str
    actor: str = ''
    retrying: bool = False
    web: WebRequester | None = None

    def path(self, suffix: str = '') -> str:
        return f'/rest/api/2/issue/{quote(self.issue_key, safe="")}{suffix}'

    def action_key(self, index: int) -> str:
        return hashlib.sha256(f'{self.actor}\0{index}'.encode()).hexdigest()[:32]


def _ok(index: int, action: Action, changes: dict[str, Any], notes: tuple[str, ...] = ()) -> ActionResult:
    message = f'unknown template paths rendered empty: {", ".join(notes)}' if notes else None
    return ActionResult(index=index, type=action.type, status=ActionStatus.SUCCESS, changes=changes, message=message)


def _failed(index: int, action: Action, message: str) -> ActionResult:
    return ActionResult(index=index, type=action.type, status=ActionStatus.FAILED, message=message)


async def run_action(target: Target, index: int, action: Action, context: Mapping[str, Any]) -> ActionResult:
    """Run one action; permanent failures come back as FAILED results, transient ones raise."""
    try:
        if isinstance(action, CommentAction):
            return await _comment(target, index, action, context)
        if isinstance(action, EditAction):
            return await _edit(target, index, action, context)
        if isinstance(action, TransitionAction):
            return await _transition(target, index, action)
        if isinstance(action, AssignAction):
            return await _assign(target, index, action)
        if isinstance(action, WebRequestAction):
            return await _web_request(target, index, action, context)
        if isinstance(action, IssueActions):
            return await run_issue_action(target, index, action, context)
        return _log(index, action, context)
    except TemplateError as exc:
        return _failed(index, action, f'template error: {exc.report()}')
    except (PermanentJiraError, EgressRefused) as exc:
        return _failed(index, action, str(exc))


async def _comment(target: Target, index: int, action: CommentAction, context: Mapping[str, Any]) -> ActionResult:
    rendered = render(action.body, context)
    key = target.action_key(index)
    if target.retrying:
        existing = await _comment_made_by(target, key)
        if existing is not None:
            return _ok(index, action, {'comment_id': existing}, rendered.unknown_paths)
    body = {'body': rendered.text, 'properties': [{'key': COMMENT_PROPERTY, 'value': {'key': key}}]}
    created = await target.jira.request(target.tenant, 'POST', target.path('/comment'), json=body)
    comment_id = created.get('id') if isinstance(created, dict) else None
    return _ok(index, action, {'comment_id': comment_id}, rendered.unknown_paths)


async def _comment_made_by(target: Target, key: str) -> str | None:
    """The id of a comment an earlier attempt already made for this action, if any."""
    listing = await target.jira.request(
        target.tenant, 'GET', target.path('/comment'), params={'expand': 'properties', 'maxResults': '5000'}
    )
    for comment in (listing or {}).get('comments', []):
        for prop in comment.get('properties') or []:
            if prop.get('key') == COMMENT_PROPERTY and (prop.get('value') or {}).get('key') == key:
                return str(comment.get('id'))
    return None


async def _edit(target: Target, index: int, action: EditAction, context: Mapping[str, Any]) -> ActionResult:
    plan = plan_edit(action, context)
    if target.retrying and await _current_fields_hold(target, plan.payload):
        return _ok(index, action, plan.changes, plan.unknown_paths)  # an earlier attempt's edit took effect
    await target.jira.request(target.tenant, 'PUT', target.path(), json=plan.payload)
    return _ok(index, action, plan.changes, plan.unknown_paths)


async def _current_fields_hold(target: Target, payload: dict[str, Any]) -> bool:
    names = edited_field_names(payload)
    if not names:
        return False
    issue = await target.jira.request(target.tenant, 'GET', target.path(), params={'fields': ','.join(names)})
    return edit_in_effect(payload, (issue or {}).get('fields') or {})


async def _transition(target: Target, index: int, action: TransitionAction) -> ActionResult:
    if target.retrying:
        # An earlier attempt may have moved the issue already: moving it again would fail, or
        # worse, succeed through another transition.
        issue = await target.jira.request(target.tenant, 'GET', target.path(), params={'fields': 'status'})
        status = (((issue or {}).get('fields') or {}).get('status') or {}).get('name')
        if isinstance(status, str) and status.casefold() == action.to.casefold():
            return _ok(index, action, {'status': status})
    available = await target.jira.request(target.tenant, 'GET', target.path('/transitions'))
    wanted = action.to.casefold()
    for transition in (available or {}).get('transitions', []):
        to_name = str((transition.get('to') or {}).get('name', ''))
        if wanted in (to_name.casefold(), str(transition.get('name', '')).casefold()):
            body = {'transition': {'id': transition['id']}}
            await target.jira.request(target.tenant, 'POST', target.path('/transitions'), json=body)
            return _ok(index, action, {'status': to_name, 'transition_id': transition['id']})
    return _failed(index, action, f'no transition to {action.to!r} is available from the current status')


async def _assign(target: Target, index: int, action: AssignAction) -> ActionResult:
    if target.retrying and await _current_fields_hold(target, {'fields': {'assignee': _assignee(action)}}):
        return _ok(index, action, {'assignee': action.account_id})
    await target.jira.request(target.tenant, 'PUT', target.path('/assignee'), json={'accountId': action.account_id})
    return _ok(index, action, {'assignee': action.account_id})


async def _web_request(
    target: Target, index: int, action: WebRequestAction, context: Mapping[str, Any]
) -> ActionResult:
    if target.web is None:
        return _failed(index, action, 'web requests are not available in this worker')
    url = render(action.url, context)
    headers = {name: render(value, context).text for name, value in action.headers.items()}
    headers['X-Rulequeue-Idempotency-Key'] = target.action_key(index)
    body = None if action.body is None else render(action.body, context).text
    try:
        answer = await send(
            target.web,
            target.tenant.client_key,
            action.method,
            url.text,
            headers=headers,
            body=body,
            timeout_seconds=action.timeout_seconds,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # the target's trouble, not Jira's: final for this action
        # The exception's text can quote the templated URL (issue data): name its type only.
        return _failed(index, action, f'web request failed: {type(exc).__name__}')
    if isinstance(context, dict):
        context['webhookResponse'] = answer.as_context()  # for the rule's later actions
    changes = {'status': answer.status, 'host': answer.host}
    if answer.status >= 400:
        return _failed(index, action, f'{answer.host} answered {answer.status}')
    return _ok(index, action, changes, url.unknown_paths)


def _assignee(action: AssignAction) -> dict[str, Any] | None:
    return None if action.account_id is None else {'accountId': action.account_id}


def _log(index: int, action: LogAction, context: Mapping[str, Any]) -> ActionResult:
    # The admin chose what to log; it goes to the audit entry only, never to Jira.
    rendered = render(action.message, context)
    return _ok(index, action, {'log': rendered.text}, rendered.unknown_paths)


def succeeded(result: ActionResult) -> bool:
    return result.status is ActionStatus.SUCCESS
