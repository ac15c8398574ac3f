"""Running a rule by hand on one issue: ``POST /api/rules/{rule_id}/run`` with ``{"issue": "OPS-1"}``.

Only a rule whose trigger is ``manual`` can be run this way (A4J's Manual trigger, its
recommended way to try a rule). The producer never needs the issue's content: it reads the
issue's id and key with one signed GET (which also tells an unknown issue, 404, from a known
one), checks the rule's projects, and admits a synthetic ``rulequeue:manual`` event carrying only
``{id, key}`` and the caller as ``user`` (so ``{{initiator}}`` is whoever ran it). The worker
reads the issue from Jira (``fetch_issue``) and runs this rule only (``rule_ids``).

Every request is its own run: a fresh delivery id, answered with 202 so that
``GET /api/events/{delivery_id}`` explains it once it ran.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import regex
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer import ratelimit
from producer.auth import authenticate_admin
from producer.deps import jira_client
from producer.http import check_json_content_type, parse_json_object, read_body
from producer.routes import deps_of
from rulequeue import constants, intake
from rulequeue.errors import (
    Conflict,
    NotFound,
    PermanentJiraError,
    ServiceUnavailable,
    TransientJiraError,
    Unprocessable,
)
from rulequeue.store import rules
from rulequeue.store.tenants import Tenant
from schemas.events import ISSUE_KEY_PATTERN, WebhookEvent
from schemas.rules import Manual, StoredRule
from worker.matching import in_scope

RUN_BODY_LIMIT = 4 * 1024
_ISSUE = regex.compile(f'(?:{ISSUE_KEY_PATTERN})|(?:^[0-9]{{1,18}}$)')


def _invalid(message: str) -> Unprocessable:
    return Unprocessable('manual run request is invalid', [{'path': 'issue', 'message': message}])


async def _rule(request: Request, tenant: Tenant) -> StoredRule:
    """The rule to run: 404 if unknown, 409 if disabled or not a manual rule."""
    rule_id = request.path_params['rule_id']
    listed = await rules.rules_with_state(deps_of(request).pool, tenant.client_key)
    found = next(((stored, on) for stored, on in listed if stored.id == rule_id), None)
    if found is None:
        raise NotFound('no such rule')
    stored, enabled = found
    if not isinstance(stored.rule.trigger, Manual):
        raise Conflict(
            f'the rule has a {stored.rule.trigger.type} trigger; only rules with a manual trigger can be run by hand'
        )
    if not enabled:
        raise Conflict('the rule is disabled; enable it to run it')
    return stored


async def _issue(request: Request, tenant: Tenant, id_or_key: str) -> dict[str, Any]:
    """The issue's id, key and project as Jira has them (one signed GET)."""
    jira = jira_client(deps_of(request))
    path = f'/rest/api/2/issue/{quote(id_or_key, safe="")}'
    try:
        issue = await jira.request(tenant, 'GET', path, params={'fields': 'project'})
    except TransientJiraError as exc:
        raise ServiceUnavailable(f'Jira could not be read: {exc}') from None
    except PermanentJiraError as exc:
        if exc.status == 404:
            raise NotFound(f'no issue {id_or_key} in Jira (or the app may not see it)') from None
        raise Unprocessable('Jira refused to read the issue', [{'path': 'issue', 'message': str(exc)}]) from None
    if not isinstance(issue, dict) or not str(issue.get('id') or '').isdigit() or not issue.get('key'):
        raise ServiceUnavailable('Jira answered the issue read with something else')
    fields = issue.get('fields')
    project = fields.get('project') if isinstance(fields, dict) else None
    return {'id': str(issue['id']), 'key': str(issue['key']), 'fields': {'project': project} if project else {}}


def _requested_issue(body: bytes) -> str:
    data = parse_json_object(body)
    if set(data) != {'issue'}:
        raise _invalid('expected {"issue": "<issue key or id>"}')
    value = data['issue']
    if not isinstance(value, str) or not _ISSUE.fullmatch(value):
        raise _invalid('an issue key such as OPS-1, or an issue id such as 10001')
    return value


async def run_rule(request: Request) -> Response:
    """Admit one execution of a manual rule on one issue; 202 with its delivery id."""
    deps = deps_of(request)
    tenant, account_id = await authenticate_admin(deps, request)
    settings = deps.settings
    await ratelimit.take_tenant(
        deps.redis, tenant.client_key, settings.rate_limit_tenant_per_second, settings.rate_limit_tenant_burst
    )
    check_json_content_type(request)
    requested = _requested_issue(await read_body(request, RUN_BODY_LIMIT, settings.body_read_timeout_seconds))
    stored = await _rule(request, tenant)
    issue = await _issue(request, tenant, requested)
    body: dict[str, Any] = {
        'webhookEvent': constants.MANUAL_EVENT,
        'timestamp': int(time.time() * 1000),
        'issue': {'id': issue['id'], 'key': issue['key']},
    }
    if account_id is not None:
        body['user'] = {'accountId': account_id}
    event = WebhookEvent.model_validate(body)
    if not in_scope(stored.rule, WebhookEvent.model_validate({**body, 'issue': issue})):
        raise Conflict(f"issue {issue['key']} is not in the rule's projects ({', '.join(stored.rule.projects)})")
    delivery_id = f'manual-{uuid.uuid4()}'
    outcome = await intake.admit(
        deps.redis,
        deps.pool,
        deps.cipher,
        tenant.client_key,
        delivery_id,
        event,
        json.dumps(body).encode(),
        fetch_issue=True,
        rule_ids=(stored.id,),
    )
    answer = {'status': outcome.value, 'delivery_id': delivery_id, 'rule_id': stored.id, 'issue': body['issue']}
    return JSONResponse(answer, status_code=202)
