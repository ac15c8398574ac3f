"""The producer's Prometheus side: ``GET /metrics``, and counting each webhook's outcome.

:func:`counted` wraps the webhook and lifecycle handlers: it sees the response or the exception
on its way to the app's exception handlers, so the outcome counted is the answer Jira got.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from producer.deps import Deps
from rulequeue.errors import PayloadTooLarge, RequestRejected, ServiceUnavailable, TooManyRequests
from rulequeue.metrics import LIFECYCLE_EVENT, event_label

Endpoint = Callable[[Request], Awaitable[Response]]


def outcome_of(exc: Exception) -> str:
    """The outcome label of a request that raised ``exc``."""
    if isinstance(exc, PayloadTooLarge):
        return 'too_large'
    if isinstance(exc, TooManyRequests):
        return 'rate_limited'
    if isinstance(exc, ServiceUnavailable) or not isinstance(exc, RequestRejected):
        # Redis or Postgres down (503), or a bug (500): either way Jira will deliver again.
        return 'unavailable'
    return 'rejected'


def counted(handler: Endpoint, *, lifecycle: bool = False) -> Endpoint:
    """``handler`` counted in ``rulequeue_webhooks_received_total``; webhook 2xx answers also timed."""

    async def endpoint(request: Request) -> Response:
        deps: Deps = request.state.deps
        started = time.perf_counter()
        try:
            response = await handler(request)
        except Exception as exc:
            deps.metrics.webhook(_event(request, lifecycle), outcome_of(exc))
            raise
        if lifecycle:
            deps.metrics.webhook(LIFECYCLE_EVENT, 'accepted')
        else:
            # The handler answers 200 for a delivery it already has, 202 for a new one.
            outcome = 'duplicate' if response.status_code == 200 else 'accepted'
            deps.metrics.webhook(_event(request, lifecycle), outcome, time.perf_counter() - started)
        return response

    return endpoint


def _event(request: Request, lifecycle: bool) -> str:
    if lifecycle:
        return LIFECYCLE_EVENT
    # Set by the webhook handler once the body is parsed; absent when it was refused before.
    name = getattr(request.state, 'webhook_event', None)
    return event_label(name if isinstance(name, str) else None)


async def metrics(request: Request) -> Response:
    """Prometheus text exposition; no Connect JWT (scrapers have none): keep it off the public ingress."""
    deps: Deps = request.state.deps
    body, content_type = deps.metrics.exposition(request.headers.get('accept', ''))
    return Response(body, headers={'Content-Type': content_type})
