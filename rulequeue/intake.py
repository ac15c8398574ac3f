"""Admitting a delivery: the one path from an event to a queued execution.

Used by the webhook endpoint, by ``rulequeue dlq replay`` and by the reconciler. In order:
the delivery is recorded in Postgres (so it can never be forgotten), the encrypted snapshot
is stored (SET NX: an existing one means the delivery is already in flight), the execution
takes its place in its issue's line, and the arq job is enqueued under a deterministic id.
"""

from __future__ import annotations

import contextlib
import math
import time
from enum import StrEnum

from arq.connections import ArqRedis

from rulequeue import constants, queue, snapshots
from rulequeue.crypto import Cipher
from rulequeue.store import deliveries
from rulequeue.store.db import Pool
from schemas.events import WebhookEvent
from schemas.job_options import JobOptions, trigger_issue_of
from schemas.jobs import BranchRef, ExecutionJob, ResumeRef


class Outcome(StrEnum):
    ACCEPTED = 'accepted'
    DUPLICATE = 'duplicate'
    IGNORED = 'ignored'


async def admit(
    redis: ArqRedis,
    pool: Pool,
    cipher: Cipher,
    client_key: str,
    delivery_id: str,
    event: WebhookEvent,
    body: bytes,
    *,
    licensed: bool = True,
    fetch_issue: bool = False,
    rule_ids: tuple[str, ...] | None = None,
    branch: BranchRef | None = None,
    resume: ResumeRef | None = None,
    defer_seconds: float = 0.0,
    line: tuple[str, str, float] | None = None,
) -> Outcome:
    """Admit one delivery; ``fetch_issue``, ``rule_ids``, ``branch`` and ``resume`` go into the job
    (schemas.jobs).

    ``defer_seconds`` (a delay's continuation) makes the job due later: its snapshot lives that
    much longer, and it takes its place in its issue's line at the moment it is due, so it does
    not hold back the issue's events meanwhile. ``line`` (a branch item) is its (key, member,
    score) in a line other than its issue's.
    """
    execution = constants.execution_id(client_key, delivery_id)
    due = time.time() + defer_seconds
    ttl = constants.SNAPSHOT_TTL_SECONDS + math.ceil(defer_seconds)
    if await redis.exists(constants.DONE_KEY.format(execution=execution)):
        return Outcome.DUPLICATE
    # Kept with the delivery, so the reconciler and a replay queue this same kind of execution again.
    options = JobOptions(
        fetch_issue=fetch_issue,
        rule_ids=rule_ids,
        branch=branch,
        resume=resume,
        due_at=due if defer_seconds else None,
        line=line,
        trigger_issue=trigger_issue_of(event.model_extra) if branch is not None else None,
        initiator=event.actor().get('accountId') if rule_ids is not None else None,
    )
    await deliveries.record(pool, client_key, delivery_id, execution, event, licensed=licensed, options=options)
    key = constants.snapshot_key(client_key, execution)
    if not await redis.set(key, snapshots.seal(cipher, client_key, body), ex=ttl, nx=True):
        return Outcome.DUPLICATE
    order = constants.order_key(client_key, event.issue.id)
    changelog_id = event.changelog.id if event.changelog and str(event.changelog.id or '').isdigit() else 0
    member = f'{int(changelog_id or 0):020d}:{execution}'
    score = due * 1000 if defer_seconds else float(event.timestamp or time.time() * 1000)
    if line is not None:
        order, member, score = line
    job = ExecutionJob(
        execution_id=execution,
        client_key=client_key,
        delivery_id=delivery_id,
        snapshot_key=key,
        received_at=due,
        order_key=order,
        order_member=member,
        licensed=licensed,
        fetch_issue=fetch_issue,
        rule_ids=rule_ids,
        branch=branch,
        resume=resume,
    )
    try:
        # Registered before the job exists, so the worker always sees its place in line.
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zadd(order, {member: score})
            pipe.expire(order, ttl)
            await pipe.execute()
        queued = await queue.enqueue_execution(redis, job, defer_seconds=defer_seconds)
    except BaseException:
        await _forget(redis, key, order, member)
        raise
    if not queued:
        # The job exists but had already purged its snapshot: it is finishing right now.
        await _forget(redis, key, order, member)
        return Outcome.DUPLICATE
    return Outcome.ACCEPTED


async def _forget(redis: ArqRedis, key: str, order: str, member: str) -> None:
    # Best effort: if Redis is failing, the TTLs and the ordering bound are the backstops.
    with contextlib.suppress(Exception):
        await redis.delete(key)
        await redis.zrem(order, member)
