"""Automation for Jira actions as rulequeue actions (see rulequeue/a4j_import.py for the format).

Smart values pass through unchanged: our template engine reads the same ``{{...}}`` syntax.
Ids of projects, issue types, statuses and link types are looked up in :class:`IdNames`; an
action that needs one nobody named is unmappable, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rulequeue.a4j_components import IdNames, Unmappable, _ref, _text

# A4J edit-operation verbs on list fields, as our list changes.
_LIST_VERBS = {'ADD': 'add', 'REMOVE': 'remove'}


def _operand(value: Any, what: str) -> Any:
    """An operation's value: text and smart values as text, NAME/ID references as Jira objects."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [_operand(v, what) for v in value]
    if isinstance(value, Mapping):
        kind, inner = value.get('type'), value.get('value')
        if kind in ('SMART', 'FREE', 'VALUE'):
            return inner
        if kind == 'NAME':
            return {'name': inner}
        if kind == 'ID':
            return {'id': inner}  # the same Jira site: its ids stay valid
        raise Unmappable(f'{what}: a value given as {kind} (copied from elsewhere) cannot be carried over')
    raise Unmappable(f'{what}: unreadable value')


def _field_name(op: Mapping[str, Any]) -> str:
    ref = op.get('field')
    return _text(ref.get('value') if isinstance(ref, Mapping) else op.get('fieldId'), 'an operation field')


def _fields(operations: Any, advanced: Any) -> dict[str, Any]:
    """Edit/create operations (and "more options" JSON ``fields``) as our ``fields`` mapping."""
    fields: dict[str, Any] = {}
    for op in operations or []:
        name, verb = _field_name(op), op.get('type', 'SET')
        value = _operand(op.get('value'), name)
        if verb == 'SET':
            fields[name] = value
        elif verb in _LIST_VERBS:
            change = fields.setdefault(name, {})
            if not isinstance(change, dict) or set(change) - {'add', 'remove'}:
                raise Unmappable(f'{name} is both set and changed')
            change.setdefault(_LIST_VERBS[verb], []).extend(value if isinstance(value, list) else [value])
        else:
            raise Unmappable(f'{name}: operation {verb} has no rulequeue equivalent')
    if isinstance(advanced, str) and advanced.strip():
        try:
            extra = json.loads(advanced)
        except ValueError:
            raise Unmappable('"more options" is not JSON') from None
        if not isinstance(extra, dict) or set(extra) - {'fields'}:
            raise Unmappable('"more options" JSON other than "fields" (update verbs) cannot be carried over')
        fields.update(extra.get('fields') or {})
    return fields


def comment(value: Any, names: IdNames) -> list[dict[str, Any]]:
    if value.get('publicComment') is False:
        raise Unmappable('an internal (non-public) comment: rulequeue comments are public')
    if value.get('addCommentOnce'):
        raise Unmappable('"add comment once": rulequeue comments every time the rule runs')
    return [{'type': 'comment', 'body': _text(value.get('comment'), 'the comment (rich-text bodies are not read)')}]


def edit(value: Any, names: IdNames) -> list[dict[str, Any]]:
    fields = _fields(value.get('operations'), value.get('advancedFields'))
    if not fields:
        raise Unmappable('edits no field')
    return [{'type': 'edit', 'fields': fields}]


def transition(value: Any, names: IdNames) -> list[dict[str, Any]]:
    if value.get('operations') or value.get('advancedFields'):
        raise Unmappable('sets fields while transitioning: add an edit action instead')
    mode = value.get('transitionMode', 'status')
    if mode == 'status':
        return [{'type': 'transition', 'to': _ref(value.get('destinationStatus'), 'statuses', names, 'the status')}]
    if mode == 'transition' and isinstance(value.get('transitionMatch'), str) and value['transitionMatch']:
        return [{'type': 'transition', 'to': value['transitionMatch']}]  # ours matches transition names too
    raise Unmappable(f'transition mode {mode} has no rulequeue equivalent')


def assign(value: Any, names: IdNames) -> list[dict[str, Any]]:
    kind = value.get('assignType')
    assignee = value.get('assignee')
    if kind in ('UNASSIGN', 'UNASSIGNED') or (kind == 'SPECIFY_USER' and assignee is None):
        return [{'type': 'assign', 'account_id': None}]
    if kind == 'SPECIFY_USER' and isinstance(assignee, Mapping) and assignee.get('type') in ('ID', 'SMART'):
        return [{'type': 'assign', 'account_id': _text(assignee.get('value'), 'the assignee')}]
    raise Unmappable(f'assign by {kind}: rulequeue assigns a named user or nobody')


def create_issue(value: Any, names: IdNames) -> list[dict[str, Any]]:
    fields = _fields(value.get('operations'), value.get('advancedFields'))
    own: dict[str, str] = {}
    for key, kind in (('project', 'projects'), ('issuetype', 'issuetypes'), ('summary', '')):
        item = fields.pop(key, None)
        if isinstance(item, Mapping) and 'id' in item and kind:
            own[key] = names.name(kind, str(item['id']))
        elif isinstance(item, Mapping) and 'name' in item:
            own[key] = _text(item['name'], key)
        else:
            own[key] = _text(item, f'the {key}')
    if 'parent' in fields:
        raise Unmappable('creates a child issue: use create sub-tasks')
    return [{'type': 'create_issue', **own, 'fields': fields}]


def create_subtasks(value: Any, names: IdNames) -> list[dict[str, Any]]:
    summaries = []
    for item in value.get('subtasks') or []:
        summary = item.get('summary') if isinstance(item, Mapping) else item
        summary = summary.get('value') if isinstance(summary, Mapping) else summary
        if isinstance(item, Mapping) and set(item) - {'summary', 'id'}:
            raise Unmappable('sub-tasks with fields other than a summary')
        summaries.append(_text(summary, 'a sub-task summary'))
    if not summaries:
        raise Unmappable('no sub-tasks')
    return [{'type': 'create_subtasks', 'summaries': summaries}]


def link(value: Any, names: IdNames) -> list[dict[str, Any]]:
    link_type = _text(value.get('linkType'), 'the link type')
    direction, _, ident = link_type.partition(':')
    if ident and direction == 'outward':
        link_type = names.name('link_types', ident)
    elif ident:
        raise Unmappable(f'{direction} links: rulequeue links "<this issue> <outward> <other>"')
    issue = value.get('issue')
    if not isinstance(issue, Mapping) or issue.get('type') not in ('SMART', 'KEY', 'FREE'):
        raise Unmappable('the other issue is not given by key or smart value')
    return [{'type': 'link_issues', 'link_type': link_type, 'issue': _text(issue.get('value'), 'the other issue')}]


def add_watchers(value: Any, names: IdNames) -> list[dict[str, Any]]:
    users = value.get('watchers') or value.get('users') or []
    if not users or any(not isinstance(u, Mapping) or u.get('type') not in ('ID', 'SMART') for u in users):
        raise Unmappable('watchers not given as account ids or smart values')
    return [{'type': 'add_watcher', 'account_id': _text(u.get('value'), 'a watcher')} for u in users]


def refetch(value: Any, names: IdNames) -> list[dict[str, Any]]:
    return [{'type': 'refetch'}]


def log(value: Any, names: IdNames) -> list[dict[str, Any]]:
    return [{'type': 'log', 'message': _text(value, 'the log message')}]


def web_request(value: Any, names: IdNames) -> list[dict[str, Any]]:
    headers: dict[str, str] = {}
    for header in value.get('headers') or []:
        inner = header.get('value')
        if isinstance(inner, Mapping):
            if inner.get('secret'):
                raise Unmappable(f'header {header.get("name")} is a secret, which an export does not carry')
            inner = inner.get('keyOrValue')
        headers[_text(header.get('name'), 'a header name')] = _text(inner, 'a header value')
    content = value.get('contentType', 'empty')
    if value.get('sendIssue') or content not in ('empty', 'custom'):
        raise Unmappable(f'body "{content}" (the issue data as Jira would send it) cannot be carried over')
    result: dict[str, Any] = {'type': 'web_request', 'url': _text(value.get('url'), 'the URL')}
    result['method'] = value.get('method', 'POST')
    if headers:
        result['headers'] = headers
    if content == 'custom':
        result['body'] = _text(value.get('customBody'), 'the custom body')
    return [result]


ACTIONS: dict[str, Callable[[Any, IdNames], list[dict[str, Any]]]] = {
    'jira.issue.comment': comment,
    'jira.issue.edit': edit,
    'jira.issue.transition': transition,
    'jira.issue.assign': assign,
    'jira.issue.create': create_issue,
    'jira.issue.create.subtasks': create_subtasks,
    'jira.issue.link': link,
    'jira.issue.add.watcher': add_watchers,
    'jira.issue.refresh.issue': refetch,
    'codebarrel.action.log': log,
    'jira.issue.outgoing.webhook': web_request,
}
# Why some common components are refused, in the words the report uses.
KNOWN_UNSUPPORTED = {
    'jira.issue.outgoing.email': 'rulequeue does not send e-mail from rules',
    'jira.create.variable': 'rulequeue has no rule variables',
    'jira.create.mapping-variable': 'rulequeue has no lookup tables',
    'jira.lookup.issues': 'rulequeue has no lookup-issues action',
    'jira.issue.delete': 'rulequeue does not delete issues',
    'jira.issue.clone': 'rulequeue has no clone action (create issue copies nothing)',
    'jira.issue.delay': 'rulequeue has no delay action',
}
