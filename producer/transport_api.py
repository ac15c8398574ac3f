"""``GET/PUT /api/settings/transport``: which transport's events a tenant runs (FORGE.md 8.14).

Tenant-scoped like the rest of the API (a Connect JWT names the tenant). Switching to Forge
needs an active Forge installation linked to the tenant, or its events would stop with
nothing to take over; with ``FORGE_CUTOVER=auto`` the first Forge event switches by itself.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer.auth import authenticate_admin
from producer.http import check_json_content_type, parse_json_object, read_body
from producer.routes import deps_of
from rulequeue.errors import Conflict, Unprocessable
from rulequeue.store import forge_installations, forge_tenants
from rulequeue.store.tenants import Transport

BODY_LIMIT = 1024


class TransportChoice(BaseModel):
    """The one transport whose events the tenant runs; the other's are acknowledged, not run."""

    model_config = ConfigDict(extra='forbid')

    transport: Transport


async def _answer(request: Request, client_key: str) -> Response:
    deps = deps_of(request)
    current = await forge_tenants.transport_of(deps.pool, client_key)
    installation = await forge_installations.active_for_tenant(deps.pool, client_key)
    return JSONResponse(
        {
            'transport': current,
            'forge_installed': installation is not None,
            'cutover': deps.settings.forge_cutover,
        }
    )


async def get_transport(request: Request) -> Response:
    tenant, _ = await authenticate_admin(deps_of(request), request)
    return await _answer(request, tenant.client_key)


async def put_transport(request: Request) -> Response:
    """Switch the tenant to ``{"transport": "connect" | "forge"}``."""
    deps = deps_of(request)
    tenant, _ = await authenticate_admin(deps, request)
    check_json_content_type(request)
    body = await read_body(request, BODY_LIMIT, deps.settings.body_read_timeout_seconds)
    try:
        choice = TransportChoice.model_validate(parse_json_object(body), strict=True)
    except ValidationError:
        raise Unprocessable(
            'expected {"transport": "connect"|"forge"}', [{'path': 'transport', 'message': 'connect or forge'}]
        ) from None
    if (
        choice.transport == 'forge'
        and await forge_installations.active_for_tenant(deps.pool, tenant.client_key) is None
    ):
        raise Conflict('no active Forge installation is linked to this site yet')
    await forge_tenants.switch_transport(deps.pool, tenant.client_key, choice.transport)
    return await _answer(request, tenant.client_key)
