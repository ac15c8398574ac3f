"""JQL in rules at run time: a trigger's filter and ``jql`` conditions, on the snapshot or by Jira.

rulequeue.jql evaluates a query on the snapshot with three values. When it cannot decide (a
field the webhook did not carry, a custom field named by its display name, ``membersOf()``,
``currentUser()`` before we know our app user), one signed search ``key = X AND (…)`` asks
Jira, and the issue matches iff it comes back. Each check says which path decided it, for the
audit entry's messages.

Jira failures keep their meaning: a transient one (429, 5xx, timeout) propagates as
TransientJiraError and the execution is retried like after any Jira call; a refusal (400: a
field or function the site does not know) is a PermanentJiraError whose message names the
check, and the rule runs no action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rulequeue.errors import JqlError, PermanentJiraError
from rulequeue.jql import JqlContext, evaluate_locally, parse, restrict_to_issue
from rulequeue.jql.render import quote
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent
from schemas.rules import Condition, JqlCondition
from schemas.user_condition import UserCondition
from worker.jira import JiraClient
from worker.matching import ConditionOutcome, evaluate_conditions
from worker.user_checks import GroupsOf, check_groups

LOCAL = 'local'
JIRA_SEARCH = 'jira search'
SEARCH_PATH = '/rest/api/3/search/jql'

# A restricted query (``key = X AND (…)``) to whether the issue came back.
SearchIssue = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class JqlCheck:
    """Whether the issue matched, and which path decided it (LOCAL or JIRA_SEARCH)."""

    matched: bool
    path: str

    def describe(self, subject: str) -> str:
        """``trigger jql: local, matched``: the rule's part and the outcome, no issue data."""
        return f'{subject} jql: {self.path}, {"matched" if self.matched else "not matched"}'


def jql_context(tenant: Tenant, now: datetime) -> JqlContext:
    """The context of a rule's JQL: ``currentUser()`` is our app user, as in the searches we sign."""
    return JqlContext(now=now, current_user=tenant.app_account_id)


def restricted(jql: str, key: str) -> str:
    """``key = X AND (…)``; a query our parser refuses (saved under an older one) is sent as written."""
    try:
        return restrict_to_issue(parse(jql), key)
    except JqlError:
        return f'key = {quote(key)} AND ({jql})'


def jira_search(jira: JiraClient, tenant: Tenant, issue_id: str, issue_key: str) -> SearchIssue:
    """A SearchIssue through the tenant's Jira: one signed ``POST /rest/api/3/search/jql``.

    Jira's search index lags behind writes; ``reconcileIssues`` makes it answer for this issue
    as it is now (read-after-write), which matters right after the change that triggered us.
    Only ids come back: the search reads no field values.
    """

    async def search(jql: str) -> bool:
        body: dict[str, Any] = {'jql': jql, 'fields': ['id'], 'maxResults': 1}
        if issue_id.isdigit():
            body['reconcileIssues'] = [int(issue_id)]
        found = await jira.request(tenant, 'POST', SEARCH_PATH, json=body)
        issues = found.get('issues') if isinstance(found, Mapping) else None
        return any(
            isinstance(item, Mapping) and (str(item.get('id')) == issue_id or item.get('key') == issue_key)
            for item in issues or []
        )

    return search


async def _searched(search: SearchIssue, jql: str, key: str, subject: str) -> JqlCheck:
    try:
        return JqlCheck(await search(restricted(jql, key)), JIRA_SEARCH)
    except PermanentJiraError as exc:
        raise PermanentJiraError(
            f'{subject} jql: jira search refused: {exc}', method=exc.method, path=exc.path, status=exc.status
        ) from None


async def check_jql(
    jql: str, issue: Mapping[str, Any], context: JqlContext, search: SearchIssue, *, subject: str = 'trigger'
) -> JqlCheck:
    """Decide on the snapshot if every clause that matters can be, else with one search."""
    try:
        local = evaluate_locally(parse(jql), issue, context)
    except JqlError:
        local = None
    if local is not None:
        return JqlCheck(local, LOCAL)
    return await _searched(search, jql, str(issue.get('key') or ''), subject)


async def evaluate_all(
    conditions: Sequence[Condition],
    event: WebhookEvent,
    context: Mapping[str, Any],
    jql: JqlContext,
    search: SearchIssue,
    groups: GroupsOf | None = None,
) -> list[ConditionOutcome]:
    """worker.matching.evaluate_conditions, with Jira deciding the ``jql`` conditions it could not
    (and the ``user`` group conditions, through ``groups``).

    Conditions still run in order and stop at the first that does not hold, so no search is
    made for a condition after a failed one.
    """
    issue = context.get('issue') or event.issue.model_dump(mode='json')
    outcomes: list[ConditionOutcome] = []
    start = 1
    while start <= len(conditions):
        outcomes += evaluate_conditions(conditions[start - 1 :], event, context, start=start, jql_context=jql)
        last = outcomes[-1]
        condition = conditions[last.index - 1]
        if not last.needs_jira:
            break
        if isinstance(condition, UserCondition) and groups is not None:
            outcomes[-1] = await check_groups(last.index, condition, context, groups)
        elif isinstance(condition, JqlCondition):
            subject = f'condition {last.index}'
            check = await _searched(search, condition.jql, str(issue.get('key') or ''), subject)
            outcomes[-1] = ConditionOutcome(last.index, check.matched, check.describe(subject))
        else:
            break
        if not outcomes[-1].passed:
            break
        start = last.index + 1
    return outcomes


def jql_notes(conditions: Sequence[Condition], outcomes: Sequence[ConditionOutcome]) -> list[str]:
    """How each ``jql`` condition that held was decided (a failed one is reported as any failure)."""
    return [o.description for o in outcomes if o.passed and isinstance(conditions[o.index - 1], JqlCondition)]
