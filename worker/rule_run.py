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
from schemas.jobs import ExecutionJob
from schemas.rules import StoredRule
from worker.action_list import ActionList
from worker.actions import Target, succeeded
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

    def status(self) -> AuditStatus:
        if self.conditions_failed:
            return AuditStatus.NO_ACTIONS_PERFORMED
        ok = sum(1 for r in self.results if succeeded(r))
        expected = len(self.stored.rule.actions) + self.branch_actions
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
) -> None:
    """Evaluate and act; raises TransientJiraError mid-way (``run`` keeps what was done)."""
    rule, stored = run.stored.rule, run.stored
    target = dataclasses.replace(target, actor=f'{target.actor}\0{stored.id}\0{stored.version}')
    now = datetime.now(UTC)
    context: dict[str, Any] = build_context(event, rule_name=rule.name, now=now)
    jql = jql_context(target.tenant, now)
    search = jira_search(target.jira, target.tenant, event.issue.id, event.issue.key)
    groups = jira_groups(target.jira, target.tenant)
    try:
        if rule.trigger.jql is not None:
            check = await check_jql(rule.trigger.jql, context['issue'], jql, search)
            if not check.matched:
                run.triggered = False
                return
            run.messages.append(check.describe('trigger'))
        outcomes = await evaluate_all(rule.conditions, event, context, jql, search, groups)
    except TemplateError as exc:
        run.messages.append(f'condition template error: {exc.report()}')
        run.results = [
            ActionResult(index=i, type=a.type, status=ActionStatus.SKIPPED) for i, a in enumerate(rule.actions)
        ]
        return
    except PermanentJiraError as exc:
        # Jira refused a JQL search (a field or function the site does not know): a rule error.
        run.messages.append(str(exc))
        run.results = [
            ActionResult(index=i, type=a.type, status=ActionStatus.SKIPPED) for i, a in enumerate(rule.actions)
        ]
        return
    run.messages.extend(jql_notes(rule.conditions, outcomes))
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
    )
    run.results, run.branch_actions = actions.results, 0
    try:
        await actions.run(rule.actions)
    finally:
        run.branch_actions = actions.branch_actions
