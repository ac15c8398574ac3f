"""The Jira REST API v2 resources the app calls, answering with Jira's shapes and statuses.

Handlers run after the caller's JWT verified and any injected fault was served; they work on
the shared site state and report each change so the simulator can send the webhooks Jira
would send for the app's own changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs

from rulequeue.simulator import catalog
from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.edits import FieldErrors
from rulequeue.simulator.state import Change, SiteState

Answer = tuple[int, Any]  # status and JSON body (None: no body)


class Host(Protocol):
    """What the REST API needs from the simulator that serves it."""

    @property
    def state(self) -> SiteState: ...

    @property
    def app_user(self) -> JsonObject: ...

    def app_changed(self, change: Change) -> None:
        """Called after each change the app made (to send webhooks for it when asked to)."""

    def addon_json(self, app_key: str) -> JsonObject | None:
        """The app's entry in ``/rest/atlassian-connect/1/addons/{appKey}``, None if unknown."""

    def connect_client_key(self, app_key: str) -> str | None:
        """The site's Connect clientKey for the reserved app property, None if not served."""


Handler = Callable[[Host, dict[str, str], Any], Answer]


def errors(*messages: str, **fields: str) -> JsonObject:
    """An error body as Jira writes it."""
    return {'errorMessages': list(messages), 'errors': fields}


_NO_ISSUE: Answer = (404, errors('Issue does not exist or you do not have permission to see it.'))


def _object(body: Any) -> JsonObject | None:
    return body if isinstance(body, dict) else None


def get_issue(host: Host, params: dict[str, str], body: Any) -> Answer:
    from rulequeue.simulator.link_worklog import issue_by_ref  # imports this module

    issue = issue_by_ref(host.state, params['key'])  # by key or id, as Jira reads {issueIdOrKey}
    return _NO_ISSUE if issue is None else (200, issue)


def edit_issue(host: Host, params: dict[str, str], body: Any) -> Answer:
    key = params['key']
    request = _object(body)
    if key not in host.state.issues:
        return _NO_ISSUE
    if request is None:
        return 400, errors('Can not deserialize the request: expected a JSON object.')
    fields, update = request.get('fields', {}), request.get('update', {})
    if not isinstance(fields, dict) or not isinstance(update, dict):
        return 400, errors('"fields" and "update" must be JSON objects.')
    try:
        change = host.state.edit(key, fields, update)
    except FieldErrors as exc:
        return 400, exc.body()
    if change is not None:
        host.app_changed(change)
    return 204, None


def list_comments(host: Host, params: dict[str, str], body: Any) -> Answer:
    if params['key'] not in host.state.issues:
        return _NO_ISSUE
    # Entity properties come back only when asked for, as with Jira's ?expand=properties.
    with_properties = 'properties' in params.get('expand', '').split(',')
    comments = [
        c if with_properties else {k: v for k, v in c.items() if k != 'properties'}
        for c in host.state.comments[params['key']]
    ]
    return 200, {'startAt': 0, 'maxResults': 5000, 'total': len(comments), 'comments': comments}


def add_comment(host: Host, params: dict[str, str], body: Any) -> Answer:
    key = params['key']
    request = _object(body)
    if key not in host.state.issues:
        return _NO_ISSUE
    if request is None:
        return 400, errors('Can not deserialize the request: expected a JSON object.')
    text = request.get('body')
    if not isinstance(text, str) or not text.strip():
        return 400, errors(comment='Comment body can not be empty!')
    properties = request.get('properties', [])
    if not isinstance(properties, list) or not all(isinstance(p, dict) and 'key' in p for p in properties):
        return 400, errors(properties='Properties are a list of objects with a key and a value.')
    comment, change = host.state.comment(key, text, host.app_user, properties)
    host.app_changed(change)
    return 201, comment


def list_transitions(host: Host, params: dict[str, str], body: Any) -> Answer:
    if params['key'] not in host.state.issues:
        return _NO_ISSUE
    return 200, {'expand': 'transitions', 'transitions': host.state.transitions(params['key'])}


def do_transition(host: Host, params: dict[str, str], body: Any) -> Answer:
    key = params['key']
    request = _object(body)
    if key not in host.state.issues:
        return _NO_ISSUE
    transition = None if request is None else request.get('transition')
    if request is None or not isinstance(transition, dict) or 'id' not in transition:
        return 400, errors('Missing transition: the body needs {"transition": {"id": "..."}}.')
    transition_id = str(transition['id'])
    available = {t['id'] for t in host.state.transitions(key)}
    target = catalog.status_by_transition(transition_id)
    if target is None or transition_id not in available:
        return 400, errors(f"Transition id '{transition_id}' is not valid for this issue.")
    fields, update = request.get('fields', {}), request.get('update', {})
    if not isinstance(fields, dict) or not isinstance(update, dict):
        return 400, errors('"fields" and "update" must be JSON objects.')
    try:
        change = host.state.transition(key, target, fields, update)
    except FieldErrors as exc:
        return 400, exc.body()
    host.app_changed(change)
    return 204, None


def assign(host: Host, params: dict[str, str], body: Any) -> Answer:
    key = params['key']
    request = _object(body)
    if key not in host.state.issues:
        return _NO_ISSUE
    if request is None or 'accountId' not in request:
        return 400, errors('The body needs an accountId (null to unassign).')
    account_id = request['accountId']
    if account_id is not None and not isinstance(account_id, str):
        return 400, errors(assignee='accountId must be a string or null.')
    # '-1' asks for the project's default assignee, which is nobody on this site.
    try:
        change = host.state.assign(key, None if account_id == '-1' else account_id)
    except FieldErrors as exc:
        return 400, exc.body()
    if change is not None:
        host.app_changed(change)
    return 204, None


def myself(host: Host, params: dict[str, str], body: Any) -> Answer:
    user = host.state.find_user(host.app_user['accountId'])
    return 200, {**(user or {}), 'locale': 'en_US', 'groups': {'size': 1, 'items': []}}


def addon(host: Host, params: dict[str, str], body: Any) -> Answer:
    entry = host.addon_json(params['app_key'])
    if entry is None:
        return 404, errors(f"Add-on with key '{params['app_key']}' does not exist.")
    return 200, entry


_ISSUE = r'/rest/api/2/issue/(?P<key>[^/]+)'
ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
    (re.compile(_ISSUE), {'GET': get_issue, 'PUT': edit_issue}),
    (re.compile(_ISSUE + '/comment'), {'GET': list_comments, 'POST': add_comment}),
    (re.compile(_ISSUE + '/transitions'), {'GET': list_transitions, 'POST': do_transition}),
    (re.compile(_ISSUE + '/assignee'), {'PUT': assign}),
    (re.compile(r'/rest/api/2/myself'), {'GET': myself}),
    (re.compile(r'/rest/atlassian-connect/1/addons/(?P<app_key>[^/]+)'), {'GET': addon}),
)
# Query parameters handlers may read (others, such as jwt, are not theirs).
QUERY_PARAMETERS = frozenset({'expand', 'jql', 'startAt', 'maxResults', 'fields', 'accountId'})


def dispatch(host: Host, method: str, path: str, body: Any, query: str = '') -> Answer:
    """Route a verified call by its decoded path; 404 for unknown resources, 405 for methods.

    Query parameters in QUERY_PARAMETERS reach handlers beside the path parameters.
    """
    # Imported here: search and relations import this module for Answer, Host and errors.
    from rulequeue.simulator import changelog, connect_property, link_worklog, relations
    from rulequeue.simulator.search import search_v2, search_v3
    from rulequeue.simulator.users import user, user_groups

    arguments = {name: values[-1] for name, values in parse_qs(query).items() if name in QUERY_PARAMETERS}
    routes: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
        *ROUTES,
        *relations.ROUTES,
        *link_worklog.ROUTES,
        *connect_property.ROUTES,
        *changelog.ROUTES,
        (re.compile(r'/rest/api/2/search'), {'GET': search_v2}),
        (re.compile(r'/rest/api/3/search/jql'), {'POST': search_v3}),
        (re.compile(r'/rest/api/2/user/groups'), {'GET': user_groups}),
        (re.compile(r'/rest/api/2/user'), {'GET': user}),
    )
    for pattern, handlers in routes:
        match = pattern.fullmatch(path.rstrip('/') or '/')
        if match is None:
            continue
        handler = handlers.get(method)
        if handler is None:
            return 405, errors(f'Method {method} is not allowed on this resource.')
        params = {**arguments, **match.groupdict()}
        if 'key' in params:  # Jira takes an issue id wherever it takes a key (issueIdOrKey)
            params['key'] = host.state.key_for(params['key'])
        return handler(host, params, body)
    return 404, errors('No REST resource at this path on the simulated Jira site.')
