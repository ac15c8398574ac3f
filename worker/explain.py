"""Why each rule of a tenant did or did not run for one event: the evaluation record.

The execution asks an :class:`Explainer` which rules are candidates (enabled, in scope, trigger
matched), tells it when the event was caused by our app, and has it recorded when the execution
ends. The outcome of the rules that ran is read back from their audit rows, so a retry that
skips rules an earlier attempt recorded still explains them. Field values are kept only when the
tenant opted in, and only the value a failing condition read, cut to MAX_ACTUAL_CHARS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rulequeue.errors import TemplateError
from rulequeue.store import evaluations, rules
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Tenant
from schemas import rules as rule_schemas
from schemas.audit import AuditStatus
from schemas.evaluations import MAX_ACTUAL_CHARS, ConditionFailure, Evaluation, Reason, RuleEvaluation
from schemas.events import WebhookEvent
from schemas.jobs import ExecutionJob
from schemas.rules import StoredRule, Trigger
from worker import link_worklog
from worker.matching import field_value, in_scope, trigger_matches
from worker.templates import build_context, render

# The description worker.matching gives the condition that stopped a rule: the audit row's last message.
_FAILED = re.compile(r'^condition (\d+)\b(?!: unknown paths)')
_SHOWN_KEYS = ('name', 'value', 'key', 'displayName', 'accountId', 'id')


def describe_trigger(trigger: Trigger) -> str:
    """What the trigger fires on, from the rule's configuration only."""
    linked_or_logged = link_worklog.describe(trigger)  # issue_linked, worklog_added
    if linked_or_logged is not None:
        return linked_or_logged
    if isinstance(trigger, rule_schemas.FieldValueChanged):
        return f'jira:issue_updated changing one of {", ".join(trigger.fields)}'
    if isinstance(trigger, rule_schemas.Scheduled):
        return f'rulequeue:scheduled (cron {trigger.cron!r} {trigger.timezone}, each issue of its JQL search)'
    if isinstance(trigger, rule_schemas.Manual):
        return 'rulequeue:manual (a person running the rule on the issue: POST /api/rules/{id}/run)'
    if isinstance(trigger, rule_schemas.IssueTransitioned):
        moves = ''.join(f' {word} {name!r}' for word, name in (('from', trigger.from_), ('to', trigger.to)) if name)
        return f'jira:issue_updated changing status{moves}'
    wanted = {
        'issue_created': 'jira:issue_created',
        'issue_updated': 'jira:issue_updated with a changelog',
        'issue_commented': 'comment_created',
        'issue_assigned': 'jira:issue_updated changing assignee',
        'issue_deleted': 'jira:issue_deleted',
    }
    return wanted.get(trigger.type, trigger.type)


def describe_event(event: WebhookEvent) -> str:
    """The event type and the names (never the values) of the fields it changed."""
    items = event.changelog.items if event.changelog else []
    names = list(dict.fromkeys(item.field for item in items))
    return event.webhookEvent + (f' changing {", ".join(names)}' if names else '')


def shown_value(value: Any) -> str | None:
    """An issue value as a person reads it (a Jira object by its name), at most MAX_ACTUAL_CHARS."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = next((value[k] for k in _SHOWN_KEYS if isinstance(value.get(k), str | int)), '')
    elif isinstance(value, list):
        value = ', '.join(shown_value(item) or '' for item in value)
    elif isinstance(value, bool):
        value = 'true' if value else 'false'
    return str(value)[:MAX_ACTUAL_CHARS]


@dataclass
class Explainer:
    """The evaluation of one event against every rule of its tenant, built as the execution goes."""

    rules: list[StoredRule]
    event: WebhookEvent
    enabled: set[str] = field(default_factory=set)
    keep_values: bool = False
    caused_by_app: bool = False
    # Rule id -> (reason, detail) for rules the execution left out for a reason of its own.
    excluded: dict[str, tuple[Reason, str]] = field(default_factory=dict)

    def candidates(self, only: tuple[str, ...] | None = None) -> list[StoredRule]:
        """The rules whose trigger fires: enabled, in scope, and the event is one the trigger wants.

        With ``only`` (a manual or scheduled run names its rule), the others are left out as
        not requested.
        """
        chosen = [
            s
            for s in self.rules
            if s.id in self.enabled and in_scope(s.rule, self.event) and trigger_matches(s.rule.trigger, self.event)
        ]
        if only is None:
            return chosen
        for stored in chosen:
            if stored.id not in only:
                self.exclude(stored, Reason.NOT_REQUESTED, 'this execution was started for another rule')
        return [s for s in chosen if s.id in only]

    def exclude(self, stored: StoredRule, reason: Reason, detail: str) -> None:
        self.excluded[stored.id] = (reason, detail)

    def build(self, job: ExecutionJob, outcomes: Mapping[str, tuple[str, list[str]]]) -> Evaluation:
        """The record, given the delivery's audit rows (rule id -> status, messages)."""
        return Evaluation(
            client_key=job.client_key,
            delivery_id=job.delivery_id,
            issue_key=self.event.issue.key,
            issue_id=self.event.issue.id,
            event_type=self.event.webhookEvent,
            values_kept=self.keep_values,
            rules=[self._explain(stored, outcomes.get(stored.id)) for stored in self.rules],
        )

    async def record(self, pool: Pool, job: ExecutionJob) -> None:
        outcomes = await evaluations.audit_outcomes(pool, job.client_key, job.delivery_id)
        await evaluations.record(pool, self.build(job, outcomes))

    def _explain(self, stored: StoredRule, outcome: tuple[str, list[str]] | None) -> RuleEvaluation:
        rule = stored.rule

        def made(reason: Reason, detail: str, **extra: Any) -> RuleEvaluation:
            return RuleEvaluation(
                rule_id=stored.id,
                rule_name=rule.name,
                rule_version=stored.version,
                reason=reason,
                detail=detail,
                **extra,
            )

        if stored.id not in self.enabled:
            return made(reason=Reason.DISABLED, detail='the rule is disabled')
        if not in_scope(rule, self.event):
            detail = f"the issue is not in the rule's projects ({', '.join(rule.projects)})"
            return made(reason=Reason.OUT_OF_SCOPE, detail=detail)
        if not trigger_matches(rule.trigger, self.event):
            wanted, got = describe_trigger(rule.trigger), describe_event(self.event)
            detail = f'the trigger {rule.trigger.type} wants {wanted}; the event was {got}'
            return made(reason=Reason.TRIGGER_MISMATCH, detail=detail, trigger_wanted=wanted, event=got)
        if outcome is None and self.caused_by_app and not rule.allow_rule_trigger:
            detail = 'the event was caused by this app and the rule does not allow rule-triggered events'
            return made(reason=Reason.RULE_TRIGGERED_EVENT, detail=detail)
        if outcome is None and stored.id in self.excluded:
            reason, detail = self.excluded[stored.id]
            return made(reason=reason, detail=detail)
        if outcome is None and rule.trigger.jql is not None:
            # A candidate left without an audit row: its trigger's JQL filter did not match the issue.
            detail = f'the trigger {rule.trigger.type} fired but its JQL filter did not match the issue'
            return made(reason=Reason.TRIGGER_MISMATCH, detail=detail, trigger_wanted=rule.trigger.jql)
        if outcome is None:
            return made(reason=Reason.RAN, detail='no outcome was recorded')
        status, messages = AuditStatus(outcome[0]), outcome[1]
        if status in (AuditStatus.THROTTLED, AuditStatus.LOOP):
            detail = messages[0] if messages else f'held by a service limit: {status.value}'
            return made(reason=Reason.LIMITED, detail=detail, status=status)
        if status is AuditStatus.NO_ACTIONS_PERFORMED:
            failure = self._failed_condition(rule, messages)
            detail = failure.description if failure else (messages[-1] if messages else 'a condition failed')
            return made(reason=Reason.CONDITION_FAILED, detail=detail, condition=failure, status=status)
        return made(reason=Reason.RAN, detail=f'ran: {status.value}', status=status)

    def _failed_condition(self, rule: rule_schemas.Rule, messages: list[str]) -> ConditionFailure | None:
        match = _FAILED.match(messages[-1]) if messages else None
        if match and 1 <= int(match.group(1)) <= len(rule.conditions):
            index = int(match.group(1))
            return self._failure(rule, index, rule.conditions[index - 1], messages[-1])
        return None

    def _failure(self, rule: rule_schemas.Rule, index: int, condition: Any, description: str) -> ConditionFailure:
        failure: dict[str, Any] = {'index': index, 'type': condition.type, 'description': description}
        if isinstance(condition, rule_schemas.FieldCondition):
            failure |= {'field': condition.field, 'op': condition.op, 'expected': condition.value}
            if self.keep_values:
                issue = self.event.issue.model_dump(mode='json')
                failure['actual'] = shown_value(field_value(issue, condition.field))
        elif isinstance(condition, rule_schemas.CompareCondition):
            failure |= {'field': condition.left, 'op': condition.op, 'expected': condition.right}
            if self.keep_values:
                failure['actual'] = self._rendered(rule, condition.left)
        return ConditionFailure(**failure)

    def _rendered(self, rule: rule_schemas.Rule, template: str) -> str | None:
        try:
            context = build_context(self.event, rule_name=rule.name, now=datetime.now(UTC))
            return shown_value(render(template, context).text)
        except TemplateError:
            return None


async def start(pool: Pool, tenant: Tenant, event: WebhookEvent) -> Explainer:
    """Load every rule of the tenant (disabled ones too, to say so) and its choice about values."""
    listed = await rules.rules_with_state(pool, tenant.client_key)
    enabled = {stored.id for stored, on in listed if on}
    keep = await evaluations.keeps_values(pool, tenant.client_key)
    return Explainer([stored for stored, _ in listed], event, enabled, keep_values=keep)
