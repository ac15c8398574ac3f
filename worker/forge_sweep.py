"""Forge's reconciling sweep: changes of Forge tenants' issues whose event never came (FORGE.md 4, 9 case 28).

Forge delivers at least once but not always: an event over 200 kB is dropped without a word,
and any event may queue for up to ~3 minutes. Every FORGE_SWEEP_MINUTES a worker cron calls
:func:`run_sweep`; for each tenant on the Forge transport with an active installation and an
enabled rule triggered by issue changes:

1. **The tick is taken** with SET NX per tenant and minute: one worker sweeps a tenant per tick.
2. **The search** ``updated >= "-<window>m"`` (through the tenant's app token) finds the issues
   changed in the window: the interval + Forge's delay allowance + a margin, so consecutive
   sweeps overlap. Relative minutes, not a date: Jira reads a date in the app user's time zone.
3. **Each change in the window and older than the delay allowance** (a late event is not
   raced): the issue's creation and each entry of its changelog. A change is run if nobody
   claimed it (rulequeue.transport's change key, which every admitted Forge event sets): the
   sweep claims it itself, with the owner 'sweep', so a late real event is acknowledged and not
   run, and admits the Connect-shaped event Forge's would have become (its changelog entry,
   ``fetch_issue``, the rules of its triggers) under the delivery id ``sweep:<issue>:<change>``:
   a repeated sweep cannot run it twice.

Comments, deletions, links and worklogs are not swept (no history Jira lists for them here).
Nothing new is audited: a swept change's executions are audited as an event's would be.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from arq.connections import ArqRedis

from rulequeue import constants, schedule, transport
from rulequeue.errors import JiraError
from rulequeue.forge.events import ASSIGNED, CREATED, TRIGGERS, UPDATED
from rulequeue.intake import Outcome
from rulequeue.jql.dates import of_field
from rulequeue.store import rules, tenants
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent
from worker.deps import WorkerDeps
from worker.issue_search import FoundIssue, search_issues

log = structlog.get_logger('rulequeue.forge_sweep')

DELIVERY_PREFIX = 'sweep:'
OWNER = 'sweep'  # the owner a swept change's claim names (a late event's claim then fails)
CREATED_TRIGGERS = TRIGGERS[CREATED][1]
UPDATED_TRIGGERS = TRIGGERS[UPDATED][1] + TRIGGERS[ASSIGNED][1]
SWEPT_TRIGGERS = CREATED_TRIGGERS + UPDATED_TRIGGERS
SEARCH_FIELDS = ('key', 'created', 'updated', 'creator')
CHANGELOG_PATH = '/rest/api/2/issue/{issue}/changelog'


class SweepOutcome(StrEnum):
    RAN = 'ran'
    TAKEN = 'taken'  # another worker, or an earlier call, swept this tenant this minute
    FAILED = 'failed'  # Jira could not answer; the next sweep's window overlaps this one's
    INACTIVE = 'inactive'  # no longer an installed Forge tenant


@dataclass
class TenantSweep:
    """What one sweep of one tenant did (tests read it)."""

    client_key: str
    outcome: SweepOutcome
    found: int = 0  # changes in the window, old enough, not yet claimed
    delivery_ids: list[str] = field(default_factory=list)  # admitted
    over_limit: bool = False


@dataclass(frozen=True)
class _Change:
    issue: FoundIssue
    at: datetime
    body: dict[str, Any]
    triggers: tuple[str, ...]

    @property
    def event(self) -> WebhookEvent:
        return WebhookEvent.model_validate(self.body)


def window(minutes: int) -> timedelta:
    """How far back a sweep looks: its interval, Forge's delay allowance and a margin."""
    seconds = minutes * 60 + constants.FORGE_DELIVERY_DELAY_SECONDS + constants.FORGE_SWEEP_MARGIN_SECONDS
    return timedelta(seconds=seconds)


async def forge_sweep_job(ctx: dict[str, Any]) -> int:
    """The arq cron entry point: the number of changes admitted."""
    deps: WorkerDeps = ctx['deps']
    return sum(len(s.delivery_ids) for s in await run_sweep(deps))


async def run_sweep(deps: WorkerDeps, now: datetime | None = None) -> list[TenantSweep]:
    """Sweep every Forge tenant with rules on issue changes, as of ``now`` (default: the time)."""
    if deps.settings.forge_sweep_minutes == 0:
        return []
    moment = now or datetime.now(UTC)
    return [await sweep_tenant(deps, client_key, moment) for client_key in await tenants_to_sweep(deps.pool)]


async def tenants_to_sweep(pool: Pool) -> list[str]:
    """Installed Forge tenants with an active installation and an enabled rule the sweep can fire."""
    rows = await pool.fetch(
        """SELECT t.client_key FROM tenants t
            WHERE t.state = 'installed' AND t.transport = 'forge'
              AND EXISTS (SELECT 1 FROM forge_installations f WHERE f.client_key = t.client_key AND f.state = 'active')
              AND EXISTS (SELECT 1 FROM rules r WHERE r.client_key = t.client_key AND r.enabled
                                                  AND r.document->'trigger'->>'type' = ANY($1::text[]))
            ORDER BY t.client_key""",
        list(SWEPT_TRIGGERS),
    )
    return [str(r['client_key']) for r in rows]


async def sweep_tenant(deps: WorkerDeps, client_key: str, now: datetime) -> TenantSweep:
    """One sweep of one tenant (see the module's docstring for the steps)."""
    result = TenantSweep(client_key, SweepOutcome.TAKEN)
    tick_key = constants.forge_sweep_tick_key(client_key, schedule.tick_id(now))
    if not await deps.redis.set(tick_key, '1', nx=True, ex=constants.FORGE_SWEEP_TICK_TTL_SECONDS):
        return result
    tenant = await tenants.get_tenant(deps.pool, deps.cipher, client_key)
    if tenant is None or not tenant.active or tenant.transport != transport.FORGE:
        result.outcome = SweepOutcome.INACTIVE
        return result
    span = window(deps.settings.forge_sweep_minutes)
    since, settled = now - span, now - timedelta(seconds=constants.FORGE_DELIVERY_DELAY_SECONDS)
    try:
        changes, result.over_limit = await _changes(deps, tenant, since, settled, math.ceil(span.total_seconds() / 60))
    except JiraError as exc:
        result.outcome = SweepOutcome.FAILED
        log.warning('forge sweep failed', client_key=client_key, error=type(exc).__name__)
        return result
    result.outcome = SweepOutcome.RAN
    licensed = await _licensed(deps, client_key)
    for change in changes:
        event = change.event
        key = transport.change_key(client_key, event)
        if key is None or await deps.redis.exists(key):
            continue  # its event came (or an earlier sweep ran it)
        result.found += 1
        delivery_id = await _admit(deps, tenant, change, event, licensed=licensed)
        if delivery_id is not None:
            result.delivery_ids.append(delivery_id)
    log.info(
        'forge sweep',
        client_key=client_key,
        found=result.found,
        admitted=len(result.delivery_ids),
        over_limit=result.over_limit,
    )
    return result


async def _changes(
    deps: WorkerDeps, tenant: Tenant, since: datetime, settled: datetime, minutes: int
) -> tuple[list[_Change], bool]:
    """The changes of the window older than the delay allowance, and whether the search was cut."""
    found = await search_issues(
        deps.jira,
        tenant,
        f'updated >= "-{minutes}m"',
        limit=deps.settings.max_issues_per_search,
        fields=SEARCH_FIELDS,
    )
    changes: list[_Change] = []
    for issue in found.issues:
        created = of_field(issue.fields.get('created'))
        if created is not None and since <= created <= settled:
            changes.append(_created(issue, created))
        for entry in await _history(deps, tenant, issue, since):
            at = of_field(entry.get('created'))
            if at is not None and since <= at <= settled and entry.get('id') not in (None, ''):
                changes.append(_updated(issue, entry, at))
    return sorted(changes, key=lambda c: c.at), found.over_limit


async def _history(deps: WorkerDeps, tenant: Tenant, issue: FoundIssue, since: datetime) -> list[dict[str, Any]]:
    """The issue's changelog entries, from the newest back past ``since`` (a few pages at most)."""
    path = CHANGELOG_PATH.format(issue=issue.id)
    size = constants.SEARCH_PAGE_SIZE
    page = await deps.jira.request(tenant, 'GET', path, params={'startAt': '0', 'maxResults': str(size)})
    entries = _values(page)
    total = page.get('total') if isinstance(page, dict) else None
    if page.get('isLast') is True or not isinstance(total, int) or total <= len(entries):
        return entries
    # Jira lists oldest first: read the last pages, newest first, until one starts before the window.
    newest: list[dict[str, Any]] = []
    start = total
    for _ in range(constants.FORGE_SWEEP_MAX_CHANGELOG_PAGES):
        start = max(0, start - size)
        params = {'startAt': str(start), 'maxResults': str(size)}
        values = _values(await deps.jira.request(tenant, 'GET', path, params=params))
        newest = values + newest
        oldest = of_field(values[0].get('created')) if values else None
        if start == 0 or oldest is None or oldest < since:
            break
    return newest


def _values(page: Any) -> list[dict[str, Any]]:
    values = page.get('values') if isinstance(page, dict) else None
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _issue(issue: FoundIssue) -> dict[str, Any]:
    fields = {name: issue.fields[name] for name in ('created', 'updated') if name in issue.fields}
    return {'id': issue.id, 'key': issue.key, 'fields': fields}


def _created(issue: FoundIssue, at: datetime) -> _Change:
    body: dict[str, Any] = {'webhookEvent': 'jira:issue_created', 'timestamp': _ms(at), 'issue': _issue(issue)}
    creator = issue.fields.get('creator')
    if isinstance(creator, dict) and creator.get('accountId'):
        body['user'] = creator
    return _Change(issue, at, body, CREATED_TRIGGERS)


def _updated(issue: FoundIssue, entry: dict[str, Any], at: datetime) -> _Change:
    items = [i for i in entry.get('items') or [] if isinstance(i, dict)]
    changelog_id = str(entry['id'])
    assigned = bool(items) and all(i.get('fieldId') == 'assignee' for i in items)
    body: dict[str, Any] = {
        'webhookEvent': 'jira:issue_updated',
        'issue_event_type_name': 'issue_assigned' if assigned else 'issue_generic',
        'timestamp': _ms(at),
        'issue': _issue(issue),
        'changelog': {'id': changelog_id, 'items': items},
    }
    author = entry.get('author')
    # The REST author (with accountType): an app's own change is recognised as on Connect.
    if isinstance(author, dict) and author.get('accountId'):
        body['user'] = author
    return _Change(issue, at, body, UPDATED_TRIGGERS)


async def _licensed(deps: WorkerDeps, client_key: str) -> bool:
    """A swept change runs as the site's latest delivery did: no FIT vouches for its licence."""
    if not deps.settings.licensing_enforced:
        return True
    latest = await deps.pool.fetchval(
        'SELECT licensed FROM deliveries WHERE client_key = $1 ORDER BY received_at DESC LIMIT 1', client_key
    )
    return latest is True


async def _admit(
    deps: WorkerDeps, tenant: Tenant, change: _Change, event: WebhookEvent, *, licensed: bool
) -> str | None:
    """Claim the change (as the sweep) and admit it; None if nothing would run or its event came meanwhile."""
    rule_ids = await rules.ids_with_triggers(deps.pool, tenant.client_key, change.triggers)
    if not rule_ids:
        return None
    delivery_id = f'{DELIVERY_PREFIX}{change.issue.id}:{transport.change_of(event)}'
    redis: ArqRedis = deps.redis  # type: ignore[assignment]  # arq gives workers an ArqRedis
    admission = await transport.admit_via(
        transport.FORGE,
        redis,
        deps.pool,
        deps.cipher,
        tenant,
        delivery_id,
        event,
        json.dumps(change.body, separators=(',', ':')).encode(),
        claim_changes=True,
        claim_as=OWNER,
        licensed=licensed,
        fetch_issue=True,
        rule_ids=rule_ids,
    )
    return delivery_id if admission.outcome is Outcome.ACCEPTED else None
