"""Jira's issue search on the simulated site: ``GET /rest/api/2/search`` and ``POST /rest/api/3/search/jql``.

The simulator answers JQL with rulequeue's own evaluator (rulequeue.jql), so comparing a local
evaluation with a search here checks the search path (the signed call, the query's text as sent
and the ``key = X AND (…)`` wrapping), not two independent JQL implementations. A query it
cannot decide (``membersOf()``, fields it does not have) is answered 400, as Jira answers a
query it refuses: a test then fails loudly instead of comparing guesses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rulequeue.errors import JqlError
from rulequeue.jql import JqlContext, evaluate_locally, parse
from rulequeue.simulator import catalog
from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.relations import property_matches
from rulequeue.simulator.rest import Answer, Host, errors

DEFAULT_MAX_RESULTS = 50
MAX_RESULTS = 1000  # Jira Cloud caps a page at 100 for most fields; the app asks for 1,000 at most


def _matches(host: Host, jql: str) -> list[JsonObject] | Answer:
    by_property = property_matches(host, jql)
    if by_property is not None:
        return by_property
    try:
        query = parse(jql)
    except JqlError as exc:
        return 400, errors(f'Error in the JQL Query: {exc.message} (at position {exc.position}).')
    context = JqlContext(
        now=datetime.now(UTC), current_user=str(host.app_user['accountId']), field_names=catalog.CUSTOM_FIELDS
    )
    found: list[JsonObject] = []
    # Newest first, as Jira orders a query without ORDER BY.
    for issue in sorted(host.state.issues.values(), key=lambda i: int(i['id']), reverse=True):
        result = evaluate_locally(query, issue, context)
        if result is None:
            return 400, errors('The simulated site cannot evaluate this query (membersOf() or an unknown field).')
        if result:
            found.append(issue)
    return found


def _shaped(issue: JsonObject, fields: str | None) -> JsonObject:
    wanted = [f.strip() for f in (fields or '*all').split(',') if f.strip()]
    if '*all' in wanted or '*navigable' in wanted:
        return issue
    return {**issue, 'fields': {k: v for k, v in issue['fields'].items() if k in wanted}}


def _bounded(value: Any, default: int, maximum: int) -> int | None:
    try:
        number = int(value) if value is not None else default
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= maximum else None


def search_v2(host: Host, params: dict[str, str], body: Any) -> Answer:
    """``GET /rest/api/2/search?jql=…&startAt=…&maxResults=…&fields=…``."""
    start, size = (
        _bounded(params.get('startAt'), 0, 1_000_000),
        _bounded(params.get('maxResults'), DEFAULT_MAX_RESULTS, MAX_RESULTS),
    )
    if start is None or size is None:
        return 400, errors('startAt and maxResults must be whole numbers in range.')
    found = _matches(host, params.get('jql', ''))
    if isinstance(found, tuple):
        return found
    page = [_shaped(issue, params.get('fields')) for issue in found[start : start + size]]
    return 200, {'expand': 'names,schema', 'startAt': start, 'maxResults': size, 'total': len(found), 'issues': page}


def search_v3(host: Host, params: dict[str, str], body: Any) -> Answer:
    """``POST /rest/api/3/search/jql`` with ``{"jql": …, "maxResults": …, "fields": […], "nextPageToken": …}``.

    Pages as Jira's enhanced search does: a page that is not the last carries ``nextPageToken``,
    to be sent back for the next one (here an opaque form of the next offset).
    """
    if not isinstance(body, dict) or not isinstance(body.get('jql', ''), str):
        return 400, errors('The body needs a "jql" string.')
    size = _bounded(body.get('maxResults'), DEFAULT_MAX_RESULTS, MAX_RESULTS)
    if size is None:
        return 400, errors('maxResults must be a whole number in range.')
    start = _page_start(body.get('nextPageToken'))
    if start is None:
        return 400, errors('The nextPageToken is not valid.')
    found = _matches(host, body.get('jql', ''))
    if isinstance(found, tuple):
        return found
    fields = body.get('fields')
    shape = ','.join(fields) if isinstance(fields, list) else None
    answer: JsonObject = {
        'issues': [_shaped(issue, shape) for issue in found[start : start + size]],
        'isLast': len(found) <= start + size,
    }
    if not answer['isLast']:
        answer['nextPageToken'] = f'{_TOKEN_PREFIX}{start + size}'
    return 200, answer


_TOKEN_PREFIX = 'sim-page-'


def _page_start(token: Any) -> int | None:
    """The offset a ``nextPageToken`` stands for: 0 without one, None if it is not one of ours."""
    if token is None:
        return 0
    number = token.removeprefix(_TOKEN_PREFIX) if isinstance(token, str) else ''
    return int(number) if number.isdigit() and token.startswith(_TOKEN_PREFIX) else None
