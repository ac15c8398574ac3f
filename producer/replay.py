"""Replay a dead-lettered execution from a fresh copy of the issue.

The dead letter holds no issue data, so the issue is read again from Jira with a signed call
and queued as a new delivery (``replay-<id>-<random>``) through the same path as a webhook.
The changed fields' names come from the stored envelope; for a status change the new status
is the issue's current one, so a ``to`` filter matches only if the issue is still there.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import httpx

from producer.deps import open_deps
from producer.services import Outcome, accept_webhook
from rulequeue.errors import NotFound, RulequeueError
from rulequeue.settings import Settings
from rulequeue.store import dead_letters, tenants
from schemas.events import WebhookEvent
from worker.credentials import tenant_credentials
from worker.jira import JiraClient
from worker.reconcile import event_body


async def replay(settings: Settings, letter_id: int, *, http: httpx.AsyncClient | None = None) -> str:
    """Queue the dead letter again; returns the replay's delivery id."""
    async with open_deps(settings, http=http) as deps, httpx.AsyncClient() as own_http:
        letter = await dead_letters.get(deps.pool, letter_id)
        if letter is None:
            raise NotFound(f'no dead letter {letter_id}')
        tenant = await tenants.get_tenant(deps.pool, deps.cipher, letter['client_key'])
        if tenant is None or not tenant.active:
            raise RulequeueError('the tenant is not installed and enabled: nothing to replay against')
        jira = JiraClient(
            http or own_http,
            credentials=tenant_credentials(settings.app_key, deps.pool, deps.cipher),
            timeout=settings.jira_timeout_seconds,
        )
        issue = await jira.request(tenant, 'GET', f'/rest/api/2/issue/{quote(letter["issue_key"], safe="")}')
        body = event_body(letter['envelope'], issue)
        event = WebhookEvent.model_validate(body)
        delivery_id = f'replay-{letter_id}-{uuid.uuid4().hex[:8]}'
        outcome = await accept_webhook(deps, tenant, delivery_id, event, json.dumps(body).encode())
        if outcome is not Outcome.ACCEPTED:
            raise RulequeueError(f'replay was not queued ({outcome.value})')
        await dead_letters.mark_replayed(deps.pool, letter_id, delivery_id)
        return delivery_id
