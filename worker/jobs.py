"""The arq job function: parse the payload, call the plain execution service, map retries."""

from __future__ import annotations

from typing import Any

from arq import Retry

from schemas.jobs import ExecutionJob
from worker.execute import RetryLater, WorkerDeps, execute


async def run_execution(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    deps: WorkerDeps = ctx['deps']
    job = ExecutionJob.model_validate(payload)
    try:
        await execute(deps, job, job_try=ctx.get('job_try', 1))
    except RetryLater as retry:
        raise Retry(defer=retry.defer) from None
