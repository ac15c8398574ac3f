"""Signed calls into a tenant's Jira, with transient and permanent failures told apart.

Where a request goes and how it is authorised depends on the tenant's transport
(:mod:`worker.credentials`): a Connect tenant's request carries its own Connect JWT (HS256
with the shared secret, ``iss`` = our app key, three minutes, ``qsh`` of exactly that
request); a Forge tenant's goes to its installation's ``apiBaseUrl`` with the app system
token as Bearer. The HTTP transport is injected: production uses a pooled
``httpx.AsyncClient``; tests point it at the simulator.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import structlog

from rulequeue.errors import PermanentJiraError, TransientJiraError
from rulequeue.store.tenants import Tenant
from worker.credentials import FORGE, Credentials, tenant_credentials

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
# Transient too within a new Forge installation's warm-up (worker.credentials.Authorized).
WARMUP_STATUSES = frozenset({401, 403})
# Told of every request: method, HTTP status (None: no answer), seconds taken.
RequestObserver = Callable[[str, int | None, float], None]
MAX_ERROR_TEXT = 300


class JiraClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        timeout: float,
        app_key: str | None = None,
        credentials: Credentials | None = None,
        observe: RequestObserver | None = None,
    ) -> None:
        """Give ``credentials`` (worker.credentials), or only ``app_key`` for Connect tenants alone:
        a Forge tenant then gets NoUsableToken, never a Connect JWT."""
        if credentials is None:
            if app_key is None:
                raise ValueError('JiraClient needs credentials or an app key')
            credentials = tenant_credentials(app_key)
        self._http = http
        self._credentials = credentials
        self._timeout = timeout
        self._observe = observe

    async def request(
        self,
        tenant: Tenant,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one signed request; return the decoded JSON body (None for 204).

        Raises:
            NoUsableToken: A Forge tenant has no app system token fit to use (transient).
        """
        query = urlencode(params or {}, quote_via=quote)
        authorized = await self._credentials.authorize(tenant, method, path, query)
        headers = {**authorized.headers, 'Accept': 'application/json'}
        execution = structlog.contextvars.get_contextvars().get('execution_id')
        if tenant.transport == FORGE and execution:
            # Comes back as webhookTraceValue on the events our write causes (FORGE.md 3.4).
            headers['X-Atlassian-Webhook-Trace'] = str(execution)
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method, authorized.url, json=json, headers=headers, timeout=self._timeout
            )
        except httpx.TransportError as exc:
            self._observed(method, None, started)
            raise TransientJiraError(f'{type(exc).__name__} calling Jira', method=method, path=path) from None
        self._observed(method, response.status_code, started)
        return _result(response, method, path, warming_up=authorized.warming_up)

    def _observed(self, method: str, status: int | None, started: float) -> None:
        if self._observe is not None:
            self._observe(method, status, time.perf_counter() - started)


def _result(response: httpx.Response, method: str, path: str, *, warming_up: bool = False) -> Any:
    status = response.status_code
    if 200 <= status < 300:
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None
    text = f'Jira answered {status}: {_error_text(response)}'
    # A new Forge installation's permissions may still be propagating (FORGE.md 8.12).
    warming = warming_up and status in WARMUP_STATUSES
    if warming:
        text += ' (the app was installed moments ago: retried while its permissions propagate)'
    if warming or status in TRANSIENT_STATUSES or status >= 500:
        raise TransientJiraError(
            text,
            method=method,
            path=path,
            status=status,
            retry_after=retry_after(response.headers.get('retry-after')),
        )
    raise PermanentJiraError(text, method=method, path=path, status=status)


def _error_text(response: httpx.Response) -> str:
    """Jira's own error messages, shortened: they name fields and rules, not issue values."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if not isinstance(body, dict):
        return response.reason_phrase
    parts = [str(m) for m in body.get('errorMessages') or []]
    parts += [f'{k}: {v}' for k, v in (body.get('errors') or {}).items()]
    return ('; '.join(parts) or response.reason_phrase)[:MAX_ERROR_TEXT]


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
