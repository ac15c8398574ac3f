"""How a call into a tenant's Jira is addressed and authorised, per transport (FORGE.md 8.10).

A Connect tenant is called at its site ``baseUrl`` with a Connect JWT signed for exactly that
request (HS256 with the shared secret, ``qsh`` of method, path and query). A Forge tenant is
called at its active installation's ``apiBaseUrl`` (``https://api.atlassian.com/ex/jira/<cloudId>``)
with ``Authorization: Bearer <app system token>``. :class:`JiraClient <worker.jira.JiraClient>`
gets one :class:`Credentials` at construction and otherwise does not care which it is: the
retry, 429 and observer handling stay the same for both.

A Forge tenant without a usable token gets :class:`~rulequeue.errors.NoUsableToken` (the
execution waits and retries), never a Connect JWT, even if the tenant still has a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from rulequeue import constants
from rulequeue.connect.tokens import sign_tenant_request
from rulequeue.crypto import Cipher
from rulequeue.errors import NoUsableToken, PermanentJiraError
from rulequeue.store import forge_installations
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Tenant

CONNECT = 'connect'
FORGE = 'forge'


@dataclass(frozen=True)
class Authorized:
    """Where to send one request and how to authorise it.

    Attributes:
        url: The absolute URL, query included.
        headers: ``Authorization`` and any other header the transport adds.
        warming_up: The Forge installation is new (within FORGE_WARMUP_SECONDS): a 401/403 may
            be its permissions still propagating, so it is retried (worker.jira).
    """

    url: str
    headers: dict[str, str] = field(repr=False)
    warming_up: bool = False


class Credentials(Protocol):
    """Addresses and authorises one request of ``tenant`` (path relative to the tenant's API base)."""

    async def authorize(self, tenant: Tenant, method: str, path: str, query: str) -> Authorized: ...


class ConnectCredentials:
    """Connect: the site's ``baseUrl`` and a per-request JWT (``iss`` = our app key)."""

    def __init__(self, app_key: str) -> None:
        self._app_key = app_key

    async def authorize(self, tenant: Tenant, method: str, path: str, query: str) -> Authorized:
        if tenant.shared_secret is None:
            raise PermanentJiraError('tenant has no shared secret', method=method, path=path)
        base = urlsplit(tenant.base_url)
        full_path = base.path.rstrip('/') + path
        token = sign_tenant_request(
            method=method,
            path=full_path,
            raw_query=query,
            secret=tenant.shared_secret.get_secret_value(),
            issuer=self._app_key,
            base_path=base.path,
        )
        url = f'{base.scheme}://{base.netloc}{full_path}' + (f'?{query}' if query else '')
        return Authorized(url, {'Authorization': f'JWT {token}'})


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ForgeCredentials:
    """Forge: the active installation's ``apiBaseUrl`` and its stored app system token.

    Looked up for every request rather than cached, so a token dropped by ``preUninstall`` or
    replaced by a newer one is never used a moment longer (two indexed reads per Jira call).
    """

    def __init__(self, pool: Pool, cipher: Cipher, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._pool = pool
        self._cipher = cipher
        self._clock = clock

    async def authorize(self, tenant: Tenant, method: str, path: str, query: str) -> Authorized:
        installation = await forge_installations.active_for_tenant(self._pool, tenant.client_key)
        if installation is None:
            raise NoUsableToken(method=method, path=path)
        token = await forge_installations.usable_token(
            self._pool, self._cipher, installation.installation_id, now=self._clock()
        )
        if token is None:
            raise NoUsableToken(method=method, path=path)
        url = installation.api_base_url.rstrip('/') + path + (f'?{query}' if query else '')
        since = installation.created_at
        warming_up = since is not None and self._clock() - since < timedelta(seconds=constants.FORGE_WARMUP_SECONDS)
        return Authorized(url, {'Authorization': f'Bearer {token.get_secret_value()}'}, warming_up)


class ByTransport:
    """The tenant's own transport decides; a Forge tenant with no Forge credentials never gets Connect's."""

    def __init__(self, connect: Credentials, forge: Credentials | None = None) -> None:
        self._connect = connect
        self._forge = forge

    async def authorize(self, tenant: Tenant, method: str, path: str, query: str) -> Authorized:
        if tenant.transport == FORGE:
            if self._forge is None:
                raise NoUsableToken(method=method, path=path)
            return await self._forge.authorize(tenant, method, path, query)
        return await self._connect.authorize(tenant, method, path, query)


def tenant_credentials(app_key: str, pool: Pool | None = None, cipher: Cipher | None = None) -> ByTransport:
    """Both transports, as every process that calls Jira needs them (Forge only given a pool and cipher)."""
    forge = ForgeCredentials(pool, cipher) if pool is not None and cipher is not None else None
    return ByTransport(ConnectCredentials(app_key), forge)
