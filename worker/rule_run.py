"""One rule against one event: conditions, then actions, then the audit entry."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rulequeue.errors import PermanentJiraError, TemplateError
from schemas.audit import ActionResult, ActionStatus, AuditEntry, AuditStatus
from schemas.events import WebhookEvent
from schemas.job_options import TRIGGER_ISSUE
from schemas.jobs import ExecutionJob
from schemas.rules import StoredRule
from worker.action_list import ActionList
from worker.actions import Target, succeeded
from worker.flow import Flow, Suspended, plan
from worker.jql_checks import check_jql, evaluate_all, jira_search, jql_context, jql_notes
from worker.templates import build_context
from worker.user_checks import jira_groups

SaveProgress = Callable[[str, ActionResult], Awaitable[None]]


@dataclass
class RuleRun:
    """What one rule did so far; kept across a transient failure so the audit row is complete."""

    stored: StoredRule
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    results: list[ActionResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    conditions_failed: bool = False
    # False when the trigger's jql filter did not match: the rule did not run, no audit row.
    triggered: bool = True
    # Actions inside the ``if`` branches taken, which a SUCCESS needs besides the rule's own list.
    branch_actions: int = 0
    # The top-level actions this run has when not the rule's own (a branch item: the branch's).
    planned: int | None = None
    # The rule reached a delay: its continuation writes the audit row (worker/delays.py).
    suspended: bool = False

    def status(self) -> AuditStatus:
        if self.conditions_failed:
            return AuditStatus.NO_ACTIONS_PERFORMED
        ok = sum(1 for r in self.results if succeeded(r))
        expected = (len(self.stored.rule.actions) if self.planned is None else self.planned) + self.branch_actions
        if ok == expected and expected > 0:
            return AuditStatus.SUCCESS
        return AuditStatus.SOME_ERRORS if ok else AuditStatus.FAILURE

    def entry(
        self, job: ExecutionJob, event: WebhookEvent, attempts: int, status: AuditStatus | None = None
    ) -> AuditEntry:
        return AuditEntry(
            client_key=job.client_key,
            rule_id=self.stored.id,
            rule_name=self.stored.rule.name,
            rule_version=self.stored.version,
            status=status or self.status(),
            issue_key=event.issue.key,
            issue_id=event.issue.id,
            delivery_id=job.delivery_id,
            event_type=event.webhookEvent,
            actions=self.results,
            messages=self.messages,
            attempts=attempts,
            started_at=self.started_at,
            duration_ms=int((time.perf_counter() - self.started) * 1000),
        )


async def run_rule(
    run: RuleRun,
    event: WebhookEvent,
    target: Target,
    progress: Mapping[str, ActionResult],
    save_progress: SaveProgress,
    flow: Flow | None = None,
) -> None:
    """Evaluate and act; raises TransientJiraError mid-way (``run`` keeps what was done).

    ``flow`` lets branches and delays admit executions; its job may name a part of the rule to
    run (a branch item, a continuation: worker.flow.plan).
    """
    rule, stored = run.stored.rule, run.stored
    part = plan(stored, flow.job if flow else None, event)
    run.planned = len(part.steps)
    run.messages.extend(filter(None, [part.note, part.refused]))
    if part.refused:
        return
    target = dataclasses.replace(target, actor=f'{target.actor}\0{stored.id}\0{stored.version}')
    now = datetime.now(UTC)
    context: dict[str, Any] = build_context(event, rule_name=rule.name, now=now)
    # A branch item's {{triggerIssue}} is the issue the rule started on, carried in its snapshot.
    context[TRIGGER_ISSUE] = (event.model_extra or {}).get(TRIGGER_ISSUE) or context[TRIGGER_ISSUE]
    jql = jql_context(target.tenant, now)
    search = jira_search(target.jira, target.tenant, event.issue.id, event.issue.key)
    groups = jira_groups(target.jira, target.tenant)
    try:
        # A scheduled rule's JQL is its search: the issue was found by it, not checked again.
        if part.check_trigger and rule.trigger.jql is not None and rule.trigger.type != 'scheduled':
            check = await check_jql(rule.trigger.jql, context['issue'], jql, search)
            if not check.matched:
                run.triggered = False
                return
            run.messages.append(check.describe('trigger'))
        outcomes = await evaluate_all(part.conditions, event, context, jql, search, groups)
    except TemplateError as exc:
        run.messages.append(f'condition template error: {exc.report()}')
        run.results = [
            ActionResult(index=i, type=a.type, status=ActionStatus.SKIPPED) for i, a in enumerate(part.steps)
        ]
        return
    except PermanentJiraError as exc:
        # Jira refused a JQL search (a field or function the site does not know): a rule error.
        run.messages.append(str(exc))
        run.results = [
            ActionResult(index=i, type=a.type, status=ActionStatus.SKIPPED) for i, a in enumerate(part.steps)
        ]
        return
    run.messages.extend(jql_notes(part.conditions, outcomes))
    for outcome in outcomes:
        if outcome.unknown_paths:
            run.messages.append(
                f'condition {outcome.index}: unknown paths rendered empty: {", ".join(outcome.unknown_paths)}'
            )
    if outcomes and not outcomes[-1].passed:
        run.conditions_failed = True
        run.messages.append(outcomes[-1].description)
        return
    # The list is filled as actions run, so a transient failure mid-way leaves what was done.
    actions = ActionList(
        stored,
        target,
        context,
        progress,
        save_progress,
        lambda cs: evaluate_all(cs, event, context, jql, search, groups),
        flow=flow,
    )
    run.results, run.branch_actions = actions.results, 0
    try:
        await actions.run(part.steps, part.path)
    except Suspended:
        run.suspended = True
    finally:
        run.branch_actions = actions.branch_actions
