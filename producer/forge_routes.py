"""Forge Remote's front door: ``POST /forge/{events,lifecycle,refresh,uninstall}`` (FORGE.md 3, 8).

Each call is verified first (``Authorization: Bearer <FIT>``, FORGE.md 3.3); nothing of the
body is read before. A failed check is the only 401; a backing service down is 503 (Forge
re-delivers); everything else is answered 204, fast, including events we cannot use (parked
with the reason, rulequeue.forge.intake). The paths are the manifest's
(rulequeue.forge.manifest.ROUTES), served with and without a trailing slash: Forge does not
follow redirects (pitfall 7).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from producer.deps import Deps
from producer.http import parse_json_object, read_body
from producer.observe import outcome_of
from rulequeue.errors import BadRequest, ForgeEventRejected, PayloadTooLarge
from rulequeue.forge import manifest
from rulequeue.forge.events import ForgeEvent, parse_event
from rulequeue.forge.fit import verify_invocation_token
from rulequeue.forge.intake import ForgeRoute, ForgeServices, Unusable, receive

log = structlog.get_logger('rulequeue.producer')

# Manifest endpoint key -> our route.
_ENDPOINTS = {
    'ep-events': ForgeRoute.EVENTS,
    'ep-lifecycle': ForgeRoute.LIFECYCLE,
    'ep-keepalive': ForgeRoute.REFRESH,
    'ep-uninstall': ForgeRoute.UNINSTALL,
}
_WITH_BODY = frozenset({ForgeRoute.EVENTS, ForgeRoute.LIFECYCLE})
# rulequeue_webhooks_received_total{event, outcome}: one event label per route, so Forge
# calls are told apart from Connect webhooks without new series per event type.
_EVENT_LABEL = {route: f'forge_{route.value}' for route in ForgeRoute}
_OUTCOME_LABEL = {
    'accepted': 'accepted',
    'duplicate': 'duplicate',
    'ignored': 'ignored',
    'rejected': 'rejected',
    'recorded': 'accepted',
}


def _deps(request: Request) -> Deps:
    deps: Deps = request.state.deps
    return deps


async def _parsed(request: Request, deps: Deps) -> ForgeEvent | Unusable:
    """The body as a Forge event, or why it is not one (oversize, not JSON, unknown type...)."""
    settings = deps.settings
    try:
        body = await read_body(request, settings.max_body_bytes, settings.body_read_timeout_seconds)
    except PayloadTooLarge:
        return Unusable(f'body over {settings.max_body_bytes} bytes')
    try:
        data = parse_json_object(body)
    except BadRequest as exc:
        return Unusable(exc.message)
    try:
        return parse_event(data)
    except ForgeEventRejected as exc:
        return Unusable(exc.reason, _event_type(data), _retry_count(data))


def _event_type(data: dict[str, Any]) -> str | None:
    payload = data.get('payload')
    value = payload.get('eventType') if isinstance(payload, dict) else data.get('eventType')
    return value if isinstance(value, str) else None


def _retry_count(data: dict[str, Any]) -> int:
    payload = data.get('payload')
    context = (payload if isinstance(payload, dict) else data).get('retryContext', data.get('retryContext'))
    count = context.get('retryCount') if isinstance(context, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _handler(route: ForgeRoute) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        deps = _deps(request)
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(forge_route=route.value, b3_trace_id=request.headers.get('x-b3-traceid'))
        try:
            if deps.forge_jwks is None:
                raise RuntimeError('the Forge key cache was not opened')
            ctx = await verify_invocation_token(
                request.headers.get('authorization'),
                deps.settings,
                deps.forge_jwks,
                system_token=request.headers.get('x-forge-oauth-system'),
            )
            # Ids only: never the token, the system token or the body.
            structlog.contextvars.bind_contextvars(forge_jti=ctx.jti, installation_id=ctx.installation_id)
            parsed = await _parsed(request, deps) if route in _WITH_BODY else None
            services = ForgeServices(deps.redis, deps.pool, deps.cipher, deps.settings, deps.http)
            result = await receive(services, ctx, route, parsed)
        except Exception as exc:
            deps.metrics.webhook(_EVENT_LABEL[route], outcome_of(exc))
            raise
        finally:
            structlog.contextvars.unbind_contextvars('forge_route', 'b3_trace_id', 'forge_jti', 'installation_id')
        # Acknowledged but not run because of the transport: counted apart (FORGE.md 8.14).
        deps.metrics.webhook(_EVENT_LABEL[route], result.skipped or _OUTCOME_LABEL[result.outcome])
        log.info(
            'forge',
            route=route.value,
            outcome=result.outcome,
            detail=result.detail,
            client_key=result.client_key,
            delivery_id=result.delivery_id,
            event_type=parsed.event_type if isinstance(parsed, ForgeEvent) else None,
            retry_count=parsed.retry_count if isinstance(parsed, ForgeEvent) else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return Response(status_code=204)

    return handle


def forge_routes() -> list[Route]:
    """The Forge endpoints at the manifest's paths, each also with a trailing slash."""
    routes = []
    for key, path in manifest.ROUTES.items():
        handler = _handler(_ENDPOINTS[key])
        routes.append(Route(path, handler, methods=['POST']))
        routes.append(Route(path + '/', handler, methods=['POST']))
    return routes
