"""Issue links and worklogs on the simulated site, and the webhooks Jira sends for them.

A new link sends ``issuelink_created``, a new worklog ``worklog_created``; neither body has an
``issue`` (the link names its issues by id, the worklog its issue), nor a ``user``::

    {"timestamp": …, "webhookEvent": "issuelink_created",
     "issueLink": {"id": 10000, "sourceIssueId": 10000, "destinationIssueId": 10001,
                   "issueLinkType": {"id": 10000, "name": "Blocks", "outwardName": "blocks",
                                     "inwardName": "is blocked by", …}, "systemLink": false}}
    {"timestamp": …, "webhookEvent": "worklog_created", "worklog": {the REST worklog}}

The link's source is the issue its outward description reads from ("source blocks
destination"). Not simulated: the ``jira:issue_updated`` events Jira also sends for a link
(field ``Link``) and for logged work (``timespent``, ``WorklogId``), and link deletion.

With a Forge remote registered, Forge's ``avi:jira:created:issuelink`` /
``avi:jira:created:worklog`` event goes out too (:func:`forge_event_for`).

REST: ``POST|GET /rest/api/2/issue/{issueIdOrKey}/worklog`` here; ``POST /rest/api/2/issueLink``
in rulequeue.simulator.relations, which builds its change with :func:`link_change`.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Mapping
from typing import Any

from rulequeue.simulator import catalog
from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.rest import Answer, Handler, Host, errors
from rulequeue.simulator.state import Change, SimulatorError, SiteState

LINKED = 'linked'
WORKLOGGED = 'worklogged'
KINDS = frozenset({LINKED, WORKLOGGED})
ISSUE_LINK_CREATED = 'issuelink_created'
WORKLOG_CREATED = 'worklog_created'
# Jira's default time tracking: an 8-hour day, a 5-day week.
_UNITS = (('w', 5 * 8 * 3600), ('d', 8 * 3600), ('h', 3600), ('m', 60))
_DURATION = re.compile(r'\s*(?:\d+\s*[wdhm]\s*)+')
_NO_ISSUE: Answer = (404, errors('Issue does not exist or you do not have permission to see it.'))


def issue_by_ref(state: SiteState, ref: str) -> JsonObject | None:
    """The issue named by key or by id, as Jira's ``{issueIdOrKey}`` paths accept both."""
    issue = state.issues.get(ref)
    if issue is None and ref.isdigit():
        issue = next((i for i in state.issues.values() if i['id'] == ref), None)
    return issue


def duration_text(seconds: int) -> str:
    """Seconds as Jira writes a time spent: ``5400`` -> ``'1h 30m'``."""
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f'{count}{unit}')
    return ' '.join(parts) or '0m'


def duration_seconds(text: str) -> int | None:
    """``'1h 30m'`` -> ``5400``; None if it is not a duration."""
    if not _DURATION.fullmatch(text):
        return None
    sizes = dict(_UNITS)
    return sum(int(count) * sizes[unit] for count, unit in re.findall(r'(\d+)\s*([wdhm])', text))


def link_change(link_id: str, link_type: Mapping[str, Any], source: JsonObject, destination: JsonObject) -> Change:
    """The change a new link makes (``source <outward> destination``), as its webhook reports it.

    ``link_type`` is the REST shape (``id``, ``name``, ``inward``, ``outward``); the webhook
    names the descriptions ``inwardName``/``outwardName`` and writes ids as numbers.
    """
    issue_link = {
        'id': int(link_id),
        'sourceIssueId': int(source['id']),
        'destinationIssueId': int(destination['id']),
        'issueLinkType': {
            'id': int(link_type['id']),
            'name': link_type['name'],
            'outwardName': link_type['outward'],
            'inwardName': link_type['inward'],
            'isSubTaskLinkType': False,
            'isSystemLinkType': False,
        },
        'systemLink': False,
    }
    return Change(LINKED, copy.deepcopy(source), time.time(), related=issue_link)


def log_work(
    state: SiteState, issue: JsonObject, seconds: int, author: Mapping[str, Any], comment: str | None = None
) -> Change:
    """Log ``seconds`` of work on the issue as ``author``; the issue's ``worklog`` and ``timespent`` follow."""
    if seconds < 60:
        raise SimulatorError('Jira logs work in whole minutes: at least 60 seconds')
    now = time.time()
    stamp = catalog.jira_time(now)
    person = state.actor(author)
    fields = issue['fields']
    log = fields.setdefault('worklog', {'startAt': 0, 'maxResults': 20, 'total': 0, 'worklogs': []})
    logs = [i['fields'].get('worklog') or {} for i in state.issues.values()]
    taken = [int(w['id']) for each in logs for w in each.get('worklogs', [])]
    worklog_id = str(max(taken, default=9999) + 1)
    worklog: JsonObject = {
        'self': f'{state.base_url}/rest/api/2/issue/{issue["id"]}/worklog/{worklog_id}',
        'author': person,
        'updateAuthor': person,
        'created': stamp,
        'updated': stamp,
        'started': stamp,
        'timeSpent': duration_text(seconds),
        'timeSpentSeconds': seconds,
        'id': worklog_id,
        'issueId': issue['id'],
    }
    if comment:
        worklog['comment'] = comment
    log['worklogs'].append(worklog)
    log['total'] = log['maxResults'] = len(log['worklogs'])
    fields['timespent'] = (fields.get('timespent') or 0) + seconds
    fields['updated'] = stamp
    return Change(WORKLOGGED, copy.deepcopy(issue), now, related=copy.deepcopy(worklog))


def bodies_for(change: Change) -> list[JsonObject]:
    """The webhook Jira sends for a new link or worklog: no ``issue``, no ``user``."""
    stamp = int(change.at * 1000)
    if change.kind == LINKED:
        return [{'timestamp': stamp, 'webhookEvent': ISSUE_LINK_CREATED, 'issueLink': copy.deepcopy(change.related)}]
    return [{'timestamp': stamp, 'webhookEvent': WORKLOG_CREATED, 'worklog': copy.deepcopy(change.related)}]


FORGE_LINKED = 'avi:jira:created:issuelink'
FORGE_WORKLOGGED = 'avi:jira:created:worklog'


def _account(value: Any) -> JsonObject | None:
    return {'accountId': value['accountId']} if isinstance(value, Mapping) and 'accountId' in value else None


def forge_event_for(change: Change, actor: Mapping[str, Any], *, self_generated: bool = False) -> JsonObject:
    """The Forge event for a new link or worklog (rulequeue.simulator.forge_events sends it).

    Forge writes ids as strings, names the link type's descriptions ``inward``/``outward`` and
    users by ``accountId`` only; the worklog carries its ids, people, times and comment.
    """
    related = change.related or {}
    event: JsonObject = {
        'timestamp': str(int(change.at * 1000)),
        'selfGenerated': self_generated,
        'atlassianId': actor['accountId'],
    }
    if change.kind == LINKED:
        kind = related['issueLinkType']
        link_type = {'id': str(kind['id']), 'name': kind['name'], 'inward': kind['inwardName']}
        link_type |= {'outward': kind['outwardName'], 'isSubTaskLinkType': False, 'isSystemLinkType': False}
        ids = {name: str(related[name]) for name in ('id', 'sourceIssueId', 'destinationIssueId')}
        link = {**ids, 'issueLinkType': link_type, 'systemLink': False}
        return {'eventType': FORGE_LINKED, **event, 'issueLink': link}
    kept = ('id', 'issueId', 'timeSpentSeconds', 'started', 'created', 'updated', 'comment')
    worklog = {k: copy.deepcopy(related[k]) for k in kept if k in related}
    for name in ('author', 'updateAuthor'):
        if (user := _account(related.get(name))) is not None:
            worklog[name] = user
    return {'eventType': FORGE_WORKLOGGED, **event, 'worklog': worklog}


def add_worklog(host: Host, params: dict[str, str], body: Any) -> Answer:
    """``{"timeSpentSeconds": 5400}`` or ``{"timeSpent": "1h 30m"}``, optionally ``"comment"``."""
    issue = issue_by_ref(host.state, params['key'])
    if issue is None:
        return _NO_ISSUE
    if not isinstance(body, dict):
        return 400, errors('Can not deserialize the request: expected a JSON object.')
    seconds = body.get('timeSpentSeconds')
    if seconds is None and isinstance(body.get('timeSpent'), str):
        seconds = duration_seconds(body['timeSpent'])
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 60:
        return 400, errors(timeLogged='You must indicate the time spent working (at least 1m).')
    comment = body.get('comment')
    if comment is not None and not isinstance(comment, str):
        return 400, errors(comment='The comment must be text.')
    change = log_work(host.state, issue, seconds, host.app_user, comment)
    host.app_changed(change)
    return 201, change.related


def list_worklogs(host: Host, params: dict[str, str], body: Any) -> Answer:
    issue = issue_by_ref(host.state, params['key'])
    if issue is None:
        return _NO_ISSUE
    worklogs = (issue['fields'].get('worklog') or {}).get('worklogs', [])
    return 200, {'startAt': 0, 'maxResults': len(worklogs), 'total': len(worklogs), 'worklogs': worklogs}


ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
    (re.compile(r'/rest/api/2/issue/(?P<key>[^/]+)/worklog'), {'GET': list_worklogs, 'POST': add_worklog}),
)
