"""The ``delay`` component: the rest of the rule runs later, in a deferred job.

Reaching a delay, the execution admits the rule's continuation (rulequeue.intake.admit with
``defer_seconds``): an execution of its own whose arq job waits in Redis (``_defer_by``), so a
worker restart during the delay loses nothing. It gets:

* a copy of the encrypted snapshot, kept the delay longer than a snapshot's TTL and purged when
  the continuation ends, whatever the outcome (worker.state.finish);
* the rule's progress so far, the delay marked ``continued``: the continuation runs the rule's
  action list again and skips what is done (worker/action_list.py), so it picks up right after
  the delay, through ``if`` blocks too, with the same data and ``{{createdIssue}}``;
* a place in its issue's line at the moment it is due, not before: the issue's events that
  come during the delay are not held back, and those after it wait for the continuation.

The execution that reached the delay stops the rule there and writes no audit row for it; its
other rules go on. The continuation writes the rule's one audit row when the rule ends, the
delay among its actions. Its delivery id is made of the execution's and the delay's place, so a
retried execution admits it once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from rulequeue import constants, intake, snapshots
from schemas.audit import ActionResult, ActionStatus
from schemas.events import WebhookEvent
from schemas.flow import DelayAction
from schemas.jobs import ResumeRef
from schemas.rules import StoredRule
from worker import state
from worker.flow import Flow


def continuation_delivery_id(execution: str, rule_id: str, path: str) -> str:
    return f'delay:{execution}:{rule_id}:{path}'


async def schedule(flow: Flow, stored: StoredRule, step: DelayAction, where: str, top: int) -> ActionResult:
    """Admit the continuation (once); the delay's result as this execution records it."""
    job = flow.job
    seconds = min(step.seconds, flow.settings.max_delay_seconds)
    delivery = continuation_delivery_id(job.execution_id, stored.id, where)
    execution = constants.execution_id(job.client_key, delivery)
    due = datetime.now(UTC) + timedelta(seconds=seconds)
    result = ActionResult(
        index=top,
        type='delay',
        path=where if '.' in where else None,
        status=ActionStatus.SUCCESS,
        changes={'seconds': seconds, 'continues_at': due.isoformat(timespec='seconds'), 'continued': False},
        message=None if seconds == step.seconds else f'shortened to MAX_DELAY_SECONDS ({seconds} s)',
    )
    if await flow.redis.exists(constants.DONE_KEY.format(execution=execution)):
        return result  # a retry after the continuation already ran
    raw = await snapshots.load(flow.redis, flow.cipher, job.client_key, job.snapshot_key)
    if raw is None:  # purged under the running execution (an uninstall): nothing to continue with
        return result.model_copy(update={'status': ActionStatus.FAILED, 'message': 'the snapshot is gone'})
    # The rule's progress so far, the delay passed, goes first: the continuation may start as soon as it is queued.
    prefix = state.progress_field(stored.id, stored.version, '')
    done = {k: v for k, v in (await state.load_progress(flow.redis, job)).items() if k.startswith(prefix)}
    passed = result.model_copy(update={'changes': {**result.changes, 'continued': True}})
    done[state.progress_field(stored.id, stored.version, where)] = passed
    progress_key = constants.PROGRESS_KEY.format(execution=execution)
    async with flow.redis.pipeline(transaction=True) as pipe:
        pipe.hset(progress_key, mapping={k: v.model_dump_json() for k, v in done.items()})
        pipe.expire(progress_key, constants.SNAPSHOT_TTL_SECONDS + seconds)
        await pipe.execute()
    await intake.admit(
        flow.redis,
        flow.pool,
        flow.cipher,
        job.client_key,
        delivery,
        WebhookEvent.model_validate(raw),
        json.dumps(raw).encode(),
        licensed=job.licensed,
        fetch_issue=job.fetch_issue,
        rule_ids=(stored.id,),
        branch=job.branch,
        resume=ResumeRef(rule_id=stored.id, rule_version=stored.version, path=where, seconds=seconds),
        defer_seconds=seconds,
    )
    return result
