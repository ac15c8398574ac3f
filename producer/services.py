"""What the producer does, as plain functions that know nothing of HTTP."""

from __future__ import annotations

import hashlib
from typing import Any

from producer import link_worklog
from producer.deps import Deps
from rulequeue import snapshots, transport
from rulequeue.errors import BadRequest
from rulequeue.intake import Outcome
from rulequeue.settings import Settings
from rulequeue.store import forge_tenants, tenants
from rulequeue.store.tenants import Tenant
from schemas.events import SUPPORTED_EVENTS, WebhookEvent

MAX_DELIVERY_ID_LENGTH = 200


def delivery_id_for(header: str | None, event: WebhookEvent) -> str:
    """Jira's ``X-Atlassian-Webhook-Identifier``, or a stable hash of the event without one.

    The identifier is the same on Jira's retries of a delivery, which is what makes it the
    de-duplication key. Without it, event type + issue + timestamp + changelog id identify
    the change.
    """
    if header:
        if len(header) > MAX_DELIVERY_ID_LENGTH or not header.isprintable():
            raise BadRequest('invalid X-Atlassian-Webhook-Identifier')
        return header
    parts = [
        event.webhookEvent,
        event.issue.id,
        str(event.timestamp),
        str(event.changelog.id if event.changelog else ''),
        str(event.comment.id if event.comment else ''),
        *link_worklog.derived_id_parts(event),  # none for issue and comment events
    ]
    return 'derived-' + hashlib.sha256('\0'.join(parts).encode()).hexdigest()[:32]


async def accept_webhook(
    deps: Deps, tenant: Tenant, delivery_id: str, event: WebhookEvent, body: bytes, *, licensed: bool = True
) -> Outcome:
    """Record, store and enqueue the delivery; answer-ready once all succeeded.

    An unlicensed delivery is accepted like any other: the worker records that its rules did
    not run (audit status UNLICENSED) and tells the rules' owners.
    """
    if tenant.state != 'installed' or event.webhookEvent not in SUPPORTED_EVENTS:
        return Outcome.IGNORED
    # Only while the tenant is on Connect, and only changes Forge has not run (rulequeue.transport).
    admission = await transport.admit_via(
        transport.CONNECT,
        deps.redis,
        deps.pool,
        deps.cipher,
        tenant,
        delivery_id,
        event,
        body,
        claim_changes=bool(deps.settings.forge_app_ids),
        licensed=licensed,
        fetch_issue=link_worklog.needs_issue(event),
    )
    return admission.outcome


def is_licensed(settings: Settings, lic: str | None) -> bool:
    """Jira appends ``lic=active|none`` to requests to paid apps; it is covered by the JWT's qsh."""
    return not settings.licensing_enforced or lic == 'active'


def lifecycle_payload(body: dict[str, Any], event: str) -> dict[str, Any]:
    """Check the fields a lifecycle body must have; 400 naming the first that is wrong."""
    required = ['clientKey', 'baseUrl'] + (['sharedSecret'] if event == 'installed' else [])
    for name in required:
        value = body.get(name)
        if not isinstance(value, str) or not value or len(value) > 1000:
            raise BadRequest(f'lifecycle body needs a string {name}')
    if not str(body['baseUrl']).startswith(('https://', 'http://')):
        raise BadRequest('baseUrl must be an http(s) URL')
    return body


async def apply_lifecycle(deps: Deps, event: str, payload: dict[str, Any]) -> None:
    """Apply a *verified* lifecycle call."""
    client_key = payload['clientKey']
    if event == 'installed':
        await tenants.save_installed(deps.pool, deps.cipher, payload)
    elif event == 'uninstalled':
        if await forge_tenants.connect_uninstalled_kept(deps.pool, client_key):
            return  # the site runs on Forge now: only its Connect secret goes
        await tenants.uninstall(deps.pool, client_key)
        await snapshots.drop_tenant(deps.redis, client_key)
    elif event == 'enabled':
        await tenants.set_state(deps.pool, client_key, 'installed')
    elif event == 'disabled':
        await tenants.set_state(deps.pool, client_key, 'disabled')


def event_summary(event: WebhookEvent) -> dict[str, Any]:
    """Ids only, for the canonical log line: never field values."""
    return {'webhook_event': event.webhookEvent, 'issue_id': event.issue.id}


__all__ = ['Outcome', 'accept_webhook', 'apply_lifecycle', 'delivery_id_for', 'event_summary', 'is_licensed']
