"""One execution: every matching rule of a tenant against one webhook delivery.

Knows nothing of arq: it returns a summary, or raises :class:`RetryLater` when a transient
failure should be retried after a delay. Terminal outcomes (success, permanent failure,
retries exhausted) always end in :func:`worker.endings.finish`, which purges the snapshot.
"""

from __future__ import annotations

import contextlib
import time

import structlog
from arq.connections import ArqRedis
from pydantic import ValidationError

from rulequeue import constants, snapshots
from rulequeue.crypto import DecryptionError
from rulequeue.errors import JiraError, TransientJiraError
from rulequeue.store import audit, deliveries, tenants
from rulequeue.store.tenants import Tenant
from schemas.audit import ActionResult
from schemas.events import WebhookEvent
from schemas.jobs import ExecutionJob
from worker import app_cause, endings, explain, licensing, limits, ordering, state
from worker.actions import Target
from worker.current_issue import with_current_issue
from worker.deps import DATABASE_ERRORS, RetryLater, Summary, WorkerDeps
from worker.flow import Flow, derived_candidates, is_derived
from worker.rule_run import RuleRun, run_rule

log = structlog.get_logger('rulequeue.worker')


async def execute(deps: WorkerDeps, job: ExecutionJob, *, job_try: int = 1) -> Summary:
    started = time.perf_counter()
    # The execution id is also the arq job id (queue.enqueue_execution), so it is the job id here.
    structlog.contextvars.bind_contextvars(
        execution_id=job.execution_id, job_id=job.execution_id, job_try=job_try, delivery_id=job.delivery_id
    )
    try:
        summary = await _execute(deps, job, job_try)
        # The canonical line: logged while the ids are still bound.
        log.info(
            'execution',
            outcome=summary.outcome,
            client_key=job.client_key,
            rules_matched=summary.rules_matched,
            statuses=summary.statuses,
            attempts=summary.attempts,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
    except RetryLater as retry:
        level = log.debug if retry.waiting else log.info
        level(
            'execution',
            outcome='wait' if retry.waiting else 'retry',
            client_key=job.client_key,
            reason=retry.reason,
            defer_seconds=round(retry.defer, 2),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        raise
    finally:
        structlog.contextvars.unbind_contextvars('execution_id', 'job_id', 'job_try', 'delivery_id')
    return summary


async def _execute(deps: WorkerDeps, job: ExecutionJob, job_try: int) -> Summary:
    if await state.is_done(deps.redis, job):
        await endings.finish(deps, job, 'done')
        return Summary('already-done')
    give_up = await _give_up_reason(deps, job, job_try)
    try:
        tenant = await tenants.get_tenant(deps.pool, deps.cipher, job.client_key)
    except DATABASE_ERRORS as exc:
        return await endings.database_down(deps, job, exc)
    if tenant is None or tenant.state != 'installed':
        # Uninstalled or disabled: the tenant's rules are paused; the event is dropped.
        await endings.finish(deps, job, 'tenant-inactive')
        return Summary('tenant-inactive')
    event = await _load_event(deps, job)
    if event is None:
        await endings.finish(deps, job, 'snapshot-missing')
        return Summary('snapshot-missing')
    if job.fetch_issue and job.licensed:  # an unlicensed event makes no Jira call, not even this read
        fresh = await _current(deps, job, tenant, event)
        if not isinstance(fresh, WebhookEvent):
            return fresh or Summary('issue-unavailable')
        event = fresh
    try:
        return await _run_rules(deps, job, tenant, event, job_try, give_up)
    except DATABASE_ERRORS as exc:
        return await endings.database_down(deps, job, exc)


async def _current(
    deps: WorkerDeps, job: ExecutionJob, tenant: Tenant, event: WebhookEvent
) -> WebhookEvent | Summary | None:
    """The event with Jira's current issue (worker.current_issue); None once finished without it,
    a Summary once dead-lettered (Jira unreadable, e.g. no valid app token, past the retry budget)."""
    try:
        fresh = await with_current_issue(deps.jira, tenant, event)
    except TransientJiraError as exc:
        retry = await endings.transient(deps, job, str(exc), exc.retry_after)
        if retry is not None:
            raise retry from None
        return await endings.unreadable(deps, job, event, str(exc))
    except (JiraError, ValidationError) as exc:
        log.warning('issue unreadable', error=type(exc).__name__, status=getattr(exc, 'status', None))
        fresh = None
    if fresh is None:
        await endings.finish(deps, job, 'issue-unavailable')
    elif not event.issue.key:  # admitted by id (a link or worklog event): the record gets its key
        with contextlib.suppress(*DATABASE_ERRORS):
            await deliveries.name_issue(deps.pool, job.client_key, job.delivery_id, fresh.issue.key)
    return fresh


async def _load_event(deps: WorkerDeps, job: ExecutionJob) -> WebhookEvent | None:
    try:
        data = await snapshots.load(deps.redis, deps.cipher, job.client_key, job.snapshot_key)
        return None if data is None else WebhookEvent.model_validate(data)
    except (DecryptionError, ValidationError, ValueError) as exc:
        log.error('snapshot unreadable', error=type(exc).__name__)
        return None


async def _give_up_reason(deps: WorkerDeps, job: ExecutionJob, job_try: int) -> str | None:
    """Why this execution must not act (ordering bound passed, crash loop), or None to go on.

    Raises RetryLater (a wait) while an earlier event of the same issue is still pending.
    """
    turn = await ordering.take_turn(deps.redis, job, deps.settings.order_hold_seconds)
    if turn is ordering.Turn.WAIT:
        raise RetryLater(constants.ORDER_WAIT_SECONDS, 'an earlier event of this issue is pending', waiting=True)
    if turn is ordering.Turn.EVICTED:
        return f'held back later events of this issue for more than {deps.settings.order_hold_seconds:g} s'
    explained = await state.attempts_so_far(deps.redis, job) + await ordering.waits_so_far(deps.redis, job)
    if job_try - explained > constants.CRASH_LOOP_STARTS:
        return f'crash loop: started {job_try} times, {job_try - explained} of them never finished'
    return None


async def _run_rules(
    deps: WorkerDeps,
    job: ExecutionJob,
    tenant: Tenant,
    event: WebhookEvent,
    job_try: int,
    give_up: str | None = None,
) -> Summary:
    explainer = await explain.start(deps.pool, tenant, event)
    # A branch item or a continuation runs its rule by id (worker.flow); other jobs match triggers.
    candidates = derived_candidates(explainer, job)
    candidates = explainer.candidates(job.rule_ids) if candidates is None else candidates
    if not job.licensed:
        # Before the loop check below, which may ask Jira who our app user is: no Jira call.
        attempt = await state.attempts_so_far(deps.redis, job) + 1
        skipped = await licensing.record_unlicensed(deps.pool, job, tenant, event, candidates, attempt)
        await endings.finish(deps, job, 'unlicensed', explainer)
        return Summary('unlicensed', len(skipped), skipped, attempt)
    # Asked for every candidate: rules without allow_rule_trigger skip our own events, the
    # others carry the loop-detection chain on (worker.limits).
    by_app = bool(candidates) and await _caused_by_app(deps, job, tenant, event)
    if by_app and any(not s.rule.allow_rule_trigger for s in candidates):
        explainer.caused_by_app = True
        candidates = [s for s in candidates if s.rule.allow_rule_trigger]
    done_rules = await audit.audited_rules(deps.pool, tenant.client_key, job.delivery_id)
    pending = [s for s in candidates if s.id not in done_rules]
    progress = await state.load_progress(deps.redis, job)
    attempt = await state.attempts_so_far(deps.redis, job) + 1
    # Any earlier start that was not an ordering wait (a retry, a crash) may have acted
    # without recording it.
    starts = job_try - await ordering.waits_so_far(deps.redis, job)
    retrying = attempt > 1 or starts > 1
    target = Target(deps.jira, tenant, event.issue.key, actor=job.delivery_id, retrying=retrying, web=deps.web)

    async def save(field_name: str, result: ActionResult) -> None:
        await state.save_progress(deps.redis, job, field_name, result)

    if give_up is not None and pending:
        await endings.exhausted(deps, job, event, RuleRun(pending[0]), pending[1:], attempt, give_up, explainer)
        return Summary('dead-lettered', len(candidates), ['FAILURE'] * len(pending), attempt)
    if give_up is not None:
        await endings.finish(deps, job, 'dead-lettered', explainer)
        return Summary('dead-lettered', len(candidates), [], attempt)
    depth = 0
    if pending:  # over Forge, the trace names the very execution whose call caused the event
        cause = await app_cause.our_trace(deps.redis, event) if by_app else None
        depth = await limits.chain_depth(deps.redis, job, event.issue.id, caused_by_app=by_app, cause=cause)
    statuses: list[str] = []
    redis: ArqRedis = deps.redis  # type: ignore[assignment]  # arq gives workers an ArqRedis
    flow = Flow(redis, deps.pool, deps.cipher, deps.settings, deps.jira, tenant, job, event)
    for position, stored in enumerate(pending):
        run = RuleRun(stored)
        # A branch item or a continuation is part of an execution the limits already let through.
        held = None if is_derived(job) else await limits.limit_reached(deps.redis, deps.settings, job, stored.id, depth)
        if held is not None:  # over a service limit: recorded, not run
            run.messages.append(held[1])
            await audit.record(deps.pool, run.entry(job, event, attempt, held[0]))
            statuses.append(held[0].value)
            continue
        await limits.acting_at(deps.redis, tenant.client_key, event.issue.id, depth)
        try:
            await run_rule(run, event, target, progress, save, flow=flow)
        except TransientJiraError as exc:
            retry = await endings.transient(deps, job, str(exc), exc.retry_after)
            if retry is not None:
                raise retry from None
            await endings.exhausted(deps, job, event, run, pending[position + 1 :], attempt, str(exc), explainer)
            return Summary('retries-exhausted', len(candidates), [*statuses, 'FAILURE'], attempt)
        if run.suspended:
            continue  # reached a delay: the continuation writes the rule's one audit row (worker.delays)
        if not run.triggered:
            continue  # its trigger's jql filter did not match: like any trigger mismatch, no audit row
        await audit.record(deps.pool, run.entry(job, event, attempt))
        statuses.append(run.status().value)
    await endings.finish(deps, job, 'done', explainer)
    return Summary('done', len(candidates), statuses, attempt)


async def _caused_by_app(deps: WorkerDeps, job: ExecutionJob, tenant: Tenant, event: WebhookEvent) -> bool:
    """Was this event caused by our own app user (so rules without allow_rule_trigger skip it)?

    Decided by worker.app_cause for both transports; here only our app user's id is learnt."""
    known = await app_cause.decided(deps.redis, tenant, event)
    if known is not None:
        return known
    app_account = tenant.app_account_id
    if app_account is None:
        try:
            myself = await deps.jira.request(tenant, 'GET', '/rest/api/2/myself')
        except TransientJiraError as exc:
            retry = await endings.transient(deps, job, str(exc), exc.retry_after)
            if retry is not None:
                raise retry from None
            return True  # cannot tell which app: assume ours rather than risk a loop
        except JiraError:
            return True
        app_account = str((myself or {}).get('accountId') or '')
        if app_account:
            await tenants.set_app_account_id(deps.pool, tenant.client_key, app_account)
    return app_cause.is_app_account(event, app_account)
