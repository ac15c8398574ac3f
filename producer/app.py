"""The ASGI application: routes, error mapping, and a lifespan that owns the resources."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import structlog
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from producer import api, events_api, import_api, manual_api, observe, ops, routes, rule_tools_api, transport_api
from producer.deps import open_deps
from producer.forge_routes import forge_routes
from producer.http import error
from producer.ops_data import OpsHistory
from producer.request_context import RequestContext
from rulequeue.connect.descriptor import WEBHOOK_PATH
from rulequeue.errors import RequestRejected, TooManyRequests, Unprocessable
from rulequeue.settings import Settings

log = structlog.get_logger('rulequeue.producer')


async def _rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestRejected)
    if exc.status >= 500 or exc.status == 401:
        log.info('request rejected', path=request.url.path, status=exc.status, reason=exc.message)
    if isinstance(exc, Unprocessable):
        return error(exc.status, exc.message, errors=exc.errors)
    response = error(exc.status, exc.message)
    if isinstance(exc, TooManyRequests):
        response.headers['Retry-After'] = str(exc.retry_after)
    return response


async def _unavailable(request: Request, exc: Exception) -> Response:
    # Redis or Postgres is down: 503 makes Jira retry the delivery later; nothing was queued.
    log.warning('dependency unavailable', path=request.url.path, error=type(exc).__name__)
    return error(503, 'a backing service is unavailable, retry later')


async def _bad_data(request: Request, exc: Exception) -> Response:
    # The database refused a value (bad text, out-of-range number): the request's fault.
    log.info('request rejected', path=request.url.path, status=400, reason=type(exc).__name__)
    return error(400, 'request contains a value that cannot be stored')


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error('unhandled error', path=request.url.path, error=type(exc).__name__)
    return error(500, 'internal error')


def create_app(settings: Settings, *, http: httpx.AsyncClient | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_deps(settings, http=http) as deps:
            yield {'deps': deps, 'ops_history': OpsHistory()}

    return Starlette(
        routes=[
            Route('/atlassian-connect.json', routes.descriptor, methods=['GET']),
            Route(WEBHOOK_PATH, observe.counted(routes.webhook), methods=['POST']),
            Route('/lifecycle/{event:str}', observe.counted(routes.lifecycle, lifecycle=True), methods=['POST']),
            *forge_routes(),
            Route('/api/rules', api.create_rule, methods=['POST']),
            Route('/api/rules', api.list_rules, methods=['GET']),
            Route('/api/rules/schema', rule_tools_api.rule_schema, methods=['GET']),
            Route('/api/rules/dry-run', rule_tools_api.rule_dry_run, methods=['POST']),
            Route('/api/rules/import', import_api.import_rules, methods=['POST']),
            Route('/api/rules/{rule_id:str}', api.get_rule, methods=['GET']),
            Route('/api/rules/{rule_id:str}', api.replace_rule, methods=['PUT']),
            Route('/api/rules/{rule_id:str}', api.delete_rule, methods=['DELETE']),
            Route('/api/rules/{rule_id:str}/run', manual_api.run_rule, methods=['POST']),
            Route('/api/audit', api.list_audit, methods=['GET']),
            Route('/api/privacy', api.privacy, methods=['GET']),
            Route('/api/events/{delivery_id:str}', events_api.get_event, methods=['GET']),
            Route('/api/issues/{issue_key:str}/events', events_api.issue_events, methods=['GET']),
            Route('/api/settings/explain-values', events_api.get_explain_values, methods=['GET']),
            Route('/api/settings/explain-values', events_api.put_explain_values, methods=['PUT']),
            Route('/api/settings/transport', transport_api.get_transport, methods=['GET']),
            Route('/api/settings/transport', transport_api.put_transport, methods=['PUT']),
            Route('/api/web-request-hosts', api.get_web_request_hosts, methods=['GET']),
            Route('/api/web-request-hosts', api.put_web_request_hosts, methods=['PUT']),
            Route('/api/openapi.json', routes.openapi, methods=['GET']),
            Route('/healthz', routes.healthz, methods=['GET']),
            Route('/readyz', routes.readyz, methods=['GET']),
            Route('/metrics', observe.metrics, methods=['GET']),
            Route('/ops', ops.page, methods=['GET']),
            Route('/ops/data', ops.data, methods=['GET']),
        ],
        exception_handlers={
            RequestRejected: _rejected,
            RedisError: _unavailable,
            asyncpg.DataError: _bad_data,
            asyncpg.PostgresError: _unavailable,
            asyncpg.InterfaceError: _unavailable,
            # A connection the server terminated, caught mid-operation by the pool.
            asyncpg.InternalClientError: _unavailable,
            OSError: _unavailable,
            Exception: _unexpected,
        },
        # Outside the exception handlers, so their 'request rejected' lines carry the id too.
        middleware=[Middleware(RequestContext)],
        lifespan=lifespan,
    )
