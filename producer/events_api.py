"""The explain API: why each rule did or did not run for an event, and the tenant's opt-in to keep values.

Tenant-scoped like the rules API (producer/api.py): every query is scoped by the token's tenant.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer.auth import authenticate_admin
from producer.http import check_json_content_type, parse_json_object, read_body
from producer.routes import deps_of
from rulequeue.errors import BadRequest, NotFound, Unprocessable
from rulequeue.store import evaluations
from rulequeue.store.tenants import Tenant
from schemas.evaluations import EvaluationRecord, ExplainValues
from schemas.rules import unstorable_text

SETTINGS_BODY_LIMIT = 1024
DEFAULT_ISSUE_EVENTS = 20


async def _tenant(request: Request) -> Tenant:
    tenant, _ = await authenticate_admin(deps_of(request), request)
    return tenant


def _path_text(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if unstorable_text(value) is not None:
        raise BadRequest(f'{name} may not contain NUL characters or unpaired surrogates')
    return value


def _json(record: EvaluationRecord) -> dict[str, object]:
    return record.model_dump(mode='json', exclude_none=True)


async def get_event(request: Request) -> Response:
    """The evaluation of one delivery: each rule of the tenant and why it did or did not run."""
    tenant = await _tenant(request)
    delivery_id = _path_text(request, 'delivery_id')
    record = await evaluations.for_delivery(deps_of(request).pool, tenant.client_key, delivery_id)
    if record is None:
        raise NotFound('no evaluation for this delivery')
    return JSONResponse(_json(record))


async def issue_events(request: Request) -> Response:
    """The latest evaluations of one issue, newest first."""
    tenant = await _tenant(request)
    issue_key = _path_text(request, 'issue_key')
    limit_text = request.query_params.get('limit', str(DEFAULT_ISSUE_EVENTS))
    if not limit_text.isdigit() or len(limit_text) > 6:
        raise BadRequest('limit must be a positive integer')
    records = await evaluations.for_issue(deps_of(request).pool, tenant.client_key, issue_key, int(limit_text))
    return JSONResponse({'events': [_json(r) for r in records]})


async def get_explain_values(request: Request) -> Response:
    tenant = await _tenant(request)
    enabled = await evaluations.keeps_values(deps_of(request).pool, tenant.client_key)
    return JSONResponse({'enabled': enabled})


async def put_explain_values(request: Request) -> Response:
    """Opt in (``{"enabled": true}``) or out of keeping failing conditions' actual values."""
    tenant = await _tenant(request)
    check_json_content_type(request)
    body = await read_body(request, SETTINGS_BODY_LIMIT, deps_of(request).settings.body_read_timeout_seconds)
    try:
        choice = ExplainValues.model_validate(parse_json_object(body), strict=True)
    except ValidationError:
        raise Unprocessable('expected {"enabled": true|false}', [{'path': 'enabled', 'message': 'a boolean'}]) from None
    await evaluations.set_keeps_values(deps_of(request).pool, tenant.client_key, choice.enabled)
    return JSONResponse({'enabled': choice.enabled})
