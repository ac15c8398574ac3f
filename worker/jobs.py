"""The arq job function: parse the payload, call the plain execution service, map retries.

It also feeds this process's health counters and metrics: cheap in-process increments, which
the heartbeat and the /metrics server read on their own schedule.
"""

from __future__ import annotations

import time
from typing import Any

from arq import Retry

from rulequeue.metrics import WorkerMetrics
from rulequeue.worker_health import WorkerHealth
from schemas.jobs import ExecutionJob
from worker.deps import RetryLater, WorkerDeps
from worker.execute import execute


async def run_execution(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    deps: WorkerDeps = ctx['deps']
    health: WorkerHealth = ctx['health']
    metrics: WorkerMetrics = ctx['metrics']
    job = ExecutionJob.model_validate(payload)
    started = time.perf_counter()
    retry: RetryLater | None = None
    with health.counters.job():
        try:
            summary = await execute(deps, job, job_try=ctx.get('job_try', 1))
        except RetryLater as later:
            retry = later  # a planned outcome, not a failure: raised to arq outside the count
    if retry is not None:
        if not retry.waiting:
            metrics.retries.inc()
        raise Retry(defer=retry.defer)
    health.counters.done += 1
    metrics.execution(summary.statuses, time.perf_counter() - started, dead_lettered=summary.dead_lettered)
