"""The ``user`` condition's group ops, decided by Jira: one signed ``GET /rest/api/2/user/groups``.

Asked only when the condition is reached (an earlier condition that fails means no call), and
at most once per initiator within one rule's evaluation. Failures keep their meaning as in
worker.jql_checks: a transient one is retried with the execution, a refusal is a rule error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rulequeue.errors import PermanentJiraError
from rulequeue.store.tenants import Tenant
from schemas.user_condition import UserCondition
from worker.jira import JiraClient
from worker.matching import ConditionOutcome, describe_user, initiator_id

GROUPS_PATH = '/rest/api/2/user/groups'

# An account id to the names of the Jira groups it belongs to.
GroupsOf = Callable[[str], Awaitable[frozenset[str]]]


def jira_groups(jira: JiraClient, tenant: Tenant) -> GroupsOf:
    """A GroupsOf through the tenant's Jira; the answer is kept for the caller's lifetime."""
    known: dict[str, frozenset[str]] = {}

    async def groups_of(account_id: str) -> frozenset[str]:
        if account_id not in known:
            found = await jira.request(tenant, 'GET', GROUPS_PATH, params={'accountId': account_id})
            names = (item.get('name') for item in found or [] if isinstance(item, Mapping))
            # Jira group names are case-insensitive.
            known[account_id] = frozenset(name.casefold() for name in names if isinstance(name, str))
        return known[account_id]

    return groups_of


async def check_groups(
    index: int, condition: UserCondition, context: Mapping[str, Any], groups_of: GroupsOf
) -> ConditionOutcome:
    """Decide an ``in_group``/``not_in_group`` condition that worker.matching left to Jira."""
    account_id = initiator_id(context)
    if account_id is None or condition.group is None:  # matching decides these; kept total for mypy
        return ConditionOutcome(index, False, describe_user(index, condition, False, 'no initiator'))
    try:
        member = condition.group.casefold() in await groups_of(account_id)
    except PermanentJiraError as exc:
        raise PermanentJiraError(
            f'condition {index} user: jira refused the group lookup: {exc}',
            method=exc.method,
            path=exc.path,
            status=exc.status,
        ) from None
    passed = member == (condition.op == 'in_group')
    return ConditionOutcome(index, passed, describe_user(index, condition, passed))
