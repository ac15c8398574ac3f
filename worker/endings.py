"""How an execution ends when it cannot simply finish: the retry budget, giving up (audit rows
for the rules left, a dead letter), and the finish that always purges the snapshot.
"""

from __future__ import annotations

import contextlib

import structlog

from rulequeue.store import audit, dead_letters, deliveries
from schemas.audit import AuditStatus
from schemas.events import WebhookEvent
from schemas.jobs import ExecutionJob
from schemas.rules import StoredRule
from worker import explain, state
from worker.deps import DATABASE_ERRORS, RetryLater, Summary, WorkerDeps
from worker.retry import backoff
from worker.rule_run import RuleRun

log = structlog.get_logger('rulequeue.worker')


async def finish(deps: WorkerDeps, job: ExecutionJob, outcome: str, explainer: explain.Explainer | None = None) -> None:
    """End the execution: its evaluation and delivery record first (best effort), then the purge in Redis.

    If Postgres is down at this moment the record stays 'accepted'; the reconciler later
    finds the done marker and closes it.
    """
    with contextlib.suppress(*DATABASE_ERRORS):
        if explainer is not None:
            await explainer.record(deps.pool, job)
        await deliveries.finished(deps.pool, job.client_key, job.delivery_id, outcome)
    await state.finish(deps.redis, job, outcome)


async def transient(deps: WorkerDeps, job: ExecutionJob, reason: str, retry_after: float | None) -> RetryLater | None:
    """Count a failed attempt; a RetryLater while within budget, None once it is spent."""
    attempts = await state.count_failed_attempt(deps.redis, job)
    if attempts >= deps.settings.max_attempts:
        return None
    defer = backoff(
        attempts,
        base=deps.settings.retry_base_seconds,
        cap=deps.settings.retry_cap_seconds,
        retry_after=retry_after,
    )
    return RetryLater(defer, reason)


async def database_down(deps: WorkerDeps, job: ExecutionJob, exc: Exception) -> Summary:
    """Postgres is unreachable: retry within the budget, then give up and purge."""
    reason = f'database unavailable: {type(exc).__name__}'
    retry = await transient(deps, job, reason, None)
    if retry is not None:
        raise retry from None
    log.error('execution abandoned', reason=reason)
    await finish(deps, job, 'abandoned')
    return Summary('abandoned')


async def unreadable(deps: WorkerDeps, job: ExecutionJob, event: WebhookEvent, reason: str) -> Summary:
    """Out of attempts before the issue could be read: a dead letter (no audit row: no rule ran)."""
    attempts = await state.attempts_so_far(deps.redis, job)
    with contextlib.suppress(*DATABASE_ERRORS):
        rule_ids = list(job.rule_ids or ())
        await _dead_letter(deps, job, event, rule_ids, f'gave up after {attempts} attempts: {reason}', attempts)
    await finish(deps, job, 'retries-exhausted')
    return Summary('retries-exhausted', 0, ['FAILURE'], attempts)


async def exhausted(
    deps: WorkerDeps,
    job: ExecutionJob,
    event: WebhookEvent,
    run: RuleRun,
    not_started: list[StoredRule],
    attempts: int,
    reason: str,
    explainer: explain.Explainer | None = None,
) -> None:
    """Out of attempts: record the failure of this rule and of those never reached, then purge."""
    run.messages.append(f'gave up after {attempts} attempts: {reason}')
    status = AuditStatus.SOME_ERRORS if run.status() is AuditStatus.SOME_ERRORS else AuditStatus.FAILURE
    await audit.record(deps.pool, run.entry(job, event, attempts, status))
    for stored in not_started:
        skipped = RuleRun(stored, messages=[f'not run: gave up after {attempts} attempts: {reason}'])
        await audit.record(deps.pool, skipped.entry(job, event, attempts, AuditStatus.FAILURE))
    await _dead_letter(deps, job, event, [run.stored.id, *(s.id for s in not_started)], reason, attempts)
    await finish(deps, job, 'retries-exhausted', explainer)


async def _dead_letter(
    deps: WorkerDeps, job: ExecutionJob, event: WebhookEvent, rule_ids: list[str], error: str, attempts: int
) -> None:
    await dead_letters.record(
        deps.pool,
        client_key=job.client_key,
        delivery_id=job.delivery_id,
        execution_id=job.execution_id,
        event=event,
        rule_ids=rule_ids,
        error=error,
        attempts=attempts,
    )
