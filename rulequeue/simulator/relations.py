"""Issue creation (with sub-tasks and entity properties), issue links and watchers on the simulated site.

REST API v2 shapes: ``POST /rest/api/2/issue``, ``POST /rest/api/2/issueLink`` (links then appear
in both issues' ``fields.issuelinks``), ``GET|POST /rest/api/2/issue/{key}/watchers`` and
``GET|PUT /rest/api/2/issue/{key}/properties/{propertyKey}``. The search (rulequeue.simulator.search)
answers ``issue.property[<key>].<path> = "<value>"`` through :func:`property_matches`, as Jira does
for a property an app declares in its ``jiraEntityProperties`` module.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from rulequeue.simulator import catalog, link_worklog
from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.rest import Answer, Handler, Host, errors
from rulequeue.simulator.state import Change, SimulatorError, SiteState

# Link type name: (inward description, outward description), as on a new Jira Cloud site.
LINK_TYPES: dict[str, tuple[str, str]] = {
    'Blocks': ('is blocked by', 'blocks'),
    'Cloners': ('is cloned by', 'clones'),
    'Duplicate': ('is duplicated by', 'duplicates'),
    'Relates': ('relates to', 'relates to'),
}
_PROPERTY_CLAUSE = re.compile(
    r'\s*issue\.property\[(?P<key>[A-Za-z0-9._-]+)\]\.(?P<path>[A-Za-z0-9_]+)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*'
)
_NO_ISSUE: Answer = (404, errors('Issue does not exist or you do not have permission to see it.'))


def _named(value: Any, *names: str) -> str | None:
    """``{"key": "PROJ"}`` / ``{"name": "Bug"}`` / ``{"id": …}`` as Jira accepts them, or None."""
    if isinstance(value, dict):
        for name in names:
            if isinstance(value.get(name), str):
                return str(value[name])
    return None


def _brief(issue: JsonObject) -> JsonObject:
    """An issue as Jira embeds it in another's parent, sub-tasks or links."""
    fields = issue['fields']
    wanted = ('summary', 'status', 'priority', 'issuetype')
    return {
        'id': issue['id'],
        'key': issue['key'],
        'self': issue['self'],
        'fields': {k: copy.deepcopy(fields[k]) for k in wanted},
    }


def create_issue(host: Host, params: dict[str, str], body: Any) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get('fields'), dict):
        return 400, errors('The body needs a "fields" object.')
    fields = dict(body['fields'])
    project = _named(fields.pop('project', None), 'key')
    issuetype = _named(fields.pop('issuetype', None), 'name')
    summary = fields.pop('summary', None)
    parent_key = _named(fields.pop('parent', None), 'key')
    properties = body.get('properties', [])
    if not project:
        return 400, errors(project='Specify a valid project ID or key')
    if issuetype not in catalog.ISSUE_TYPES:
        return 400, errors(issuetype='Specify a valid issue type')
    if not isinstance(summary, str) or not summary.strip():
        return 400, errors(summary='You must specify a summary of the issue.')
    if not isinstance(properties, list) or not all(isinstance(p, dict) and 'key' in p for p in properties):
        return 400, errors(properties='Properties are a list of objects with a key and a value.')
    parent = host.state.issues.get(parent_key or '')
    if (issuetype == 'Sub-task') != (parent is not None):
        return 400, errors(parent='A sub-task needs an existing parent issue; other issue types have none.')
    try:
        change = host.state.create(
            project=project, issuetype=issuetype, summary=summary, reporter=host.app_user, changes=fields
        )
    except SimulatorError as exc:
        return 400, errors(str(exc))
    issue = host.state.issues[change.issue['key']]
    if parent is not None:
        issue['fields']['parent'] = _brief(parent)
        parent['fields']['subtasks'].append(_brief(issue))
    host.state.properties[issue['key']] = {str(p['key']): p.get('value') for p in properties}
    host.app_changed(dataclasses.replace(change, issue=copy.deepcopy(issue)))
    return 201, {'id': issue['id'], 'key': issue['key'], 'self': issue['self']}


def link_issues(host: Host, params: dict[str, str], body: Any) -> Answer:
    """``{"type": {"name"}, "inwardIssue": {"key"}, "outwardIssue": {"key"}}``: the inward issue
    reads with the outward description ("A blocks B"), as Jira shows such a link."""
    if not isinstance(body, dict):
        return 400, errors('Can not deserialize the request: expected a JSON object.')
    type_name = _named(body.get('type'), 'name')
    names = LINK_TYPES.get(type_name or '')
    if type_name is None or names is None:
        return 404, errors(f"No issue link type with name '{type_name}' found.")
    inward = host.state.issues.get(_named(body.get('inwardIssue'), 'key') or '')
    outward = host.state.issues.get(_named(body.get('outwardIssue'), 'key') or '')
    if inward is None or outward is None:
        return _NO_ISSUE
    host.app_changed(make_link(host.state, type_name, inward, outward))
    return 201, None


def make_link(state: SiteState, type_name: str, inward: JsonObject, outward: JsonObject) -> Change:
    """Link two issues with a type of LINK_TYPES (``inward <outward description> outward``); the
    change is what Jira's ``issuelink_created`` reports, the inward issue being its source."""
    names = LINK_TYPES[type_name]
    link_id = str(10000 + sum(len(i['fields']['issuelinks']) for i in state.issues.values()))
    link_type = {'id': str(10000 + list(LINK_TYPES).index(type_name)), 'name': type_name}
    link_type |= {'inward': names[0], 'outward': names[1]}
    inward['fields']['issuelinks'].append({'id': link_id, 'type': link_type, 'outwardIssue': _brief(outward)})
    outward['fields']['issuelinks'].append({'id': link_id, 'type': link_type, 'inwardIssue': _brief(inward)})
    return link_worklog.link_change(link_id, link_type, inward, outward)


def attach_subtask(state: SiteState, parent_key: str, child_key: str) -> None:
    """Make ``child_key`` a sub-task of ``parent_key``, as a person would in Jira (no webhook)."""
    parent, child = state.require(parent_key), state.require(child_key)
    child['fields']['parent'] = _brief(parent)
    parent['fields']['subtasks'].append(_brief(child))


def add_link(state: SiteState, type_name: str, inward_key: str, outward_key: str) -> None:
    """Link two issues ("<inward> <outward description> <outward>"), as a person would (no webhook)."""
    inward, outward = state.require(inward_key), state.require(outward_key)
    names = LINK_TYPES[type_name]
    link_id = str(10000 + sum(len(i['fields']['issuelinks']) for i in state.issues.values()))
    link_type = {'id': str(10000 + list(LINK_TYPES).index(type_name)), 'name': type_name}
    link_type |= {'inward': names[0], 'outward': names[1]}
    inward['fields']['issuelinks'].append({'id': link_id, 'type': link_type, 'outwardIssue': _brief(outward)})
    outward['fields']['issuelinks'].append({'id': link_id, 'type': link_type, 'inwardIssue': _brief(inward)})


def _watchers(host: Host, key: str) -> list[str]:
    # The reporter watches a new issue, as on Jira.
    reporter = host.state.issues[key]['fields']['reporter']
    return host.state.watchers.setdefault(key, [reporter['accountId']] if reporter else [])


def list_watchers(host: Host, params: dict[str, str], body: Any) -> Answer:
    key = params['key']
    if key not in host.state.issues:
        return _NO_ISSUE
    people = [host.state.find_user(a) for a in _watchers(host, key)]
    watchers = [p for p in people if p is not None]
    watching = host.app_user['accountId'] in _watchers(host, key)
    return 200, {'isWatching': watching, 'watchCount': len(watchers), 'watchers': watchers}


def add_watcher(host: Host, params: dict[str, str], body: Any) -> Answer:
    """The body is a JSON string, the account id (Jira's own shape for this resource)."""
    key = params['key']
    if key not in host.state.issues:
        return _NO_ISSUE
    account_id = host.app_user['accountId'] if body is None else body
    if not isinstance(account_id, str) or host.state.find_user(account_id) is None:
        return 400, errors(f'The user "{account_id}" does not exist.')
    watchers = _watchers(host, key)
    if account_id not in watchers:
        watchers.append(account_id)
    host.state.issues[key]['fields']['watches']['watchCount'] = len(watchers)
    return 204, None


def get_property(host: Host, params: dict[str, str], body: Any) -> Answer:
    values = host.state.properties.get(params['key'], {})
    if params['key'] not in host.state.issues or params['property'] not in values:
        return 404, errors(f'The property with key {params["property"]} does not exist.')
    return 200, {'key': params['property'], 'value': values[params['property']]}


def set_property(host: Host, params: dict[str, str], body: Any) -> Answer:
    if params['key'] not in host.state.issues:
        return _NO_ISSUE
    values = host.state.properties.setdefault(params['key'], {})
    created = params['property'] not in values
    values[params['property']] = body
    return (201 if created else 200), None


def property_matches(host: Host, jql: str) -> list[JsonObject] | None:
    """Issues matching ``issue.property[<key>].<path> = "<value>"``; None for any other query."""
    clause = _PROPERTY_CLAUSE.fullmatch(jql)
    if clause is None:
        return None
    value = re.sub(r'\\(.)', r'\1', clause['value'])
    found = []
    for key, issue in host.state.issues.items():
        stored = host.state.properties.get(key, {}).get(clause['key'])
        if isinstance(stored, dict) and str(stored.get(clause['path'])) == value:
            found.append(issue)
    return sorted(found, key=lambda i: int(i['id']), reverse=True)


_ISSUE = r'/rest/api/2/issue/(?P<key>[^/]+)'
ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
    (re.compile(r'/rest/api/2/issue'), {'POST': create_issue}),
    (re.compile(r'/rest/api/2/issueLink'), {'POST': link_issues}),
    (re.compile(_ISSUE + '/watchers'), {'GET': list_watchers, 'POST': add_watcher}),
    (re.compile(_ISSUE + r'/properties/(?P<property>[^/]+)'), {'GET': get_property, 'PUT': set_property}),
)
