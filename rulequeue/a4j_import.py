"""Import rules exported from Automation for Jira (A4J) as rulequeue rules.

The export
    ``{"rules": [rule, ...]}`` (the Data Center export and the shape most tools write) or one
    rule as the Cloud REST API returns it, ``{"rule": rule}``. A rule has ``name``, ``state``
    (ENABLED/DISABLED), ``description``, ``canOtherRuleTrigger``, a scope (``projects``:
    ``[{"projectId", "projectKey"?}]`` on DC; ``ruleScopeARIs`` or ``ruleScope.resources``, project
    ARIs, on Cloud; or the trigger's ``eventFilters``), a ``trigger`` and ``components``. Every
    component is ``{"component": TRIGGER|CONDITION|CONDITION_BLOCK|ACTION|BRANCH, "type",
    "value", "children", "conditions"}``; the chain is linear, a condition stopping what follows
    it, and an if/else is a ``jira.condition.container.block`` whose ``children`` are
    ``jira.condition.if.block`` blocks (their own ``conditions``; ``children`` run when they hold;
    the last block without conditions is the "else"). Our extension: an optional top-level
    ``"ids": {"projects"|"statuses"|"issuetypes"|"link_types": {id: key or name}}``, because an
    export names these by site-specific id and rulequeue rules by key or name.

Mapped (trigger types): ``jira.issue.event.trigger:`` created, updated, transitioned (one from
and one to status), commented, assigned, deleted; ``jira.issue.field.changed`` (any change, any
operation); ``jira.manual.trigger.issue``; ``jira.jql.scheduled`` (Quartz cron or a fixed rate,
per issue of its JQL; read in UTC); ``jira.issue.linked`` (one link type name, assumed shape);
``jira.worklog.event:created``. Conditions: ``jira.jql.condition``, ``jira.issue.condition``,
``jira.comparator.condition``, ``jira.user.condition`` (the initiator only), if/else blocks; a
condition after an action becomes an ``if`` around the rest. Actions: ``jira.issue.comment``,
``.edit``, ``.transition``, ``.assign`` (a user or nobody), ``.create``, ``.create.subtasks``,
``.link``, ``.add.watcher``, ``.refresh.issue``, ``codebarrel.action.log``,
``jira.issue.outgoing.webhook``. Not mapped: branches and delays (our schema gained them while
this was written; no public export showed an A4J delay value, and branches are left for a
follow-up), e-mail, variables, lookups and anything else (rulequeue/a4j_actions.py
KNOWN_UNSUPPORTED).

Never a silent partial import: a rule with any unmappable component is not imported, and the
report names the rule, the component type and why. ``allow_partial`` imports such a rule with the
unmappable components dropped, always disabled, and the report still names what was dropped; a
trigger or scope that cannot be mapped, or a rule that fails validation, is never imported.

Where the format knowledge came from (public sources, read, not copied): Atlassian's Cloud
automation REST API notes ("To get the expected shape for a specific component, export a rule
containing the component"), Atlassian support pages on triggers/conditions/actions (see
/work/shared/AUTOMATION.md), and public GitHub repositories holding real exports and tools that
read them: a Data Center rules-as-code project's rule documentation (trigger, log, web request,
edit/create/transition, if/else, comparator and issue-field condition shapes), a Cloud
automation API guide (rule envelope, ``jira.issue.field.changed``, ``jira.issue.condition``,
``jira.issue.create`` operations), an exporter that renders exports to Confluence (comment,
assign ``assignType``, link, sub-tasks, re-fetch, JQL condition shapes), and Salto's Jira adapter
tests (``jira.user.condition`` ``conditions[].check/criteria``). Shapes taken on trust from a
single source: user-check names other than USER_IS, the sub-task and add-watcher values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from rulequeue import a4j_actions, a4j_components
from rulequeue.a4j_components import IdNames, Unmappable
from rulequeue.errors import Unprocessable
from rulequeue.store import rules as rule_store
from rulequeue.store.db import Pool
from schemas.rules import Rule

IF_CONTAINER = 'jira.condition.container.block'
_PROJECT_ARI = re.compile(r'^ari:cloud:jira:[^:]*:project/(\d+)$')
_SITE_ARI = re.compile(r'^ari:cloud:jira::site/')
_ID_KINDS = ('projects', 'statuses', 'issuetypes', 'link_types')


class Dropped(BaseModel):
    """One component that could not be carried over, and why."""

    type: str
    reason: str


class Imported(BaseModel):
    name: str
    id: str | None  # None in a dry run
    enabled: bool
    dropped: list[Dropped] = []


class Skipped(BaseModel):
    name: str
    components: list[Dropped]


class ImportReport(BaseModel):
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    imported: list[Imported]
    skipped: list[Skipped]


class _Mapping:
    """The problems found while mapping one rule; ``fatal`` ones stop it even when partial."""

    def __init__(self, names: IdNames) -> None:
        self.names = names
        self.dropped: list[Dropped] = []
        self.fatal = False

    def drop(self, kind: str, reason: str, *, fatal: bool = False) -> None:
        self.dropped.append(Dropped(type=kind, reason=reason))
        self.fatal = self.fatal or fatal

    def component(self, comp: Any) -> tuple[str, list[dict[str, Any]]] | None:
        """("condition"|"action", our parts) of one component, or None (recorded as dropped)."""
        kind = comp.get('type') if isinstance(comp, Mapping) else None
        if not isinstance(kind, str):
            self.drop('(unknown)', 'a component without a type')
            return None
        value = comp.get('value')
        value = value if value is not None else {}
        try:
            if kind in a4j_components.CONDITIONS:
                return 'condition', a4j_components.CONDITIONS[kind](value, self.names)
            if kind in a4j_actions.ACTIONS:
                return 'action', a4j_actions.ACTIONS[kind](value, self.names)
            if kind in a4j_actions.KNOWN_UNSUPPORTED:
                raise Unmappable(a4j_actions.KNOWN_UNSUPPORTED[kind])
            if comp.get('component') == 'BRANCH':
                raise Unmappable('rulequeue rules have no branches (split into rules per issue)')
            raise Unmappable('no rulequeue equivalent')
        except Unmappable as exc:
            self.drop(kind, exc.reason)
        except (AttributeError, LookupError, TypeError, ValueError):
            self.drop(kind, 'the component value has an unexpected shape')
        return None

    def chain(self, components: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(conditions gating the whole chain, its steps) of a linear A4J component chain."""
        conditions: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        for index, comp in enumerate(components):
            if isinstance(comp, Mapping) and comp.get('type') == IF_CONTAINER:
                steps.extend(self.if_else(comp))
                continue
            mapped = self.component(comp)
            if mapped is None:
                continue
            role, parts = mapped
            if role == 'action':
                steps.extend(parts)
            elif not steps:
                conditions.extend(parts)
            else:  # a condition after an action gates only what follows it
                rest_conditions, rest = self.chain(components[index + 1 :])
                steps.extend(_gated([*parts, *rest_conditions], rest))
                break
        return conditions, steps

    def if_else(self, container: Mapping[str, Any]) -> list[dict[str, Any]]:
        """An if / else-if / else ladder as nested ``if`` steps."""
        otherwise: list[dict[str, Any]] = []
        for block in reversed(_list(container.get('children'))):
            if not isinstance(block, Mapping):
                self.drop(IF_CONTAINER, 'a block that is not a component')
                continue
            block_conditions: list[dict[str, Any]] = []
            for comp in _list(block.get('conditions')):
                mapped = self.component(comp)
                if mapped is not None and mapped[0] == 'condition':
                    block_conditions.extend(mapped[1])
            match = _obj(block.get('value')).get('conditionMatchType', 'ALL')
            if match != 'ALL' and len(_list(block.get('conditions'))) > 1:
                self.drop(str(block.get('type')), 'matches any of several conditions: rulequeue needs all to hold')
            lead, steps = self.chain(_list(block.get('children')))
            then = _gated(lead, steps)
            if not _list(block.get('conditions')):  # the "else" block
                otherwise = then
            elif block_conditions and (then or otherwise):
                otherwise = [{'type': 'if', 'conditions': block_conditions, 'then': then, 'else': otherwise}]
        return otherwise


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _gated(conditions: list[dict[str, Any]], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not conditions or not steps:
        return steps
    return [{'type': 'if', 'conditions': conditions, 'then': steps}]


def _projects(raw: Mapping[str, Any], trigger_value: Mapping[str, Any], names: IdNames) -> list[str]:
    refs = (
        trigger_value.get('eventFilters')
        or raw.get('ruleScopeARIs')
        or _obj(raw.get('ruleScope')).get('resources')
        or raw.get('projects')
        or []
    )
    keys: list[str] = []
    for ref in _list(refs):
        if isinstance(ref, Mapping) and isinstance(ref.get('projectKey'), str):
            keys.append(ref['projectKey'])
        elif isinstance(ref, Mapping) and ref.get('projectId') is not None:
            keys.append(names.name('projects', str(ref['projectId'])))
        elif isinstance(ref, str) and (match := _PROJECT_ARI.match(ref)):
            keys.append(names.name('projects', match.group(1)))
        elif isinstance(ref, str) and _SITE_ARI.match(ref):
            return []  # global: every project
        else:
            raise Unmappable(f'scope {ref!r}: rulequeue scopes rules to listed projects or to all')
    return sorted(set(keys))


def map_rule(raw: Mapping[str, Any], names: IdNames) -> tuple[dict[str, Any] | None, list[Dropped], bool]:
    """(our rule document or None, what was dropped, whether that is fatal) for one A4J rule."""
    mapping = _Mapping(names)
    trigger = raw.get('trigger')
    if not isinstance(trigger, Mapping) or not isinstance(trigger.get('type'), str):
        mapping.drop('(trigger)', 'the rule has no trigger', fatal=True)
        return None, mapping.dropped, True
    value = _obj(trigger.get('value'))
    document: dict[str, Any] = {'name': raw.get('name'), 'enabled': raw.get('state', 'ENABLED') == 'ENABLED'}
    if isinstance(raw.get('description'), str) and raw['description'].strip():
        document['description'] = raw['description']
    try:
        document['trigger'] = a4j_components.trigger(trigger['type'], value, names)
    except Unmappable as exc:
        mapping.drop(trigger['type'], exc.reason, fatal=True)
    except (AttributeError, LookupError, TypeError, ValueError):
        mapping.drop(trigger['type'], 'the trigger value has an unexpected shape', fatal=True)
    try:
        document['projects'] = _projects(raw, value, names)
    except Unmappable as exc:
        mapping.drop('(scope)', exc.reason, fatal=True)
    components = [*_list(trigger.get('conditions')), *_list(raw.get('components'))]
    document['conditions'], document['actions'] = mapping.chain(components)
    document['allow_rule_trigger'] = bool(raw.get('canOtherRuleTrigger', False))
    return document, mapping.dropped, mapping.fatal


def parse_export(data: Any) -> tuple[list[Any], IdNames]:
    """The export's rules and id names; Unprocessable (422) if it is not an A4J export at all."""
    rules = data.get('rules') if isinstance(data, Mapping) else None
    if rules is None and isinstance(data, Mapping) and isinstance(data.get('rule'), Mapping):
        rules = [data['rule']]
    if not isinstance(rules, list) or not all(isinstance(r, Mapping) for r in rules):
        raise Unprocessable(
            'not an Automation for Jira export',
            [{'path': 'rules', 'message': 'expected {"rules": [rule, ...]} as Automation for Jira exports it'}],
        )
    ids = data.get('ids') or {}
    errors: list[dict[str, object]] = [
        {'path': f'ids/{kind}', 'message': 'an object of id to key or name'}
        for kind in _ID_KINDS
        if not isinstance(ids, Mapping)
        or not isinstance(ids.get(kind, {}), Mapping)
        or not all(isinstance(v, str) for v in ids.get(kind, {}).values())
    ]
    if errors or (isinstance(ids, Mapping) and set(ids) - set(_ID_KINDS)):
        raise Unprocessable('invalid "ids"', errors or [{'path': 'ids', 'message': f'keys: {", ".join(_ID_KINDS)}'}])
    return rules, IdNames(**{kind: dict(ids.get(kind, {})) for kind in _ID_KINDS})


def plan_import(
    data: Any, *, allow_partial: bool, max_components: int | None, existing: frozenset[str] = frozenset()
) -> tuple[list[tuple[Rule, list[Dropped]]], list[Skipped]]:
    """The rules to import (with what each dropped) and the rules skipped, for an export."""
    rules, names = parse_export(data)
    planned: list[tuple[Rule, list[Dropped]]] = []
    skipped: list[Skipped] = []
    for position, raw in enumerate(rules, start=1):
        name = raw.get('name') if isinstance(raw.get('name'), str) and raw.get('name') else f'rule #{position}'
        document, dropped, fatal = map_rule(raw, names)
        if name in existing:
            dropped = [*dropped, Dropped(type='(rule)', reason='a rule with this name exists already')]
            fatal = True
        if document is None or fatal or (dropped and not allow_partial):
            skipped.append(Skipped(name=name, components=dropped))
            continue
        if dropped:
            document['enabled'] = False
        try:
            rule = Rule.model_validate(document, context={'max_components': max_components})
        except ValidationError as exc:
            invalid = [Dropped(type='(rule)', reason=f'{_loc(e["loc"])}: {e["msg"]}') for e in exc.errors()]
            skipped.append(Skipped(name=name, components=[*dropped, *invalid]))
            continue
        planned.append((rule, dropped))
    return planned, skipped


def _loc(loc: tuple[int | str, ...]) -> str:
    return '/'.join(str(p) for p in loc) or '/'


async def import_export(
    pool: Pool, client_key: str, data: Any, *, dry_run: bool, allow_partial: bool, max_components: int | None
) -> ImportReport:
    """Map the export and, unless ``dry_run``, store the mapped rules for the tenant.

    A rule whose name the tenant already uses is skipped, so running an import again (after a
    failure half-way, say) does not double rules.
    """
    existing = frozenset(s.rule.name for s in await rule_store.list_rules(pool, client_key))
    planned, skipped = plan_import(data, allow_partial=allow_partial, max_components=max_components, existing=existing)
    imported = []
    for rule, dropped in planned:
        rule_id = None if dry_run else (await rule_store.create_rule(pool, client_key, rule)).id
        imported.append(Imported(name=rule.name, id=rule_id, enabled=rule.enabled, dropped=dropped))
    return ImportReport(dry_run=dry_run, imported=imported, skipped=skipped)
