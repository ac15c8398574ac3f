"""The ``web_request`` action: an outbound HTTP call with templated URL, headers and body.

Only to hosts on the tenant's allow-list (``PUT /api/web-request-hosts``), only over
http(s), only to public addresses (worker/egress.py), at most MAX_REDIRECTS redirects, each
one checked again, within the action's timeout, reading at most WEB_RESPONSE_MAX_BYTES. The
response is offered to later actions as ``{{webhookResponse.status}}``, ``.body`` (parsed
JSON when it is JSON) and ``.headers``; the audit row keeps only the status and the host.
Each call carries ``X-Rulequeue-Idempotency-Key`` (delivery, rule, version, action index) so
the receiver can tell a retry after a crash from a new call.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from rulequeue import constants
from rulequeue.errors import EgressRefused

HostsOf = Callable[[str], Awaitable[Sequence[str]]]
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REFUSED_HEADERS = frozenset({'host', 'content-length', 'transfer-encoding', 'connection'})


@dataclass(frozen=True)
class WebResponse:
    status: int
    host: str
    headers: dict[str, str]
    body: Any

    def as_context(self) -> dict[str, Any]:
        return {'status': self.status, 'headers': self.headers, 'body': self.body}


@dataclass(frozen=True)
class WebRequester:
    """What the action needs: a guarded client and the tenant allow-list lookup."""

    client: httpx.AsyncClient
    hosts_of: HostsOf


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """``example.com`` allows that host only; ``*.example.com`` allows its subdomains only."""
    host = host.rstrip('.').lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern.startswith('*.'):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def _check(url: httpx.URL, patterns: Sequence[str]) -> None:
    if url.scheme not in ('http', 'https'):
        raise EgressRefused(f'only http and https URLs are allowed, not {url.scheme!r}')
    if not url.host or not host_allowed(url.host, patterns):
        raise EgressRefused(f'{url.host or "(no host)"} is not on the allow-list for web requests')


async def _read_limited(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > constants.WEB_RESPONSE_MAX_BYTES:
            raise EgressRefused(f'the response is larger than {constants.WEB_RESPONSE_MAX_BYTES} bytes')
        chunks.append(chunk)
    return b''.join(chunks)


def _body(raw: bytes, content_type: str) -> Any:
    text = raw.decode('utf-8', errors='replace')
    if 'json' in content_type.lower():
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


async def send(
    requester: WebRequester,
    client_key: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: str | None,
    timeout_seconds: float,
) -> WebResponse:
    """Send, following redirects by hand so each hop is checked; EgressRefused when refused."""
    patterns = await requester.hosts_of(client_key)
    target = httpx.URL(url)
    for _ in range(constants.WEB_REQUEST_MAX_REDIRECTS + 1):
        _check(target, patterns)
        request = requester.client.build_request(method, target, headers=headers, content=body, timeout=timeout_seconds)
        response = await requester.client.send(request, stream=True, follow_redirects=False)
        try:
            location = response.headers.get('location')
            if response.status_code in REDIRECT_STATUSES and location:
                target = target.join(location)
                if response.status_code == 303 or (response.status_code in (301, 302) and method == 'POST'):
                    method, body = 'GET', None  # as browsers and httpx do
                continue
            raw = await _read_limited(response)
        finally:
            await response.aclose()
        kept = {k.lower(): v for k, v in response.headers.items() if k.lower() in ('content-type', 'location')}
        return WebResponse(response.status_code, target.host, kept, _body(raw, kept.get('content-type', '')))
    raise EgressRefused(f'more than {constants.WEB_REQUEST_MAX_REDIRECTS} redirects')
