"""An arq worker that rides out a Redis restart instead of exiting.

arq's poll loop lets a Redis connection error escape ``Worker.main``, so a two-second Redis
restart (or failover) kills every worker process at once, and each running execution then
waits for its in-progress key to expire. This worker logs the error, waits and polls again;
executions that were running when Redis went away keep running and finish once it is back.

One repair is needed after such an error: arq takes a concurrency slot (semaphore and job
counter) before claiming a job in Redis and gives it back only if the claim fails in Redis's
own way, so a connection error mid-claim would leak the slot. The slots are re-derived from
the tasks actually running.
"""

from __future__ import annotations

import asyncio

import structlog
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from rulequeue import constants

log = structlog.get_logger('rulequeue.worker')
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)  # BusyLoadingError (replaying the AOF) included


class ResilientWorker(Worker):
    """``arq.worker.Worker`` whose poll loop survives Redis being unreachable for a while."""

    redis_errors = 0

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            self.redis_errors += 1
            await self._reclaim_slots()
            log.warning('redis unavailable, polling again', error=type(exc).__name__, errors=self.redis_errors)
            await asyncio.sleep(constants.REDIS_DOWN_RETRY_SECONDS)

    async def _reclaim_slots(self) -> None:
        running = [task for task in self.tasks.values() if not task.done()]
        self.job_counter = len(running)
        # One slot held per running task, each given back when its task ends; never blocks,
        # as at most max_jobs run and the semaphore has max_jobs + 1.
        self.sem = asyncio.BoundedSemaphore(self.max_jobs + 1)
        for _ in running:
            await self.sem.acquire()
