"""Service limits of one execution, with Automation for Jira's defaults: loops and hourly throttling.

* **Loop detection.** Jira gives the events our app user causes no chain id, so the chain is
  derived: before a rule acts on an issue, the execution's depth is remembered for that issue
  (a short-lived Redis key). An event on the issue whose actor is our app user is one deeper
  than that; a person's event starts a new chain at 0. Past ``LOOP_MAX_DEPTH`` a rule does not
  run and is recorded as ``LOOP``.
* **Throttling.** Executions of a rule are counted per clock hour; past
  ``RULE_EXECUTIONS_PER_HOUR`` the rule does not run and is recorded as ``THROTTLED``, never
  dropped silently. Each delivery keeps the place it was first given, so a retried execution is
  not counted twice.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from rulequeue import constants
from rulequeue.settings import Settings
from schemas.audit import AuditStatus
from schemas.jobs import ExecutionJob

# The delivery's place among the rule's executions this hour: its own if it already has one.
_PLACE = """
local place = redis.call('HGET', KEYS[1], ARGV[1])
if place then return tonumber(place) end
place = redis.call('HINCRBY', KEYS[1], '#', 1)
redis.call('HSET', KEYS[1], ARGV[1], place)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return place
"""


async def chain_depth(
    redis: Redis, job: ExecutionJob, issue_id: str, *, caused_by_app: bool, cause: str | None = None
) -> int:
    """The execution's depth in a chain of changes our own actions caused (0: a person's change).

    Fixed at the execution's first start: on a retry the issue's key may already hold the depth
    this very execution wrote before acting. ``cause``: the execution of ours whose call caused
    the event (a Forge event's ``webhookTraceValue``, worker.app_cause): one deeper than it,
    whichever issue it acted on; else one deeper than the issue's last change by our actions.
    """
    depth = 0
    caused_at = await redis.get(constants.chain_execution_key(cause)) if caused_by_app and cause else None
    if caused_at is not None:
        depth = int(caused_at) + 1
    elif caused_by_app:
        last = await redis.get(constants.chain_issue_key(job.client_key, issue_id))
        depth = int(last) + 1 if last is not None else 1
    key = constants.chain_execution_key(job.execution_id)
    await redis.set(key, depth, nx=True, ex=constants.CHAIN_TTL_SECONDS)
    fixed = await redis.get(key)
    return depth if fixed is None else int(fixed)


async def acting_at(redis: Redis, client_key: str, issue_id: str, depth: int) -> None:
    """Remember, before acting, the depth of the change about to be made: the event it causes may
    be handled by another worker before this execution ends."""
    await redis.set(constants.chain_issue_key(client_key, issue_id), depth, ex=constants.CHAIN_TTL_SECONDS)


async def _hourly_place(redis: Redis, job: ExecutionJob, rule_id: str) -> int:
    hour = int(time.time() // 3600)
    key = constants.rule_hour_key(job.client_key, rule_id, hour)
    ttl = str(constants.RULE_HOUR_TTL_SECONDS)
    place: Any = await redis.eval(_PLACE, 1, key, job.delivery_id, ttl)  # type: ignore[misc]
    return int(place)


async def limit_reached(
    redis: Redis, settings: Settings, job: ExecutionJob, rule_id: str, depth: int
) -> tuple[AuditStatus, str] | None:
    """The status and message a rule is recorded with instead of running, or None if it may run."""
    if depth > settings.loop_max_depth:
        return AuditStatus.LOOP, (
            f'loop detected: re-triggered by rule actions {depth} times in a row '
            f'(limit {settings.loop_max_depth}); not run'
        )
    limit = settings.rule_executions_per_hour
    if limit and (place := await _hourly_place(redis, job, rule_id)) > limit:
        return AuditStatus.THROTTLED, (
            f'throttled: execution {place} of this rule in the current hour, over the limit of {limit}; not run'
        )
    return None
