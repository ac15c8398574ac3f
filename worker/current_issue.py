"""The issue as Jira has it now, for executions whose snapshot does not carry the full issue.

A Forge event names its issue with a handful of fields (and its actor by account id only, so
the user is read too); a manual run, a scheduled search hit and a branch item carry only
``{id, key}``. Before matching, the worker reads the issue
(``GET /rest/api/2/issue/{id}``, the shape Connect webhooks send) and puts it in the event
in place of the partial one. The read issue lives in the execution's memory only: the
snapshot in Redis is not rewritten, and it is purged at the end as always.
"""

from __future__ import annotations

from typing import Any

from rulequeue.errors import PermanentJiraError
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent
from worker.jira import JiraClient

GONE_STATUSES = frozenset({404})


async def with_current_issue(jira: JiraClient, tenant: Tenant, event: WebhookEvent) -> WebhookEvent | None:
    """The event with its issue replaced by Jira's current one; None if the issue is gone.

    Raises:
        TransientJiraError: Jira could not answer now (the execution retries).
        PermanentJiraError: Jira refused the read for another reason than a missing issue.
    """
    try:
        issue: Any = await jira.request(tenant, 'GET', f'/rest/api/2/issue/{event.issue.id}')
    except PermanentJiraError as exc:
        if exc.status in GONE_STATUSES:
            return None
        raise
    if not isinstance(issue, dict) or str(issue.get('id')) != event.issue.id:
        raise PermanentJiraError('Jira answered with another issue', method='GET', path='/rest/api/2/issue/{id}')
    data = event.model_dump(mode='json', by_alias=True, exclude_unset=True)
    data['issue'] = issue
    user = data.get('user')
    if isinstance(user, dict) and user.get('accountId') and not user.get('displayName'):
        data['user'] = await _person(jira, tenant, user)
    return WebhookEvent.model_validate(data)


async def _person(jira: JiraClient, tenant: Tenant, user: dict[str, Any]) -> dict[str, Any]:
    """The actor as Jira shows users, for ``{{initiator.displayName}}``: a Forge event names its
    actor by account id only (Connect sends the whole user). Kept as given if Jira will not say."""
    try:
        found: Any = await jira.request(tenant, 'GET', '/rest/api/2/user', params={'accountId': str(user['accountId'])})
    except PermanentJiraError:
        return user
    if not isinstance(found, dict) or found.get('accountId') != user['accountId']:
        return user
    # What the event said wins (accountType 'app' from our own changes, worker.app_cause).
    return {**found, **{k: v for k, v in user.items() if v is not None}}
