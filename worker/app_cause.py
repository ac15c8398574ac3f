"""Was an event caused by our own app? The one decision, for both transports (FORGE.md 4, 8.13).

Rules without ``allow_rule_trigger`` skip our own changes, and the others carry the loop
chain on (worker.limits), so both transports must recognise the events our calls caused:

* **Connect** names the actor in full: ``accountType`` 'app' and our app user's account id
  (learnt once from ``GET /rest/api/2/myself``, worker.execute).
* **Forge** names it by ``atlassianId`` alone (no ``accountType``), but says more: an event of
  a change the app made itself is ``selfGenerated``, and one caused by a call that sent
  ``X-Atlassian-Webhook-Trace`` (worker.jira sends our execution id) carries it back as
  ``webhookTraceValue``. rulequeue.forge.intake keeps both under the snapshot's ``forge`` key.
  Any of the three marks it ours: ``selfGenerated``; a trace naming one of our executions
  (its chain depth is still remembered); an ``atlassianId`` equal to our app user's id when
  that id is already known (a change our Connect side made before the cut-over). A Forge event
  never needs the ``myself`` call: ``selfGenerated`` is Forge's own word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from rulequeue import constants
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent


@dataclass(frozen=True)
class ForgeMarks:
    """What a Forge event says of its cause (rulequeue.forge.intake.connect_shaped ``forge``)."""

    self_generated: bool
    trace: str | None


def forge_marks(event: WebhookEvent) -> ForgeMarks | None:
    """The Forge marks of an event that came over Forge; None for a Connect (or synthetic) one."""
    forge: Any = (event.model_extra or {}).get('forge')
    if not isinstance(forge, dict):
        return None
    trace = forge.get('webhookTraceValue')
    return ForgeMarks(forge.get('selfGenerated') is True, trace if isinstance(trace, str) and trace else None)


async def our_trace(redis: Redis, event: WebhookEvent) -> str | None:
    """The execution of ours whose call caused a Forge event, if its trace names one we remember."""
    marks = forge_marks(event)
    if marks is None or marks.trace is None:
        return None
    known = await redis.exists(constants.chain_execution_key(marks.trace))
    return marks.trace if known else None


async def decided(redis: Redis, tenant: Tenant, event: WebhookEvent) -> bool | None:
    """Whether our app caused ``event``; None when only our app user's id (not known yet) can tell."""
    actor = event.actor()
    marks = forge_marks(event)
    if marks is not None:
        if marks.self_generated or await our_trace(redis, event) is not None:
            return True
        account = actor.get('accountId')
        return bool(account) and account == tenant.app_account_id
    if actor.get('accountType') != 'app':
        return False
    if tenant.app_account_id is None:
        return None
    return actor.get('accountId') == tenant.app_account_id


def is_app_account(event: WebhookEvent, app_account: str) -> bool:
    """Once our app user's id is known: is the event's actor that user?"""
    return bool(app_account) and event.actor().get('accountId') == app_account
