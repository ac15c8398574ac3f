"""Rule authoring aids: the rule JSON Schema, and a dry run of a rule on one issue.

A dry run changes nothing anywhere: the rule is not stored, no audit row or Redis key is
written, and its Jira writes are listed rather than sent (worker.dry_run).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import regex
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer.api import validate_rule
from producer.auth import authenticate_admin
from producer.deps import jira_client
from producer.http import check_json_content_type, parse_json_object, read_body
from producer.routes import deps_of
from rulequeue.errors import NotFound, PermanentJiraError, ServiceUnavailable, TransientJiraError, Unprocessable
from rulequeue.store.tenants import Tenant
from schemas.events import ISSUE_KEY_PATTERN
from schemas.rule_schema import rule_json_schema
from worker.dry_run import EVENT_TYPES, dry_run, dry_run_event
from worker.jira import JiraClient

# A dry run may carry a whole issue, larger than a rule alone.
DRY_RUN_BODY_LIMIT = 1024 * 1024
_KEYS = frozenset({'rule', 'issue_key', 'issue', 'event', 'changelog', 'comment', 'user'})
_ISSUE_KEY = regex.compile(ISSUE_KEY_PATTERN)


def _invalid(path: str, message: str) -> Unprocessable:
    return Unprocessable('dry run request is invalid', [{'path': path, 'message': message}])


async def rule_schema(request: Request) -> Response:
    """The JSON Schema of a rule document (the same as schemas/rule.schema.json)."""
    await authenticate_admin(deps_of(request), request)
    return JSONResponse(rule_json_schema())


async def _issue(jira: JiraClient, tenant: Tenant, data: dict[str, Any]) -> dict[str, Any]:
    if ('issue' in data) == ('issue_key' in data):
        raise _invalid('', 'give exactly one of "issue" and "issue_key"')
    if 'issue' in data:
        if not isinstance(data['issue'], dict):
            raise _invalid('issue', "an issue as Jira's REST API returns it")
        return data['issue']
    key = data['issue_key']
    if not isinstance(key, str) or not _ISSUE_KEY.match(key):
        raise _invalid('issue_key', 'an issue key such as PROJ-1')
    issue = await jira.request(tenant, 'GET', f'/rest/api/2/issue/{quote(key, safe="")}')
    if not isinstance(issue, dict):
        raise NotFound(f'Jira returned no issue {key}')
    return issue


async def rule_dry_run(request: Request) -> Response:
    """``{"rule": {...}, "issue_key": "PROJ-1" | "issue": {...}, "event": "issue_created"}`` → the report."""
    deps = deps_of(request)
    tenant, _ = await authenticate_admin(deps, request)
    check_json_content_type(request)
    data = parse_json_object(await read_body(request, DRY_RUN_BODY_LIMIT, deps.settings.body_read_timeout_seconds))
    if 'rule' not in data or set(data) - _KEYS:
        raise _invalid('', f'expected "rule" and "issue" or "issue_key"; allowed keys: {", ".join(sorted(_KEYS))}')
    rule = validate_rule(data['rule'], deps.settings)
    event_type = data.get('event', 'issue_created')
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise _invalid('event', f'one of {", ".join(EVENT_TYPES)}')
    jira = jira_client(deps)
    try:
        issue = await _issue(jira, tenant, data)
        extra: dict[str, Any] = {k: data[k] for k in ('changelog', 'comment', 'user') if k in data}
        try:
            event = dry_run_event(issue, event_type, extra)
        except ValidationError as exc:
            errors: list[dict[str, object]] = [
                {'path': '/'.join(str(p) for p in e['loc']), 'message': e['msg']} for e in exc.errors()
            ]
            raise Unprocessable('the issue or event is invalid', errors) from None
        report = await dry_run(jira, tenant, rule, event)
    except TransientJiraError as exc:
        raise ServiceUnavailable(f'Jira could not be read: {exc}') from None
    except PermanentJiraError as exc:
        if exc.status == 404:
            raise NotFound('no such issue in Jira') from None
        raise Unprocessable('Jira refused a read', [{'path': exc.path, 'message': str(exc)}]) from None
    return JSONResponse(report.model_dump(mode='json', by_alias=True))
