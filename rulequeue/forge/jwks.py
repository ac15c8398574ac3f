"""An async cache of the JSON Web Key Sets that sign Forge Invocation Tokens.

Keys are held by (JWKS URL, ``kid``). The verifier only ever asks for URLs taken from settings,
never from a token. PyJWT's ``PyJWKClient`` would block the event loop (urllib) and refuses a
rotated key for up to its whole cooldown after *any* fetch (FORGE.md §3.3, pitfall 16), so this
is a small cache of our own:

* an unknown ``kid`` refetches its URL at most once per cooldown, so a flood of made-up kids
  costs one request per cooldown; concurrent misses wait for that one fetch;
* a set older than ``max_age_seconds`` is refreshed on use, so withdrawn keys stop verifying;
* a failed fetch (timeout, non-200, a redirect, junk) keeps the last good set;
* redirects are never followed, whatever the injected client's default.

``misses``, ``fetches`` and ``errors`` count lookups of absent kids, HTTP fetches and failed
fetches, for metrics.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import structlog

from rulequeue import constants
from rulequeue.errors import ForgeAuthError, ForgeKeysUnavailable

log = structlog.get_logger('rulequeue.forge')


class _FetchFailed(Exception):
    """A JWKS fetch gave no usable key set; the message says why (no key material in it)."""


@dataclass
class _KeySet:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float | None = None  # last successful fetch
    attempted_at: float | None = None  # last fetch, successful or not: the cooldown runs from here
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksCache:
    """Verification keys of Forge JWKS URLs, fetched over an injected ``httpx.AsyncClient``.

    One per process; safe for concurrent use within one event loop.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        cooldown_seconds: float = constants.DEFAULT_FORGE_JWKS_COOLDOWN_SECONDS,
        max_age_seconds: float = constants.FORGE_JWKS_MAX_AGE_SECONDS,
        timeout_seconds: float = constants.FORGE_JWKS_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args:
        http: The client fetches go through (its transport is the seam tests use).
        cooldown_seconds: Least time between two fetches of one URL.
        max_age_seconds: Age after which a set is refreshed on its next use.
        timeout_seconds: Connect/read/write/pool timeout of one fetch.
        clock: Monotonic seconds; injectable so tests move time without sleeping.
        """
        self._http = http
        self._cooldown = cooldown_seconds
        self._max_age = max_age_seconds
        self._timeout = httpx.Timeout(timeout_seconds)
        self._clock = clock
        self._sets: dict[str, _KeySet] = {}
        self.misses = 0
        self.fetches = 0
        self.errors = 0

    async def get_key(self, url: str, kid: str) -> jwt.PyJWK:
        """The key ``kid`` of the JWKS at ``url``.

        Raises:
            ForgeAuthError: No such kid, even after the refetch the cooldown allowed.
            ForgeKeysUnavailable: The URL never answered with a usable key set.
        """
        entry = self._sets.setdefault(url, _KeySet())
        key = entry.keys.get(kid)
        if key is not None and self._fresh(entry):
            return key
        if key is None:
            self.misses += 1
        async with entry.lock:
            # Whoever held the lock may just have fetched: look again before fetching.
            key = entry.keys.get(kid)
            if (key is None or not self._fresh(entry)) and self._cooled_down(entry):
                await self._refresh(url, entry)
                key = entry.keys.get(kid)
        if key is not None:
            return key
        if entry.fetched_at is None:
            raise ForgeKeysUnavailable('the Forge JWKS could not be fetched')
        raise ForgeAuthError('unknown kid')

    def _fresh(self, entry: _KeySet) -> bool:
        return entry.fetched_at is not None and self._clock() - entry.fetched_at < self._max_age

    def _cooled_down(self, entry: _KeySet) -> bool:
        return entry.attempted_at is None or self._clock() - entry.attempted_at >= self._cooldown

    async def _refresh(self, url: str, entry: _KeySet) -> None:
        entry.attempted_at = self._clock()
        self.fetches += 1
        try:
            keys = await self._fetch(url)
        except _FetchFailed as exc:
            self.errors += 1
            log.warning('forge_jwks_fetch_failed', url=url, reason=str(exc), kept_keys=len(entry.keys))
            return
        entry.keys, entry.fetched_at = keys, self._clock()
        log.info('forge_jwks_fetched', url=url, keys=len(keys))

    async def _fetch(self, url: str) -> dict[str, jwt.PyJWK]:
        try:
            async with self._http.stream('GET', url, timeout=self._timeout, follow_redirects=False) as response:
                if response.status_code != 200:
                    raise _FetchFailed(f'status {response.status_code}')
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > constants.FORGE_JWKS_MAX_BYTES:
                        raise _FetchFailed('key set too large')
        except httpx.HTTPError as exc:
            raise _FetchFailed(type(exc).__name__) from None
        return _parse(bytes(body))


def _parse(body: bytes) -> dict[str, jwt.PyJWK]:
    """The RS256 signing keys of a JWKS document; anything else in it is skipped."""
    try:
        document = json.loads(body)
    except ValueError:
        raise _FetchFailed('not JSON') from None
    entries = document.get('keys') if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise _FetchFailed('no keys list')
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        key = _rsa_key(entry)
        if key is not None:
            keys[entry['kid']] = key
    if not keys:
        raise _FetchFailed('no usable RS256 key')
    return keys


def _rsa_key(entry: Any) -> jwt.PyJWK | None:
    if not isinstance(entry, dict) or not isinstance(entry.get('kid'), str) or not entry['kid']:
        return None
    if entry.get('kty') != 'RSA' or entry.get('use', 'sig') != 'sig' or entry.get('alg', 'RS256') != 'RS256':
        return None
    try:
        return jwt.PyJWK(entry, algorithm='RS256')
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        return None
