"""One rule against one event: conditions, then actions, then the audit entry."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rulequeue.errors import TemplateError
from schemas.audit import ActionResult, ActionStatus, AuditEntry, AuditStatus
from schemas.events import WebhookEvent
from schemas.jobs import ExecutionJob
from schemas.rules import StoredRule
from worker.actions import Target, run_action, succeeded
from worker.matching import evaluate_conditions
from worker.state import progress_field
from worker.templates import build_context

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

    def status(self) -> AuditStatus:
        if self.conditions_failed:
            return AuditStatus.NO_ACTIONS_PERFORMED
        ok = sum(1 for r in self.results if succeeded(r))
        expected = len(self.stored.rule.actions)
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
    context: dict[str, Any] = build_context(event, rule_name=rule.name, now=datetime.now(UTC))
    try:
        outcomes = evaluate_conditions(rule.conditions, event, context)
    except TemplateError as exc:
        run.messages.append(f'condition template error: {exc.report()}')
        run.results = [
            ActionResult(index=i, type=a.type, status=ActionStatus.SKIPPED) for i, a in enumerate(rule.actions)
        ]
        return
    for outcome in outcomes:
        if outcome.unknown_paths:
            run.messages.append(
                f'condition {outcome.index}: unknown paths rendered empty: {", ".join(outcome.unknown_paths)}'
            )
    if outcomes and not outcomes[-1].passed:
        run.conditions_failed = True
        run.messages.append(outcomes[-1].description)
        return
    run.results = []
    for index, action in enumerate(rule.actions):
        key = progress_field(stored.id, stored.version, index)
        done = progress.get(key)
        if done is None:
            done = await run_action(target, index, action, context)
            if succeeded(done) and action.type != 'log':
                # Recorded right after Jira accepted the change, so a retry does not repeat it.
                await save_progress(key, done)
        run.results.append(done)
