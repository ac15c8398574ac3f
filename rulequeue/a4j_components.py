"""One Automation for Jira component (trigger, condition or action) as a rulequeue rule part.

Each mapper takes the component's ``value`` and returns our JSON (validated later, with the whole
rule, by ``schemas.rules.Rule``), or raises :class:`Unmappable` saying why it cannot be carried
over faithfully. A mapper never approximates: an option rulequeue has no equivalent for (an
operation filter, a non-public comment, "add comment once", a status given by an id nobody
named) makes the component unmappable rather than quietly changing what the rule does.

See rulequeue/a4j_import.py for the export format, the component types mapped and the sources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Unmappable(Exception):
    """A component rulequeue cannot express; ``reason`` goes to the import report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IdNames:
    """Names for the site-specific ids an export carries (an export names projects, statuses,
    issue types and link types by id; rulequeue rules name them by key or name)."""

    projects: Mapping[str, str] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    issuetypes: Mapping[str, str] = field(default_factory=dict)
    link_types: Mapping[str, str] = field(default_factory=dict)

    def name(self, kind: str, ident: str) -> str:
        found = getattr(self, kind).get(ident)
        if not isinstance(found, str):
            what = _SINGULAR[kind]
            raise Unmappable(
                f'{what} id {ident} has no {"key" if kind == "projects" else "name"}: give it in "ids.{kind}"'
            )
        return found


_SINGULAR = {'projects': 'project', 'statuses': 'status', 'issuetypes': 'issue type', 'link_types': 'link type'}


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise Unmappable(f'{what} is missing or not text')
    return value


def _ref(ref: Any, kind: str, names: IdNames, what: str) -> str:
    """A ``{"type": "ID"|"NAME"|..., "value": ...}`` reference as a name (ids looked up)."""
    if isinstance(ref, str):
        return _text(ref, what)
    if not isinstance(ref, Mapping):
        raise Unmappable(f'{what} is missing')
    value = ref.get('value')
    if ref.get('type') == 'ID':
        return names.name(kind, _text(str(value) if value is not None else None, what))
    if ref.get('type') in ('NAME', 'FREE', 'SMART', 'VALUE', 'KEY', None):
        return _text(value, what)
    raise Unmappable(f'{what} given as {ref.get("type")}, which rulequeue cannot carry over')


# Triggers ---------------------------------------------------------------------------------

ISSUE_EVENTS = {
    'jira.issue.event.trigger:created': 'issue_created',
    'jira.issue.event.trigger:updated': 'issue_updated',
    'jira.issue.event.trigger:transitioned': 'issue_transitioned',
    'jira.issue.event.trigger:commented': 'issue_commented',
    'jira.issue.event.trigger:assigned': 'issue_assigned',
    'jira.issue.event.trigger:deleted': 'issue_deleted',
    'jira.issue.field.changed': 'field_value_changed',
    'jira.manual.trigger.issue': 'manual',
    'jira.issue.linked': 'issue_linked',
    'jira.worklog.event:created': 'worklog_added',
}
SCHEDULED = 'jira.jql.scheduled'


def trigger(kind: str, value: Mapping[str, Any], names: IdNames) -> dict[str, Any]:
    """Our trigger for an A4J trigger type and value (its JQL filter included)."""
    if kind == SCHEDULED:
        return _scheduled(value)
    ours = ISSUE_EVENTS.get(kind)
    if ours is None:
        raise Unmappable('rulequeue has no such trigger')
    result: dict[str, Any] = {'type': ours}
    if isinstance(value.get('jql'), str) and value['jql'].strip():
        result['jql'] = value['jql']
    return {**result, **_trigger_options(ours, value, names)}


def _trigger_options(ours: str, value: Mapping[str, Any], names: IdNames) -> dict[str, Any]:
    """The options of our trigger type beyond its JQL filter."""
    result: dict[str, Any] = {}
    if ours == 'issue_transitioned':
        for side, key in (('fromStatus', 'from'), ('toStatus', 'to')):
            statuses = value.get(side) or []
            if len(statuses) > 1:
                raise Unmappable(
                    f'{side} lists {len(statuses)} statuses; a rulequeue trigger takes one (split the rule)'
                )
            if statuses:
                result[key] = _ref(statuses[0], 'statuses', names, side)
    elif ours == 'field_value_changed':
        if value.get('changeType', 'ANY_CHANGE') != 'ANY_CHANGE':
            raise Unmappable(f'change type {value.get("changeType")}: rulequeue fires on any change')
        if value.get('actions'):
            raise Unmappable('restricted to some operations (create/edit/...): rulequeue fires on any')
        fields = value.get('fields') or []
        result['fields'] = [_text(f.get('value') if isinstance(f, Mapping) else f, 'a field') for f in fields]
    elif ours == 'issue_linked' and value.get('linkTypes'):
        link_types = value['linkTypes']
        if not isinstance(link_types, list) or len(link_types) != 1 or not isinstance(link_types[0], str):
            raise Unmappable('several link types: a rulequeue trigger takes one')
        result['link_type'] = link_types[0]
    elif ours == 'manual' and value.get('groups'):
        raise Unmappable('restricted to groups: rulequeue lets anyone who may run rules run it')
    return result


def _scheduled(value: Mapping[str, Any]) -> dict[str, Any]:
    jql = value.get('jql')
    if not isinstance(jql, str) or not jql.strip():
        raise Unmappable('no JQL: a rulequeue scheduled rule runs for each issue its JQL finds')
    if value.get('processIssuesInBulk'):
        raise Unmappable('bulk mode ({{issues}}): rulequeue runs a scheduled rule once per issue')
    if value.get('onlyUpdatedIssues'):
        raise Unmappable('"only issues changed since the last run": rulequeue has no such option')
    schedule = value.get('schedule') or {}
    if schedule.get('method') == 'FIXED':
        cron = _fixed_rate(schedule.get('rate'), schedule.get('rateInterval'))
    else:
        cron = _quartz_to_cron(_text(schedule.get('cronExpression'), 'the cron expression'))
    return {'type': 'scheduled', 'cron': cron, 'jql': jql}


def _fixed_rate(rate: Any, interval: Any) -> str:
    """Every N minutes or hours (dividing an hour or a day evenly) as cron, else unmappable."""
    if not isinstance(rate, int) or not isinstance(interval, int) or rate < 1 or interval < 1:
        raise Unmappable('the fixed-rate schedule is incomplete')
    minutes, rest = divmod(rate * interval, 60)
    if rest == 0 and minutes < 60 and 60 % minutes == 0:
        return f'*/{minutes} * * * *'
    hours, rest = divmod(minutes, 60)
    if rest == 0 and hours in (1, 24):
        return '0 * * * *' if hours == 1 else '0 0 * * *'
    if rest == 0 and 0 < hours < 24 and 24 % hours == 0:
        return f'0 */{hours} * * *'
    raise Unmappable(f'every {rate * interval} seconds has no cron equivalent')


def _quartz_to_cron(expression: str) -> str:
    """A Quartz cron (seconds first, optional year, days of week 1-7 from Sunday) as five fields."""
    parts = expression.split()
    if len(parts) not in (6, 7) or parts[0] != '0' or (len(parts) == 7 and parts[6] != '*'):
        raise Unmappable(f'cron {expression!r}: only whole minutes in every year can be carried over')
    minute, hour, day, month, weekday = (p.replace('?', '*') for p in parts[1:6])
    if '/' in weekday or 'L' in weekday:
        raise Unmappable(f'cron {expression!r}: the day-of-week field has no five-field equivalent')
    weekday = re.sub(r'(?<!#)\d+', lambda m: str(int(m.group()) - 1), weekday)
    return f'{minute} {hour} {day} {month} {weekday}'


# Conditions -------------------------------------------------------------------------------

_FIELD_OPS = {
    'EQUALS': 'equals',
    'NOT_EQUALS': 'not_equals',
    'ONE_OF': 'in',
    'NOT_ONE_OF': 'not_in',
    'EMPTY': 'is_empty',
    'NOT_EMPTY': 'is_not_empty',
    'CONTAINS': 'contains',
    'GREATER_THAN': 'greater_than',
    'LESS_THAN': 'less_than',
    'GREATER_THAN_OR_EQUAL': 'greater_than_or_equal',
    'LESS_THAN_OR_EQUAL': 'less_than_or_equal',
}
_COMPARE_OPS = {k: _FIELD_OPS[k] for k in ('EQUALS', 'NOT_EQUALS', 'CONTAINS', 'GREATER_THAN', 'LESS_THAN')}
_ID_KINDS = {'status': 'statuses', 'issuetype': 'issuetypes', 'project': 'projects'}
_USER_CHECKS = {'USER_IS': 'is', 'USER_IS_NOT': 'is_not', 'IN_GROUP': 'in_group', 'NOT_IN_GROUP': 'not_in_group'}


def jql_condition(value: Any, names: IdNames) -> list[dict[str, Any]]:
    query = value.get('query') if isinstance(value, Mapping) else value
    if isinstance(query, Mapping):
        query = query.get('value')
    return [{'type': 'jql', 'jql': _text(query, 'the JQL')}]


def field_condition(value: Any, names: IdNames) -> list[dict[str, Any]]:
    name = _text((value.get('selectedField') or {}).get('value'), 'the field')
    comparison = value.get('comparison')
    op = _FIELD_OPS.get(comparison) if isinstance(comparison, str) else None
    if op is None:
        raise Unmappable(f'comparison {comparison} has no rulequeue equivalent')
    if op in ('is_empty', 'is_not_empty'):
        return [{'type': 'field', 'field': name, 'op': op}]
    compare = value.get('compareValue') or {}
    raw = compare.get('value')
    values = json.loads(raw) if compare.get('multiValue') and isinstance(raw, str) else raw
    items = values if isinstance(values, list) else [values]
    if compare.get('type') == 'ID':
        kind = _ID_KINDS.get(name.lower())
        if kind is None:
            raise Unmappable(f'{name} compared by id; rulequeue compares it by value')
        items = [names.name(kind, str(i)) for i in items]
    elif compare.get('type') not in ('NAME', 'VALUE', 'FREE', None):
        raise Unmappable(f'compare value given as {compare.get("type")}')
    if op in ('in', 'not_in'):
        return [{'type': 'field', 'field': name, 'op': op, 'value': items}]
    if len(items) != 1:
        raise Unmappable(f'{comparison} with {len(items)} values')
    return [{'type': 'field', 'field': name, 'op': op, 'value': items[0]}]


def compare_condition(value: Any, names: IdNames) -> list[dict[str, Any]]:
    first, second, operator = value.get('first'), value.get('second'), value.get('operator')
    left = _text(first, 'the first value')
    right = second if isinstance(second, str) else ''
    if operator == 'REGEX_MATCHES':  # Java matches(): the whole text
        return [{'type': 'compare', 'left': left, 'op': 'matches', 'right': f'^(?:{right})$'}]
    if operator == 'REGEX_CONTAINS':
        return [{'type': 'compare', 'left': left, 'op': 'matches', 'right': right}]
    if operator in ('STARTS_WITH', 'ENDS_WITH') and '{{' not in right:
        pattern = f'^{re.escape(right)}' if operator == 'STARTS_WITH' else f'{re.escape(right)}$'
        return [{'type': 'compare', 'left': left, 'op': 'matches', 'right': pattern}]
    op = _COMPARE_OPS.get(operator) if isinstance(operator, str) else None
    if op is None:
        raise Unmappable(f'operator {operator} has no rulequeue equivalent')
    return [{'type': 'compare', 'left': left, 'op': op, 'right': right}]


def user_condition(value: Any, names: IdNames) -> list[dict[str, Any]]:
    checks = value.get('conditions') or []
    if len(checks) > 1 and value.get('operator', 'AND') != 'AND':
        raise Unmappable('"any of" several user checks: rulequeue conditions all have to hold')
    result: list[dict[str, Any]] = []
    for check in checks:
        who = check.get('field')
        who = who.get('value') if isinstance(who, Mapping) else who
        if who != 'initiator':
            raise Unmappable(f'checks {who}: rulequeue checks only the initiator')
        op = _USER_CHECKS.get(check.get('check'))
        if op is None:
            raise Unmappable(f'check {check.get("check")} has no rulequeue equivalent')
        criteria = [c.get('value') for c in check.get('criteria') or [] if isinstance(c, Mapping)]
        if not criteria or not all(isinstance(c, str) and c for c in criteria):
            raise Unmappable('the user check names no user or group')
        if op in ('is', 'is_not'):
            result.append({'type': 'user', 'who': 'initiator', 'op': op, 'account_ids': criteria})
        elif len(criteria) == 1:
            result.append({'type': 'user', 'who': 'initiator', 'op': op, 'group': criteria[0]})
        else:
            raise Unmappable('several groups in one check')
    return result


CONDITIONS: dict[str, Callable[[Any, IdNames], list[dict[str, Any]]]] = {
    'jira.jql.condition': jql_condition,
    'jira.issue.condition': field_condition,
    'jira.comparator.condition': compare_condition,
    'jira.user.condition': user_condition,
}
