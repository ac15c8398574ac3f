"""The reconciler: accepted deliveries that neither ran nor are queued get run again.

Redis can lose data (a restart without AOF, a failover to a lagging replica, eviction); arq
cannot notice (arq #300). Every delivery is recorded in Postgres when it is accepted; once a
minute one worker looks for records still 'accepted' after a deadline whose job is neither
queued, running nor done, reads the issue again from Jira with a signed call (the snapshot is
gone with the job) and admits it again under the same delivery id, so it runs once. It is
admitted as the same kind of execution, its job options kept with the record (worker/readmission.py):
a manual run's rule only, a branch item's part only; a delay's continuation whose progress is
gone too is dead-lettered rather than run again from the wrong place.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog

from rulequeue import constants, intake
from rulequeue.errors import JiraError
from rulequeue.store import deliveries, tenants
from schemas.events import WebhookEvent
from schemas.job_options import JobOptions
from worker import readmission
from worker.deps import WorkerDeps
from worker.readmission import event_body

__all__ = ['DEADLINE_SECONDS', 'event_body', 'reconcile', 'reconcile_job']

log = structlog.get_logger('rulequeue.worker')
DEADLINE_SECONDS = 120.0


async def reconcile(deps: WorkerDeps, *, deadline_seconds: float = DEADLINE_SECONDS) -> int:
    """Re-admit lost deliveries; returns how many were queued again."""
    requeued = 0
    for row in await deliveries.overdue(deps.pool, deadline_seconds):
        execution = row['execution_id']
        done = await deps.redis.get(constants.DONE_KEY.format(execution=execution))
        if done is not None:
            await deliveries.finished(deps.pool, row['client_key'], row['delivery_id'], done.decode())
            continue
        if await deps.redis.exists(f'arq:job:{execution}', f'arq:in-progress:{execution}'):
            continue  # still queued, deferred or running
        if await _readmit(deps, row):
            requeued += 1
    await deliveries.prune(deps.pool)
    if requeued:
        log.warning('lost deliveries queued again', count=requeued)
    return requeued


async def _readmit(deps: WorkerDeps, row: dict[str, Any]) -> bool:
    tenant = await tenants.get_tenant(deps.pool, deps.cipher, row['client_key'])
    if tenant is None or not tenant.active:
        await deliveries.finished(deps.pool, row['client_key'], row['delivery_id'], 'tenant-inactive')
        return False
    options = JobOptions.stored(row.get('job_options'))
    reason = await readmission.refusal(deps.redis, row['execution_id'], options)
    if reason is not None:
        await readmission.give_up(deps.pool, row, options, reason)
        return False
    try:
        # A link or worklog delivery whose issue was never read has no key yet: its id names it.
        ref = row['issue_key'] or row['issue_id']
        body = await readmission.fresh_body(deps.jira, tenant, ref, row['envelope'], options)
    except JiraError as exc:
        log.warning('reconciler could not read the issue', status=exc.status, delivery_id=row['delivery_id'])
        return False  # tried again on the next run
    event = WebhookEvent.model_validate(body)
    await deliveries.count_requeue(deps.pool, row['client_key'], row['delivery_id'])
    outcome = await intake.admit(
        deps.redis,  # type: ignore[arg-type]  # arq gives workers an ArqRedis
        deps.pool,
        deps.cipher,
        tenant.client_key,
        row['delivery_id'],
        event,
        json.dumps(body).encode(),
        licensed=row.get('licensed', True),
        **readmission.reconcile_options(options, now=time.time()),
    )
    return outcome is intake.Outcome.ACCEPTED


async def reconcile_job(ctx: dict[str, Any]) -> int:
    """The arq cron entry point."""
    deps: WorkerDeps = ctx['deps']
    return await reconcile(deps)
