"""One transport per tenant, and one run per change across both transports (FORGE.md 8.14).

A tenant migrating from Connect to Forge may have both deliver the same change: Jira sends the
Connect webhook and the Forge event independently, minutes apart, and the tenant's transport
switches somewhere in between. Two rules keep every change running once:

* events of the transport that is not the tenant's (``tenants.transport``) are acknowledged and
  not run;
* a change both transports report is claimed, by whichever admits it first, under a key
  computed here from the Connect-shaped event both paths produce (the Forge path converts its
  events first), so the other transport's report of it is acknowledged and not run.

The second rule covers the switch itself: a change Connect ran just before the switch is not
run again when its Forge event arrives just after.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import structlog
from arq.connections import ArqRedis

from rulequeue import constants, intake
from rulequeue.crypto import Cipher
from rulequeue.intake import Outcome
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Tenant, Transport
from schemas.events import ID_ONLY_EVENTS, WebhookEvent
from schemas.link_worklog import change_id_of

log = structlog.get_logger('rulequeue.transport')

CONNECT: Transport = 'connect'
FORGE: Transport = 'forge'
Skipped = Literal['inactive_transport', 'other_transport']


def change_of(event: WebhookEvent) -> str | None:
    """What names the change an event reports, the same whichever transport reported it.

    None for events that fire no rule on their own (an update without a changelog) or carry
    nothing to tell changes apart: those are never claimed.
    """
    kind = event.webhookEvent
    if kind == 'jira:issue_created':
        return 'created'
    if kind == 'jira:issue_deleted':
        return 'deleted'
    if kind in ('comment_created', 'comment_updated'):
        if event.comment is None or not event.comment.id:
            return None
        if kind == 'comment_created':
            return f'comment:{event.comment.id}:created'
        updated = (event.comment.model_extra or {}).get('updated')
        return f'comment:{event.comment.id}:updated:{updated}'
    if kind in ID_ONLY_EVENTS:
        return change_id_of(event)  # the link's or worklog's id
    if kind == 'jira:issue_updated' and event.changelog is not None and event.changelog.id not in (None, ''):
        return f'changelog:{event.changelog.id}'
    return None


@dataclass(frozen=True)
class Claim:
    """A transport's right to run a change.

    Attributes:
        allowed: This transport claimed the change now, had claimed it before, or the event
            names no change; False when the other transport ran it.
        key: The key this call set (None if it set none): released if admission then fails.
    """

    allowed: bool
    key: str | None = None


def change_key(client_key: str, event: WebhookEvent) -> str | None:
    """The Redis key of ``event``'s change claim; None for an event that names no change."""
    change = change_of(event)
    return None if change is None else constants.change_key(client_key, event.issue.id, change)


async def claim_change(redis: ArqRedis, client_key: str, event: WebhookEvent, owner: str) -> Claim:
    """Claim ``event``'s change for ``owner``: a transport, or the Forge sweep (SET NX; the value
    is never overwritten)."""
    key = change_key(client_key, event)
    if key is None:
        return Claim(True)
    if await redis.set(key, owner, nx=True, ex=constants.CHANGE_TTL_SECONDS):
        return Claim(True, key)
    holder = await redis.get(key)
    # Gone in between (expired): nobody else holds it now.
    return Claim(holder is None or holder.decode() == owner)


@dataclass(frozen=True)
class Admission:
    outcome: Outcome
    skipped: Skipped | None = None


async def admit_via(
    transport: Transport,
    redis: ArqRedis,
    pool: Pool,
    cipher: Cipher,
    tenant: Tenant,
    delivery_id: str,
    event: WebhookEvent,
    body: bytes,
    *,
    claim_changes: bool,
    claim_as: str | None = None,
    licensed: bool = True,
    fetch_issue: bool = False,
    rule_ids: tuple[str, ...] | None = None,
) -> Admission:
    """:func:`rulequeue.intake.admit`, if ``transport`` is the tenant's and the change is not the other's.

    Args:
        claim_changes: Claim the change across transports (only worth its Redis write when
            Forge is configured at all).
        claim_as: Whose claim it is, if not ``transport``'s (the Forge sweep's: a late event
            of a swept change is then not run again).
    """
    if tenant.transport != transport:
        log.info(
            'transport decision',
            decision='not run: inactive transport',
            transport=transport,
            client_key=tenant.client_key,
        )
        return Admission(Outcome.IGNORED, 'inactive_transport')
    owner = claim_as or transport
    claim = await claim_change(redis, tenant.client_key, event, owner) if claim_changes else Claim(True)
    if not claim.allowed:
        log.info(
            'transport decision',
            decision='not run: the other transport ran this change',
            transport=transport,
            client_key=tenant.client_key,
        )
        return Admission(Outcome.IGNORED, 'other_transport')
    try:
        outcome = await intake.admit(
            redis,
            pool,
            cipher,
            tenant.client_key,
            delivery_id,
            event,
            body,
            licensed=licensed,
            fetch_issue=fetch_issue,
            rule_ids=rule_ids,
        )
    except BaseException:
        if claim.key is not None:
            await _release(redis, claim.key)
        raise
    return Admission(outcome)


async def _release(redis: ArqRedis, key: str) -> None:
    # Best effort: the delivery failed (503) and will come again; if Redis is down the claim
    # was probably never written, and otherwise it only expires.
    with contextlib.suppress(Exception):
        await redis.delete(key)
