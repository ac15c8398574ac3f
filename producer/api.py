"""The tenant-scoped rules and audit API, for the app's own pages inside Jira.

Authenticated by a Connect JWT of the tenant whose ``qsh`` is the request's hash or
``context-qsh``. Every query is scoped by the token's tenant.
"""

from __future__ import annotations

import uuid
from typing import Any

import regex
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer.auth import authenticate_admin
from producer.http import check_json_content_type, parse_json_object, read_body
from producer.routes import deps_of
from rulequeue.errors import BadRequest, NotFound, Unprocessable
from rulequeue.privacy import inventory
from rulequeue.settings import Settings
from rulequeue.store import audit, rules, web_hosts
from rulequeue.store.tenants import Tenant
from schemas.audit import AuditStatus
from schemas.rules import Rule, StoredRule, unstorable_text

RULE_BODY_LIMIT = 256 * 1024


def _rule_json(stored: StoredRule) -> dict[str, Any]:
    document = stored.rule.model_dump(mode='json', by_alias=True)
    return {'id': stored.id, 'version': stored.version, **document}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def _tenant(request: Request) -> Tenant:
    tenant, _ = await authenticate_admin(deps_of(request), request)
    return tenant


async def _rule_from_body(request: Request) -> Rule:
    check_json_content_type(request)
    body = await read_body(request, RULE_BODY_LIMIT, deps_of(request).settings.body_read_timeout_seconds)
    return validate_rule(parse_json_object(body), deps_of(request).settings)


def validate_rule(data: Any, settings: Settings) -> Rule:
    """The rule document, checked against the deployment's limits; Unprocessable (422) if invalid."""
    try:
        limits = {'max_components': settings.max_rule_components, 'max_delay_seconds': settings.max_delay_seconds}
        return Rule.model_validate(data, context=limits)
    except ValidationError as exc:
        errors: list[dict[str, object]] = [
            {'path': '/'.join(str(p) for p in e['loc']), 'message': e['msg']} for e in exc.errors()
        ]
        raise Unprocessable('rule is invalid', errors) from None


async def create_rule(request: Request) -> Response:
    tenant = await _tenant(request)
    rule = await _rule_from_body(request)
    stored = await rules.create_rule(deps_of(request).pool, tenant.client_key, rule)
    return JSONResponse(_rule_json(stored), status_code=201)


async def list_rules(request: Request) -> Response:
    tenant = await _tenant(request)
    stored = await rules.list_rules(deps_of(request).pool, tenant.client_key)
    return JSONResponse({'rules': [_rule_json(s) for s in stored]})


async def get_rule(request: Request) -> Response:
    tenant = await _tenant(request)
    stored = await rules.get_rule(deps_of(request).pool, tenant.client_key, request.path_params['rule_id'])
    if stored is None:
        raise NotFound('no such rule')
    return JSONResponse(_rule_json(stored))


async def replace_rule(request: Request) -> Response:
    tenant = await _tenant(request)
    rule = await _rule_from_body(request)
    stored = await rules.replace_rule(deps_of(request).pool, tenant.client_key, request.path_params['rule_id'], rule)
    if stored is None:
        raise NotFound('no such rule')
    return JSONResponse(_rule_json(stored))


async def delete_rule(request: Request) -> Response:
    tenant = await _tenant(request)
    if not await rules.delete_rule(deps_of(request).pool, tenant.client_key, request.path_params['rule_id']):
        raise NotFound('no such rule')
    return Response(status_code=204)


async def list_audit(request: Request) -> Response:
    tenant = await _tenant(request)
    params = request.query_params
    status = params.get('status')
    if status is not None and status not in AuditStatus.__members__:
        raise BadRequest(f'status must be one of {", ".join(AuditStatus.__members__)}')
    limit_text = params.get('limit', '100')
    if not limit_text.isdigit():
        raise BadRequest('limit must be a positive integer')
    rule = params.get('rule')
    if rule is not None and not _is_uuid(rule):
        raise BadRequest('rule must be a rule id')
    issue = params.get('issue')
    if issue is not None and unstorable_text(issue) is not None:
        raise BadRequest('issue may not contain NUL characters or unpaired surrogates')
    entries = await audit.search(
        deps_of(request).pool,
        tenant.client_key,
        issue=issue,
        rule=rule,
        status=status,
        limit=int(limit_text),
    )
    return JSONResponse({'entries': [e.model_dump(mode='json', exclude={'client_key'}) for e in entries]})


async def privacy(request: Request) -> Response:
    """What is stored about this tenant, where, and for how long (this deployment's figures)."""
    await _tenant(request)
    return JSONResponse(inventory(deps_of(request).settings).model_dump(mode='json'))


HOST_PATTERN = regex.compile(r'(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?')


async def get_web_request_hosts(request: Request) -> Response:
    tenant = await _tenant(request)
    return JSONResponse({'hosts': await web_hosts.hosts(deps_of(request).pool, tenant.client_key)})


async def put_web_request_hosts(request: Request) -> Response:
    """Replace the hosts ``web_request`` actions may call: ``{"hosts": ["api.example.com", "*.example.org"]}``."""
    tenant = await _tenant(request)
    check_json_content_type(request)
    body = await read_body(request, RULE_BODY_LIMIT, deps_of(request).settings.body_read_timeout_seconds)
    data = parse_json_object(body)
    listed = data.get('hosts')
    if set(data) != {'hosts'} or not isinstance(listed, list) or len(listed) > web_hosts.MAX_HOSTS:
        raise Unprocessable('expected {"hosts": [...]}', [{'path': 'hosts', 'message': 'a list of host names'}])
    errors: list[dict[str, object]] = [
        {'path': f'hosts/{i}', 'message': 'a host name, optionally starting with "*."'}
        for i, host in enumerate(listed)
        if not isinstance(host, str) or len(host) > 253 or not HOST_PATTERN.fullmatch(host.lower())
    ]
    if errors:
        raise Unprocessable('invalid host names', errors)
    saved = await web_hosts.replace(deps_of(request).pool, tenant.client_key, listed)
    return JSONResponse({'hosts': saved})
