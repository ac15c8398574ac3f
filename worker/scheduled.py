"""Scheduled rules: each minute, the due ones search Jira and run once per issue found.

A worker cron (worker/settings.py) calls :func:`run_due` every minute. For each enabled
``scheduled`` rule of an installed tenant whose cron names this minute (rulequeue/schedule.py):

1. **The tick is taken** with SET NX on a per-rule-per-minute key: however many workers run the
   cron, one of them starts the rule for that minute, and calling again for the same minute
   does nothing.
2. **One run at a time** (A4J's limit): the rule's run lock is taken. It is held while the run
   searches and admits, then until every execution it admitted has its done marker (checked by
   the next due tick) or a generous TTL passes. A due tick that finds a run in progress is
   skipped, and visibly so: a THROTTLED audit row and a log line.
3. **The search** (worker/issue_search.py) finds at most MAX_ISSUES_PER_SEARCH issues; beyond
   that the rest is not run and the run gets a THROTTLED audit row saying so.
4. **Each issue found is its own execution** through rulequeue.intake.admit: a synthetic
   ``rulequeue:scheduled`` event carrying only ``{id, key}`` (the worker reads the issue itself:
   ``fetch_issue``), for this rule only (``rule_ids``), under the delivery id
   ``scheduled:<rule>:<tick>:<issue id>``: a repeated tick cannot run an issue twice.

A search Jira cannot answer or refuses is recorded as a FAILURE row for the run; the next due
tick tries again. Run-level rows (skipped, throttled, failed) carry the run's delivery id
``scheduled:<rule>:<tick>`` and no issue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog
from arq.connections import ArqRedis
from redis.asyncio import Redis

from rulequeue import constants, intake, schedule
from rulequeue.errors import JiraError
from rulequeue.store import audit, tenants
from rulequeue.store.scheduled_rules import scheduled_rules
from schemas.audit import AuditEntry, AuditStatus
from schemas.events import WebhookEvent
from schemas.rules import Scheduled, StoredRule
from worker.deps import WorkerDeps
from worker.issue_search import FoundIssue, search_issues

log = structlog.get_logger('rulequeue.scheduler')
_ADMITTED = ':admitted'
# Take over the lock of a finished run, only if it still names that run (another worker's
# cron may be looking at the same lock).
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
"""


class TickOutcome(StrEnum):
    RAN = 'ran'  # searched and admitted (THROTTLED as well if the search was over the limit)
    TAKEN = 'taken'  # another worker, or an earlier call, already took this tick
    BUSY = 'busy'  # the rule's previous run is still in progress: skipped
    FAILED = 'failed'  # the search failed; recorded, tried again at the next due tick
    INACTIVE = 'inactive'  # the tenant is no longer installed


@dataclass
class ScheduledRun:
    """What one due tick of one rule did (the cron's return value; tests read it)."""

    client_key: str
    rule_id: str
    tick: str
    outcome: TickOutcome
    delivery_ids: list[str] = field(default_factory=list)
    over_limit: bool = False


def run_delivery_id(rule_id: str, tick: str) -> str:
    return f'scheduled:{rule_id}:{tick}'


def issue_delivery_id(rule_id: str, tick: str, issue_id: str) -> str:
    return f'{run_delivery_id(rule_id, tick)}:{issue_id}'


async def run_due(deps: WorkerDeps, now: datetime | None = None) -> list[ScheduledRun]:
    """Start every scheduled rule due in the minute of ``now`` (default: the current time)."""
    tick = schedule.tick_of(now or datetime.now(UTC))
    runs: list[ScheduledRun] = []
    for client_key, stored in await scheduled_rules(deps.pool):
        trigger = stored.rule.trigger
        if not isinstance(trigger, Scheduled) or not schedule.is_due(trigger.cron, trigger.timezone, tick):
            continue
        runs.append(await run_tick(deps, client_key, stored, tick))
    return runs


async def scheduled_job(ctx: dict[str, Any]) -> int:
    """The arq cron entry point: the number of rules that ran this minute."""
    deps: WorkerDeps = ctx['deps']
    return sum(run.outcome is TickOutcome.RAN for run in await run_due(deps))


async def run_tick(deps: WorkerDeps, client_key: str, stored: StoredRule, tick: datetime) -> ScheduledRun:
    """One due tick of one rule (see the module's docstring for the steps)."""
    tick_text = schedule.tick_id(tick)
    run = ScheduledRun(client_key, stored.id, tick_text, TickOutcome.TAKEN)
    tick_key = constants.scheduled_tick_key(client_key, stored.id, tick_text)
    if not await deps.redis.set(tick_key, '1', nx=True, ex=constants.SCHEDULED_TICK_TTL_SECONDS):
        return run
    tenant = await tenants.get_tenant(deps.pool, deps.cipher, client_key)
    if tenant is None or not tenant.active:
        run.outcome = TickOutcome.INACTIVE
        return run
    lock, executions = constants.scheduled_run_keys(client_key, stored.id)
    if not await _take_lock(deps.redis, lock, executions, tick_text):
        run.outcome = TickOutcome.BUSY
        held = await deps.redis.get(lock)
        since = (held or b'?').decode().removesuffix(_ADMITTED)
        message = (
            f'scheduled run of {tick_text} skipped: the run of {since} is still in progress '
            '(one run of a scheduled rule at a time)'
        )
        log.warning('scheduled tick skipped', client_key=client_key, rule_id=stored.id, tick=tick_text, running=since)
        await _record_run(deps, client_key, stored, tick_text, AuditStatus.THROTTLED, message)
        return run
    trigger = stored.rule.trigger
    assert isinstance(trigger, Scheduled)  # only scheduled rules are listed
    try:
        result = await search_issues(deps.jira, tenant, trigger.jql, limit=deps.settings.max_issues_per_search)
    except JiraError as exc:
        await deps.redis.delete(lock, executions)
        run.outcome = TickOutcome.FAILED
        log.warning('scheduled search failed', client_key=client_key, rule_id=stored.id, error=type(exc).__name__)
        await _record_run(deps, client_key, stored, tick_text, AuditStatus.FAILURE, f'scheduled search failed: {exc}')
        return run
    run.outcome, run.over_limit = TickOutcome.RAN, result.over_limit
    if result.over_limit:
        log.warning('scheduled search over the limit', client_key=client_key, rule_id=stored.id, limit=result.limit)
        await _record_run(deps, client_key, stored, tick_text, AuditStatus.THROTTLED, result.throttle_message())
    for position, issue in enumerate(result.issues, start=1):
        run.delivery_ids.append(await _admit(deps, client_key, stored.id, tick, issue, executions))
        if position % constants.SEARCH_PAGE_SIZE == 0:
            await deps.redis.expire(lock, constants.SCHEDULED_ADMIT_TTL_SECONDS)
    # Admitted: the lock now waits for the executions (or the backstop TTL).
    await deps.redis.set(lock, tick_text + _ADMITTED, ex=constants.SCHEDULED_RUN_TTL_SECONDS)
    await deps.redis.expire(executions, constants.SCHEDULED_RUN_TTL_SECONDS)
    log.info('scheduled run', client_key=client_key, rule_id=stored.id, tick=tick_text, issues=len(result.issues))
    return run


async def _take_lock(redis: Redis, lock: str, executions: str, tick: str) -> bool:
    """Take the rule's run lock; False while an earlier run is admitting or has executions pending."""
    if await redis.set(lock, tick, nx=True, ex=constants.SCHEDULED_ADMIT_TTL_SECONDS):
        await redis.delete(executions)  # whatever a run that expired left behind
        return True
    held = await redis.get(lock)
    if held is None:  # expired in between
        return bool(await redis.set(lock, tick, nx=True, ex=constants.SCHEDULED_ADMIT_TTL_SECONDS))
    held_text = held.decode()
    if not held_text.endswith(_ADMITTED):
        return False
    members = [m.decode() for m in await redis.smembers(executions)]  # type: ignore[misc]
    done_keys = [constants.DONE_KEY.format(execution=m) for m in members]
    if done_keys and await redis.exists(*done_keys) < len(done_keys):
        return False
    ttl = str(constants.SCHEDULED_ADMIT_TTL_SECONDS)
    taken: Any = await redis.eval(_TAKE_OVER, 2, lock, executions, held_text, tick, ttl)  # type: ignore[misc]
    return bool(taken)


async def _admit(
    deps: WorkerDeps, client_key: str, rule_id: str, tick: datetime, issue: FoundIssue, executions: str
) -> str:
    delivery_id = issue_delivery_id(rule_id, schedule.tick_id(tick), issue.id)
    body = {
        'webhookEvent': constants.SCHEDULED_EVENT,
        'timestamp': int(tick.timestamp() * 1000),
        'issue': {'id': issue.id, 'key': issue.key},
    }
    event = WebhookEvent.model_validate(body)
    # Listed first: the lock must never be released while an execution of the run is unknown to it.
    await deps.redis.sadd(executions, constants.execution_id(client_key, delivery_id))  # type: ignore[misc]
    redis: ArqRedis = deps.redis  # type: ignore[assignment]  # arq gives workers an ArqRedis
    await intake.admit(
        redis,
        deps.pool,
        deps.cipher,
        client_key,
        delivery_id,
        event,
        json.dumps(body).encode(),
        fetch_issue=True,
        rule_ids=(rule_id,),
    )
    return delivery_id


async def _record_run(
    deps: WorkerDeps, client_key: str, stored: StoredRule, tick: str, status: AuditStatus, message: str
) -> None:
    """A run-level audit row (no issue): skipped, over the search limit, or the search failed."""
    entry = AuditEntry(
        client_key=client_key,
        rule_id=stored.id,
        rule_name=stored.rule.name,
        rule_version=stored.version,
        status=status,
        issue_key='',
        issue_id='',
        delivery_id=run_delivery_id(stored.id, tick),
        event_type=constants.SCHEDULED_EVENT,
        messages=[message],
        started_at=datetime.now(UTC),
        duration_ms=0,
    )
    await audit.record(deps.pool, entry)
