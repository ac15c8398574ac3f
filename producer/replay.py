"""Replay a dead-lettered execution from a fresh copy of the issue.

The dead letter holds no issue data, so the issue is read again from Jira with a signed call
and queued as a new delivery (``replay-<id>-<random>``) through the same path as a webhook.
The changed fields' names come from the stored envelope; for a status change the new status
is the issue's current one, so a ``to`` filter matches only if the issue is still there.
The replay is the same kind of execution (worker/readmission.py): a manual or scheduled run's
rule only, a branch item's part only, on its issue; a continuation from its rule's start.
"""

from __future__ import annotations

import json
import uuid

import httpx

from producer.deps import open_deps
from rulequeue import intake
from rulequeue.errors import NotFound, RulequeueError
from rulequeue.intake import Outcome
from rulequeue.settings import Settings
from rulequeue.store import dead_letters, tenants
from schemas.events import WebhookEvent
from schemas.job_options import JobOptions
from worker import readmission
from worker.credentials import tenant_credentials
from worker.jira import JiraClient


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
        options = JobOptions.stored(letter.get('job_options'))
        # A delivery admitted by issue id (a link or worklog event) may have no key recorded.
        ref = letter['issue_key'] or letter['issue_id']
        body = await readmission.fresh_body(jira, tenant, ref, letter['envelope'], options)
        event = WebhookEvent.model_validate(body)
        delivery_id = f'replay-{letter_id}-{uuid.uuid4().hex[:8]}'
        # Straight to intake, as the reconciler: an explicit replay is no transport's change to claim, and
        # a manual or scheduled run's event type is no webhook's.
        outcome = await intake.admit(
            deps.redis,
            deps.pool,
            deps.cipher,
            tenant.client_key,
            delivery_id,
            event,
            json.dumps(body).encode(),
            **readmission.replay_options(options),
        )
        if outcome is not Outcome.ACCEPTED:
            raise RulequeueError(f'replay was not queued ({outcome.value})')
        await dead_letters.mark_replayed(deps.pool, letter_id, delivery_id)
        return delivery_id
