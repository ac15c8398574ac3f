"""What a verified Forge call does: token store, tenant, then the event (FORGE.md 4, 5, 8).

Called by producer/forge_routes.py once the invocation token verified; knows nothing of HTTP.
In order: the replay guard; an uninstalled installation is ignored until a new ``installed``;
the installation and its system token are recorded and linked to the site's tenant (made if
the site has none); then the call's own work. A product event is converted to the
Connect-shaped event the worker understands and admitted through
:func:`rulequeue.transport.admit_via` with ``fetch_issue`` (Forge's issue is partial).

Nothing here rejects a delivery to drop it: Forge re-delivers any non-2xx answer, so an
unusable event is parked in ``forge_rejected_events`` and acknowledged. Only a backing service
failing escapes (the route answers 503 and Forge re-delivers), and then nothing was queued.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import httpx
import structlog
from arq.connections import ArqRedis
from pydantic import ValidationError

from rulequeue import constants, snapshots, transport
from rulequeue.crypto import Cipher
from rulequeue.errors import ForgeEventRejected
from rulequeue.forge import connect_alias
from rulequeue.forge.events import ASSIGNED, DELETED, INSTALLED, ForgeEvent, LifecycleEvent, ProductEvent
from rulequeue.forge.events import idempotency_key as event_idempotency_key
from rulequeue.forge.fit import ForgeContext
from rulequeue.forge.link_worklog import IssueLinkEvent, WorklogEvent, connect_body
from rulequeue.forge.replay import reject_replay
from rulequeue.intake import Outcome
from rulequeue.settings import Settings
from rulequeue.store import deliveries, forge_installations, forge_rejections, forge_tenants, rules, tenants
from rulequeue.store.db import Pool
from schemas.events import WebhookEvent

log = structlog.get_logger('rulequeue.forge')

DELIVERY_PREFIX = 'forge:'


class ForgeRoute(StrEnum):
    """The remote's endpoints (rulequeue.forge.manifest.ROUTES)."""

    EVENTS = 'events'
    LIFECYCLE = 'lifecycle'
    REFRESH = 'refresh'
    UNINSTALL = 'uninstall'


@dataclass(frozen=True)
class Unusable:
    """A body that is not an event we can use; parked with ``reason``, acknowledged."""

    reason: str
    event_type: str | None = None
    retry_count: int = 0


@dataclass(frozen=True)
class ForgeServices:
    redis: ArqRedis
    pool: Pool
    cipher: Cipher
    settings: Settings
    http: httpx.AsyncClient | None = None  # outbound calls (the Connect alias lookup)


@dataclass(frozen=True)
class Received:
    """What became of a call, for the log line and the metrics.

    Attributes:
        outcome: accepted (queued), duplicate, ignored (acknowledged, not run: ``detail`` says
            why), rejected (parked as unusable) or recorded (lifecycle, refresh, uninstall).
        client_key: The tenant, once known.
        detail: Why it was ignored or rejected, or what a lifecycle call changed.
        delivery_id: The execution's delivery id, for product events.
    """

    outcome: Literal['accepted', 'duplicate', 'ignored', 'rejected', 'recorded']
    client_key: str | None = None
    detail: str | None = None
    delivery_id: str | None = None
    skipped: transport.Skipped | None = None


async def receive(
    svc: ForgeServices, ctx: ForgeContext, route: ForgeRoute, parsed: ForgeEvent | Unusable | None
) -> Received:
    """Handle one verified call; ``parsed`` is the body (None for refresh and uninstall)."""
    await reject_replay(svc.redis, ctx, leeway_seconds=svc.settings.forge_leeway_seconds)
    installing = isinstance(parsed, ForgeEvent) and parsed.event_type == INSTALLED
    if not installing and await forge_tenants.installation_state(svc.pool, ctx.installation_id) == 'uninstalled':
        # preUninstall came: nothing of this installation runs, and its token is not taken
        # back, until a new `installed` (FORGE.md 9 case 36).
        return Received('ignored', detail='installation uninstalled')
    client_key = await forge_tenants.resolve_tenant(svc.pool, ctx, _alias_lookup(svc, ctx))
    await forge_installations.record_invocation(svc.pool, svc.cipher, ctx)
    await forge_tenants.link(svc.pool, ctx.installation_id, client_key)
    if route is ForgeRoute.REFRESH:
        return Received('recorded', client_key, 'token refreshed')
    if route is ForgeRoute.UNINSTALL:
        return await _preuninstall(svc, ctx, client_key)
    if not isinstance(parsed, ForgeEvent):
        unusable = parsed if parsed is not None else Unusable('no body')
        return await _reject(svc, ctx, route, client_key, unusable)
    if isinstance(parsed.event, LifecycleEvent):
        return await _lifecycle(svc, ctx, client_key, parsed)
    try:
        return await _product(svc, ctx, client_key, parsed)
    except ForgeEventRejected as exc:
        unusable = Unusable(exc.reason, parsed.event_type, parsed.retry_count)
        return await _reject(svc, ctx, route, client_key, unusable)


def _alias_lookup(svc: ForgeServices, ctx: ForgeContext) -> Callable[[], Awaitable[str | None]] | None:
    """Asking Jira for the site's Connect clientKey (reserved property), if we can call out."""
    http = svc.http
    if http is None:
        return None

    async def lookup() -> str | None:
        return await connect_alias.connect_client_key(http, ctx, svc.settings.app_key)

    return lookup


async def _reject(
    svc: ForgeServices, ctx: ForgeContext, route: ForgeRoute, client_key: str, unusable: Unusable
) -> Received:
    await forge_rejections.record(
        svc.pool,
        client_key=client_key,
        installation_id=ctx.installation_id,
        route=route.value,
        reason=unusable.reason,
        event_type=unusable.event_type,
        retry_count=unusable.retry_count,
    )
    return Received('rejected', client_key, unusable.reason)


async def _preuninstall(svc: ForgeServices, ctx: ForgeContext, client_key: str) -> Received:
    """The token goes at once; a Forge-only tenant is uninstalled as a Connect one would be."""
    await forge_installations.deactivate(svc.pool, ctx.installation_id)
    outcome = await forge_tenants.after_preuninstall(svc.pool, client_key)
    if outcome == 'uninstalled':
        await snapshots.drop_tenant(svc.redis, client_key)
    return Received('recorded', client_key, outcome)


async def _lifecycle(svc: ForgeServices, ctx: ForgeContext, client_key: str, parsed: ForgeEvent) -> Received:
    if parsed.event_type == INSTALLED:
        await forge_tenants.installed(svc.pool, client_key, ctx.installation_id)
        return Received('recorded', client_key, 'installed')
    return Received('recorded', client_key, f'upgraded to {ctx.app_version or "an unknown version"}')


async def _product(svc: ForgeServices, ctx: ForgeContext, client_key: str, parsed: ForgeEvent) -> Received:
    tenant = await tenants.get_tenant(svc.pool, svc.cipher, client_key)
    if tenant is None or tenant.state != 'installed':
        return Received('ignored', client_key, 'tenant not installed')
    if tenant.transport != transport.FORGE and svc.settings.forge_cutover == 'auto':
        if await forge_tenants.switch_transport(svc.pool, client_key, transport.FORGE, only_from=transport.CONNECT):
            log.info('transport decision', decision='switched to forge (first Forge event)', client_key=client_key)
        tenant = dataclasses.replace(tenant, transport=transport.FORGE)
    if not parsed.triggers:
        return Received('ignored', client_key, 'fires no rule trigger (an edited comment)')
    body = connect_shaped(ctx, parsed)
    try:
        event = WebhookEvent.model_validate(body)
    except ValidationError as exc:
        fields = ', '.join('.'.join(str(p) for p in e['loc']) for e in exc.errors())
        raise ForgeEventRejected(f'event lacks what a rule run needs: {fields}') from None
    key = event_idempotency_key(ctx.installation_id, parsed)
    delivery_id = DELIVERY_PREFIX + key
    seen = constants.forge_event_key(client_key, key)
    if not await svc.redis.set(seen, 1, nx=True, ex=constants.FORGE_EVENT_TTL_SECONDS):
        return Received('duplicate', client_key, delivery_id=delivery_id)
    try:
        if await deliveries.exists(svc.pool, client_key, delivery_id):
            return Received('duplicate', client_key, delivery_id=delivery_id)
        admission = await transport.admit_via(
            transport.FORGE,
            svc.redis,
            svc.pool,
            svc.cipher,
            tenant,
            delivery_id,
            event,
            json.dumps(body, separators=(',', ':')).encode(),
            claim_changes=True,
            # Forge's signed app.license.active stands for Connect's lic=active (unlicensed:
            # UNLICENSED audit rows, no Jira call; worker.licensing).
            licensed=not svc.settings.licensing_enforced or ctx.license_active is True,
            # A deleted issue cannot be read back: its rules see Forge's partial issue.
            fetch_issue=parsed.event_type != DELETED,
            rule_ids=await rules.ids_with_triggers(svc.pool, client_key, parsed.triggers),
        )
    except BaseException:
        # Not admitted: Forge's re-delivery (after our 503) must not look like a duplicate.
        await _forget(svc.redis, seen)
        raise
    if admission.skipped is not None:
        return Received('ignored', client_key, admission.skipped, delivery_id, admission.skipped)
    outcome: Literal['accepted', 'duplicate', 'ignored'] = (
        'accepted' if admission.outcome is Outcome.ACCEPTED else 'duplicate'
    )
    return Received(outcome, client_key, delivery_id=delivery_id)


def connect_shaped(ctx: ForgeContext, parsed: ForgeEvent) -> dict[str, Any]:
    """The event as the Connect webhook body the worker matches on (FORGE contract 2).

    The issue is Forge's partial one (the worker reads the full issue first); the Forge
    specifics the loop breaker and the audit may want ride along under ``forge``. A link or
    worklog event becomes the body Connect's producer stores for it (issue ``{id}`` only, key
    unknown until the worker's read): rulequeue.forge.link_worklog.connect_body.

    Raises:
        ForgeEventRejected: A link or worklog the Connect path would not accept either.
    """
    inner = parsed.event
    assert not isinstance(inner, LifecycleEvent)
    body: dict[str, Any]
    if isinstance(inner, IssueLinkEvent | WorklogEvent):
        body = connect_body(inner)
    else:
        body = {
            'webhookEvent': parsed.connect_event,
            'timestamp': inner.timestamp,
            'issue': {'id': inner.issue.id, 'key': inner.issue.key, 'fields': inner.issue.fields},
        }
    body |= {
        'forge': {
            'eventType': inner.eventType,
            'installationId': ctx.installation_id,
            'cloudId': ctx.cloud_id,
            'selfGenerated': inner.selfGenerated,
            'webhookTraceValue': inner.webhookTraceValue,
            'retryCount': parsed.retry_count,
        },
    }
    if inner.atlassianId:
        body['user'] = {'accountId': inner.atlassianId}
    if not isinstance(inner, ProductEvent):
        return body
    type_name = (inner.model_extra or {}).get('jiraEventTypeName')
    if inner.eventType == ASSIGNED:
        body['issue_event_type_name'] = 'issue_assigned'
    elif isinstance(type_name, str):
        body['issue_event_type_name'] = type_name
    if inner.changelog is not None:
        body['changelog'] = inner.changelog.model_dump(mode='json', exclude_none=True)
    if inner.comment is not None:
        body['comment'] = inner.comment.model_dump(mode='json', exclude_none=True)
    return body


async def _forget(redis: ArqRedis, key: str) -> None:
    with contextlib.suppress(Exception):
        await redis.delete(key)
