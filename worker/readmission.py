"""Queueing a lost or dead-lettered execution again as the same kind of execution.

The reconciler (worker/reconcile.py) and a replay (producer/replay.py) rebuild an execution from
its stored envelope, a fresh read of its issue and its job options (schemas/job_options.py):

* a manual or scheduled run keeps its rules (``rule_ids``) and reads the issue itself again;
* a branch item keeps its branch, and for the reconciler its place in its parent's issue line;
  its ``{{triggerIssue}}`` is read from Jira again too, by the id and key kept for it;
* a delay's continuation is queued again by the reconciler, with what is left of its delay, only
  while its progress is still in Redis: the actions done before the delay are known by it alone,
  and without it the continuation would run them again. Without it the continuation is
  dead-lettered (:func:`give_up`), visibly, and the rest of the rule does not run.

A replay is a new execution: the replayed one's progress went with it, so a replayed
continuation runs its rule (or its branch's actions) again from the start.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import structlog
from redis.asyncio import Redis

from rulequeue import constants
from rulequeue.store import dead_letters, deliveries
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent
from schemas.job_options import TRIGGER_ISSUE, JobOptions
from worker import state
from worker.jira import JiraClient

log = structlog.get_logger('rulequeue.worker')

# The deliveries row's state once the reconciler gave up on it (the dead letter says why).
UNRECOVERABLE = 'unrecoverable'


def event_body(envelope: dict[str, Any], issue: dict[str, Any]) -> dict[str, Any]:
    """A webhook body from a stored envelope (event type, changed field names) and a fresh issue.

    For a status change the new status is the issue's current one, so a transition trigger's
    ``to`` filter matches only if the issue is still there.
    """
    status = ((issue.get('fields') or {}).get('status') or {}).get('name')
    items = []
    for item in envelope.get('changelog', {}).get('items', []):
        is_status = 'status' in (item.get('field'), item.get('fieldId'))
        items.append({**item, 'toString': status} if is_status else item)
    return {
        'timestamp': int(time.time() * 1000),
        'webhookEvent': envelope['webhookEvent'],
        'issue_event_type_name': envelope.get('issue_event_type_name'),
        'issue': issue,
        'changelog': {'id': None, 'items': items} if items else None,
        # A link's or worklog's ids (dead_letters.envelope_of), for their triggers and smart values.
        **{name: envelope[name] for name in ('issueLink', 'worklog') if name in envelope},
    }


async def refusal(redis: Redis, execution_id: str, options: JobOptions) -> str | None:
    """Why the reconciler cannot run this execution again as it was, or None if it can."""
    if options.branch is not None and options.trigger_issue is None:
        return 'a branch item whose trigger issue ({{triggerIssue}}) was not recorded: not run again'
    if options.resume is not None:
        delay = options.resume
        field = state.progress_field(delay.rule_id, delay.rule_version, delay.path)
        progress = constants.PROGRESS_KEY.format(execution=execution_id)
        if not await redis.hexists(progress, field):  # type: ignore[misc]
            return (
                f'the continuation after the delay at {delay.path} of rule {delay.rule_id} was lost with its '
                'progress (Redis); the rest of the rule was not run (a replay runs the rule from its start)'
            )
    return None


async def fresh_body(
    jira: JiraClient, tenant: Tenant, issue_ref: str, envelope: dict[str, Any], options: JobOptions
) -> dict[str, Any]:
    """The event body: the stored envelope, the issue as Jira has it now, a run's initiator, and a
    branch item's trigger issue read again.

    Raises:
        JiraError: An issue could not be read.
    """
    body = event_body(envelope, await _issue(jira, tenant, issue_ref))
    if options.initiator is not None:
        body['user'] = {'accountId': options.initiator}
    if options.branch is not None and options.trigger_issue is not None:
        body[TRIGGER_ISSUE] = await _issue(jira, tenant, options.trigger_issue.id)
    return body


def reconcile_options(options: JobOptions, *, now: float) -> dict[str, Any]:
    """``intake.admit`` keywords for the reconciler: the same job, due when it was due."""
    return {
        **replay_options(options),
        'resume': options.resume,
        'defer_seconds': max(0.0, options.due_at - now) if options.due_at else 0.0,
        'line': options.line,
    }


def replay_options(options: JobOptions) -> dict[str, Any]:
    """``intake.admit`` keywords for a replay: the same rules and part, from its start, now."""
    return {'fetch_issue': options.fetch_issue, 'rule_ids': options.rule_ids, 'branch': options.branch}


async def give_up(pool: Pool, row: dict[str, Any], options: JobOptions, reason: str) -> None:
    """Dead-letter a delivery the reconciler cannot run again as it was, and close its record."""
    issue = {'id': row['issue_id'], 'key': row['issue_key']}
    event = WebhookEvent.model_validate(event_body(row['envelope'], issue))
    await dead_letters.record(
        pool,
        client_key=row['client_key'],
        delivery_id=row['delivery_id'],
        execution_id=row['execution_id'],
        event=event,
        rule_ids=list(options.rule_ids or ()),
        error=reason,
        attempts=0,
    )
    await deliveries.finished(pool, row['client_key'], row['delivery_id'], UNRECOVERABLE)
    log.error('lost delivery not run again', delivery_id=row['delivery_id'], reason=reason)


async def _issue(jira: JiraClient, tenant: Tenant, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = await jira.request(tenant, 'GET', f'/rest/api/2/issue/{quote(ref, safe="")}')
    return found
