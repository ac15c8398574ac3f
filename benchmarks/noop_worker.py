"""The baseline of the execution benchmark: an arq worker with rulequeue's settings and a no-op job.

Same queue name, poll_delay, max_jobs (WORKER_CONCURRENCY), queue_read_limit, JSON serializer,
keep_result=0, job timeout and tries as ``rulequeue worker``; only the job function does nothing
and there is no start-up hook (no Postgres pool, no HTTP client) and no cron sweep.
``python -m benchmarks.noop_worker`` reads the same environment as ``rulequeue worker``.
"""

from __future__ import annotations

from typing import Any

from arq.worker import func, run_worker

from rulequeue import constants
from rulequeue.settings import load_settings
from worker.settings import build_worker_settings


async def noop(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    return None


def main() -> None:
    settings = load_settings()
    overrides = {
        'functions': [
            func(
                noop,
                name=constants.JOB_FUNCTION,
                timeout=constants.JOB_TIMEOUT_SECONDS,
                max_tries=constants.ARQ_MAX_TRIES,
            )
        ],
        'cron_jobs': [],
        'on_startup': None,
        'on_shutdown': None,
    }
    run_worker(build_worker_settings(settings, **overrides))


if __name__ == '__main__':
    main()
