"""Who is calling: a tenant (HS256 tokens), Jira's installer (RS256 signed install), or an admin.

The admin API (rules, audit, settings) is called from the app's admin page: over Connect with
a context token (``JWT`` scheme), over Forge with the invocation token Forge puts on a UI
call (``Bearer`` scheme, :func:`authenticate_admin`). Webhook and lifecycle routes accept only
their own transport's token.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from producer.deps import Deps
from producer.http import connect_token, raw_target
from rulequeue.connect import tokens
from rulequeue.errors import InstallKeyUnavailable, ServiceUnavailable, Unauthorized
from rulequeue.forge.fit import verify_invocation_token
from rulequeue.store import forge_installations, tenants
from rulequeue.store.tenants import Tenant


async def authenticate_admin(deps: Deps, request: Request) -> tuple[Tenant, str | None]:
    """The tenant and the calling user's accountId, for the admin API; 401 otherwise.

    ``Authorization: JWT ...`` is a Connect context token (its ``sub`` is the user).
    ``Authorization: Bearer ...`` is a Forge Invocation Token, verified like every FIT; it must
    come from a UI invocation (it names a ``principal``: event and lifecycle tokens name
    none) of an active installation, whose tenant it then acts for.
    """
    header = request.headers.get('authorization') or ''
    if header[:7].lower() != 'bearer ':
        tenant, claims = await authenticate_tenant_claims(deps, request, allow_context_qsh=True)
        sub = claims.get('sub')
        return tenant, sub if isinstance(sub, str) and sub else None
    if deps.forge_jwks is None or not deps.settings.forge_app_ids:
        raise Unauthorized('Forge is not configured')
    ctx = await verify_invocation_token(header, deps.settings, deps.forge_jwks)
    if ctx.principal is None:
        raise Unauthorized('a Forge token from a UI invocation is required')
    installation = await forge_installations.get(deps.pool, ctx.installation_id)
    if installation is None or installation.state != 'active' or installation.client_key is None:
        raise Unauthorized('unknown or uninstalled Forge installation')
    found = await tenants.get_tenant(deps.pool, deps.cipher, installation.client_key)
    if found is None or found.state != 'installed':
        raise Unauthorized('unknown or uninstalled tenant')
    return found, ctx.principal


async def authenticate_tenant(deps: Deps, request: Request, *, allow_context_qsh: bool = False) -> Tenant:
    """Verify a tenant token and return its tenant; 401 for anything unknown or invalid.

    ``iss`` names the tenant; its secret then verifies the signature. Uninstalled tenants have
    no secret left, so their tokens can never verify again.
    """
    tenant, _ = await authenticate_tenant_claims(deps, request, allow_context_qsh=allow_context_qsh)
    return tenant


async def authenticate_tenant_claims(
    deps: Deps, request: Request, *, allow_context_qsh: bool = False
) -> tuple[Tenant, dict[str, Any]]:
    """:func:`authenticate_tenant`, with the verified claims (``sub``: the user's account id)."""
    token = connect_token(request)
    issuer = tokens.unverified_issuer(token)
    tenant = await tenants.get_tenant(deps.pool, deps.cipher, issuer)
    if tenant is None or tenant.shared_secret is None or tenant.state == 'uninstalled':
        raise Unauthorized('unknown or uninstalled tenant')
    path, query = raw_target(request)
    claims = tokens.verify_tenant_token(
        token,
        tenant.shared_secret.get_secret_value(),
        method=request.method,
        path=path,
        raw_query=query,
        base_path=deps.base_path,
        allow_context_qsh=allow_context_qsh,
    )
    return tenant, claims


async def verify_install(deps: Deps, request: Request) -> dict[str, Any]:
    """Verify a signed lifecycle call (RS256, key by kid) and return its claims.

    Fails closed: no token, a bad token, or an install-keys service that cannot vouch for the
    key all refuse the call before anything is read from the body.
    """
    token = connect_token(request)
    kid = tokens.unverified_header(token).get('kid')
    try:
        public_key = await deps.install_keys.get(kid)
    except InstallKeyUnavailable as exc:
        if exc.transient:
            raise ServiceUnavailable(str(exc)) from None
        raise Unauthorized(str(exc)) from None
    path, query = raw_target(request)
    return tokens.verify_install_token(
        token,
        public_key,
        audience=deps.settings.app_base_url,
        method=request.method,
        path=path,
        raw_query=query,
        base_path=deps.base_path,
    )
