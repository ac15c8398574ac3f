"""Thin HTTP handlers: verify, cap, parse, call a service function, answer."""

from __future__ import annotations

import time

import structlog
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer import link_worklog, ratelimit, services
from producer.auth import authenticate_tenant, verify_install
from producer.deps import Deps
from producer.http import check_content_length, check_json_content_type, parse_json_object, read_body
from producer.openapi import build_openapi
from rulequeue.connect.descriptor import LIFECYCLE_PATHS, build_descriptor
from rulequeue.errors import BadRequest, NotFound, Unauthorized
from rulequeue.store.tenants import Tenant
from schemas.events import WebhookEvent

log = structlog.get_logger('rulequeue.producer')
LIFECYCLE_BODY_LIMIT = 64 * 1024
_STATUS = {services.Outcome.ACCEPTED: 202, services.Outcome.DUPLICATE: 200, services.Outcome.IGNORED: 202}


def deps_of(request: Request) -> Deps:
    deps: Deps = request.state.deps
    return deps


async def descriptor(request: Request) -> Response:
    return JSONResponse(build_descriptor(deps_of(request).settings))


async def webhook(request: Request) -> Response:
    deps = deps_of(request)
    started = time.perf_counter()
    structlog.contextvars.bind_contextvars(
        delivery_id=request.headers.get('x-atlassian-webhook-identifier'),
        retry=request.headers.get('x-atlassian-webhook-retry'),
    )
    try:
        check_content_length(request, deps.settings.max_body_bytes)
        tenant = await _authenticated_within_limits(deps, request)
        check_json_content_type(request)
        body = await read_body(request, deps.settings.max_body_bytes, deps.settings.body_read_timeout_seconds)
        data = parse_json_object(body)
        request.state.webhook_event = data.get('webhookEvent')  # for the metrics' event label
        data, body = link_worklog.as_issue_webhook(data, body)  # named by issue id: {id} added
        try:
            event = WebhookEvent.model_validate(data)
        except ValidationError as exc:
            raise BadRequest(f'not a Jira issue webhook: {_first_error(exc)}') from None
        delivery_id = services.delivery_id_for(request.headers.get('x-atlassian-webhook-identifier'), event)
        licensed = services.is_licensed(deps.settings, request.query_params.get('lic'))
        outcome = await services.accept_webhook(deps, tenant, delivery_id, event, body, licensed=licensed)
        log.info(
            'webhook',
            outcome=outcome.value,
            licensed=licensed,
            client_key=tenant.client_key,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **services.event_summary(event),
        )
        return JSONResponse({'status': outcome.value, 'delivery_id': delivery_id}, status_code=_STATUS[outcome])
    finally:
        structlog.contextvars.unbind_contextvars('delivery_id', 'retry')


async def _authenticated_within_limits(deps: Deps, request: Request) -> Tenant:
    settings, ip = deps.settings, request.client.host if request.client else None
    try:
        tenant = await authenticate_tenant(deps, request)
    except Unauthorized:
        await ratelimit.count_ip_failure(deps.redis, ip, settings.rate_limit_failures_per_ip_per_minute)
        raise
    await ratelimit.take_tenant(
        deps.redis, tenant.client_key, settings.rate_limit_tenant_per_second, settings.rate_limit_tenant_burst
    )
    return tenant


async def lifecycle(request: Request) -> Response:
    deps = deps_of(request)
    event = request.path_params['event']
    if event not in LIFECYCLE_PATHS:
        raise NotFound('no such lifecycle event')
    claims = await verify_install(deps, request)
    check_json_content_type(request)
    body = await read_body(request, LIFECYCLE_BODY_LIMIT, deps.settings.body_read_timeout_seconds)
    payload = services.lifecycle_payload(parse_json_object(body), event)
    if claims.get('iss') != payload['clientKey']:
        raise Unauthorized('install token issuer does not match the clientKey')
    await services.apply_lifecycle(deps, event, payload)
    log.info('lifecycle', lifecycle_event=event, client_key=payload['clientKey'])
    return Response(status_code=204)


async def openapi(request: Request) -> Response:
    return JSONResponse(build_openapi(deps_of(request).settings.app_base_url))


async def healthz(request: Request) -> Response:
    return JSONResponse({'status': 'ok'})


async def readyz(request: Request) -> Response:
    deps = deps_of(request)
    checks: dict[str, str] = {}
    try:
        await deps.redis.ping()
        checks['redis'] = 'ok'
    except Exception as exc:
        checks['redis'] = f'failing: {type(exc).__name__}'
    try:
        await deps.pool.fetchval('SELECT 1')
        checks['postgres'] = 'ok'
    except Exception as exc:
        checks['postgres'] = f'failing: {type(exc).__name__}'
    ready = all(v == 'ok' for v in checks.values())
    return JSONResponse({'status': 'ok' if ready else 'failing', 'checks': checks}, status_code=200 if ready else 503)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return '.'.join(str(p) for p in error['loc']) + ': ' + error['msg']
