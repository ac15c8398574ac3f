"""A rule's JQL search over many issues, capped at MAX_ISSUES_PER_SEARCH (A4J: 1,000).

One signed ``POST /rest/api/3/search/jql`` per page, following ``nextPageToken`` (Jira Cloud's
enhanced search; the query travels in the body, not in a URL that proxies log). Only ids and
keys are asked for: whatever a rule needs of an issue, its execution reads from Jira itself.

The cap is a service limit, never a silent cut: the search asks for one issue more than the
limit, and :attr:`SearchResult.over_limit` tells the caller to record the run as THROTTLED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rulequeue import constants
from rulequeue.errors import PermanentJiraError
from rulequeue.store.tenants import Tenant
from worker.jira import JiraClient

SEARCH_PATH = '/rest/api/3/search/jql'


@dataclass(frozen=True)
class FoundIssue:
    id: str
    key: str
    # The fields the search asked for besides the key (the Forge sweep's created/updated).
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SearchResult:
    """The first ``limit`` issues found, and whether Jira had more."""

    issues: list[FoundIssue]
    over_limit: bool
    limit: int

    def throttle_message(self) -> str:
        """The audit message of a search over the limit (A4J: "only the first N were processed")."""
        return f'search found more than {self.limit} issues; the first {self.limit} ran, the rest did not'


def _found(item: Any) -> FoundIssue | None:
    if not isinstance(item, Mapping):
        return None
    issue_id, key = str(item.get('id') or ''), item.get('key')
    if not issue_id.isdigit() or not isinstance(key, str) or not key:
        return None
    fields = item.get('fields')
    return FoundIssue(issue_id, key, fields if isinstance(fields, Mapping) else {})


async def search_issues(
    jira: JiraClient,
    tenant: Tenant,
    jql: str,
    *,
    limit: int,
    page_size: int = constants.SEARCH_PAGE_SIZE,
    fields: tuple[str, ...] = ('key',),
) -> SearchResult:
    """The issues ``jql`` finds, at most ``limit`` (in Jira's order), each once.

    Raises:
        TransientJiraError: Jira could not answer now.
        PermanentJiraError: Jira refused the query (400: a field or function it does not know),
            or answered something that is not a search page.
    """
    found: dict[str, FoundIssue] = {}
    token: str | None = None
    while True:
        size = min(page_size, limit + 1 - len(found))
        body: dict[str, Any] = {'jql': jql, 'fields': list(fields), 'maxResults': size}
        if token is not None:
            body['nextPageToken'] = token
        page = await jira.request(tenant, 'POST', SEARCH_PATH, json=body)
        items = page.get('issues') if isinstance(page, Mapping) else None
        if not isinstance(items, list):
            raise PermanentJiraError('Jira answered the search with no issue list', method='POST', path=SEARCH_PATH)
        for issue in filter(None, map(_found, items)):
            found.setdefault(issue.id, issue)
        next_token = page.get('nextPageToken')
        if len(found) > limit:
            return SearchResult(list(found.values())[:limit], True, limit)
        if not items or page.get('isLast') is True or not isinstance(next_token, str) or next_token == token:
            return SearchResult(list(found.values()), False, limit)
        token = next_token
