"""Outbound HTTP for the ``web_request`` action that cannot be pointed at our own network.

A rule's URL is written by a Jira admin and may be templated from issue data, so it must not
reach loopback, private, link-local (cloud metadata at 169.254.169.254), shared or reserved
addresses, whatever the URL says: an IP literal, a DNS name that resolves to such an address,
or a redirect to one. The check sits where the socket is opened (an httpcore network backend):
every address a name resolves to must be allowed, and the connection goes to the address that
was checked, so a second DNS answer cannot swap it (DNS rebinding). TLS still verifies the
certificate against the host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import httpcore
import httpx

from rulequeue.errors import EgressRefused

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_allowed(address: Address, extra: Sequence[Network] = ()) -> bool:
    """Global unicast addresses only, plus the operator's explicitly allowed networks."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in extra if network.version == address.version):
        return True
    return address.is_global and not address.is_multicast


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked one."""

    def __init__(self, allowed_networks: Sequence[Network] = ()) -> None:
        self._allowed = tuple(allowed_networks)
        self._inner = httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f'cannot resolve {host!r}') from exc
        return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port)
        refused = [a for a in addresses if not address_allowed(a, self._allowed)]
        if refused or not addresses:
            raise EgressRefused(f'{host} resolves to a non-public address ({refused[0] if refused else "none"})')
        return await self._inner.connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused('unix sockets are not a web request target')

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, 'aclose'):
            await self._stream.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that connects only through GuardedBackend."""

    def __init__(self, allowed_networks: Sequence[Network] = (), *, max_connections: int = 20) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=GuardedBackend(allowed_networks), max_connections=max_connections
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = httpcore.URL(
            scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port, target=request.url.raw_path
        )
        core_request = httpcore.Request(
            method=request.method,
            url=url,
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = await self._pool.handle_async_request(core_request)
        except httpcore.TimeoutException as exc:
            raise httpx.TimeoutException(str(exc), request=request) from exc
        except (httpcore.ConnectError, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise httpx.TransportError(str(exc)) from exc
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_ResponseStream(answer.stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
