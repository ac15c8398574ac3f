"""Public keys for signed installs, fetched by ``kid`` from the install-keys service and cached.

Fails closed: a service that is down or answers something that is not a PEM public key never
lets a lifecycle call through.
"""

from __future__ import annotations

import re
import time

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from rulequeue import constants
from rulequeue.errors import InstallKeyUnavailable

# Atlassian kids are UUID-like; anything with '/', '..', ':' or '%' could steer the fetch.
_KID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')
_MAX_KEY_BYTES = 16 * 1024


class InstallKeys:
    """Async cache of install public keys; one per process."""

    def __init__(self, base_url: str, http: httpx.AsyncClient, ttl: float = constants.INSTALL_KEY_CACHE_SECONDS):
        self._base_url = base_url.rstrip('/')
        self._http = http
        self._ttl = ttl
        self._cache: dict[str, tuple[str, float]] = {}

    async def get(self, kid: object) -> str:
        if not isinstance(kid, str) or not _KID.match(kid) or '..' in kid:
            raise InstallKeyUnavailable('install token kid is malformed', transient=False)
        cached = self._cache.get(kid)
        if cached is not None and time.monotonic() - cached[1] < self._ttl:
            return cached[0]
        pem = await self._fetch(kid)
        self._cache[kid] = (pem, time.monotonic())
        return pem

    async def _fetch(self, kid: str) -> str:
        try:
            response = await self._http.get(f'{self._base_url}/{kid}', timeout=5.0)
        except httpx.HTTPError:
            raise InstallKeyUnavailable('install-keys service unreachable', transient=True) from None
        if response.status_code >= 500:
            raise InstallKeyUnavailable('install-keys service failed', transient=True)
        if response.status_code != 200 or len(response.content) > _MAX_KEY_BYTES:
            raise InstallKeyUnavailable('install-keys service has no such key', transient=False)
        pem = response.text
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError:
            raise InstallKeyUnavailable(
                'install-keys service answered something that is not a key', transient=False
            ) from None
        if not isinstance(key, RSAPublicKey):
            raise InstallKeyUnavailable('install key is not an RSA key', transient=False)
        return pem
