"""Issue history on the simulated site: ``GET /rest/api/{2,3}/issue/{issueIdOrKey}/changelog``.

Jira keeps one changelog entry per change with items (an edit, an assignment, a transition),
with its id (the same id the change's webhook and Forge event carry), author and time; the
creation of an issue and its comments have none. Forge's reconciling sweep
(worker/forge_sweep.py) reads it to find changes whose event never came.

The resource pages oldest first, as Jira's does: ``startAt``, ``maxResults`` (at most 100),
``total``, ``isLast``, ``values``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from rulequeue.simulator import catalog
from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.rest import Answer, Handler, Host, errors
from rulequeue.simulator.state import Change, SiteState

PAGE_SIZE = 100  # Jira's default and largest page


def record(state: SiteState, change: Change, author: Mapping[str, Any]) -> None:
    """Keep ``change``'s changelog entry (if it has items) in its issue's history."""
    if not change.items or change.changelog_id is None:
        return
    entry: JsonObject = {
        'id': change.changelog_id,
        'author': state.actor(author),
        'created': catalog.jira_time(change.at),
        'items': copy.deepcopy(list(change.items)),
    }
    state.changelogs.setdefault(str(change.issue['id']), []).append(entry)


def _number(value: Any, default: int, maximum: int) -> int | None:
    try:
        number = int(value) if value is not None else default
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= maximum else None


def get_changelog(host: Host, params: dict[str, str], body: Any) -> Answer:
    issue = host.state.issues.get(params['key'])
    if issue is None:
        return 404, errors('Issue does not exist or you do not have permission to see it.')
    start = _number(params.get('startAt'), 0, 1_000_000)
    size = _number(params.get('maxResults'), PAGE_SIZE, PAGE_SIZE)
    if start is None or size is None:
        return 400, errors('startAt and maxResults must be whole numbers in range.')
    history = host.state.changelogs.get(str(issue['id']), [])
    return 200, {
        'self': f'{host.state.base_url}/rest/api/2/issue/{issue["id"]}/changelog?startAt={start}&maxResults={size}',
        'startAt': start,
        'maxResults': size,
        'total': len(history),
        'isLast': start + size >= len(history),
        'values': copy.deepcopy(history[start : start + size]),
    }


ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
    (re.compile(r'/rest/api/[23]/issue/(?P<key>[^/]+)/changelog'), {'GET': get_changelog}),
)
