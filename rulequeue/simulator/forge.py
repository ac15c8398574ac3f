"""Forge's side of a simulated site: invocation-token signing keys, their JWKS, app system tokens.

Atlassian signs every Forge Invocation Token (FIT) with a key of a JWKS (one for production,
one for staging, one per Isolated Cloud label). :class:`ForgePlatform` holds such key sets,
serves them from the simulator's HTTP server and mints FITs shaped like Forge's, with every
claim and header overridable so tests can forge the tokens an attacker would.

Nothing here is used in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PRODUCTION = 'production'
STAGING = 'staging'
JWKS_PATH = '/forge/.well-known/jwks.json'
STAGING_JWKS_PATH = '/forge/stg/.well-known/jwks.json'
IC_JWKS_TEMPLATE_PATH = '/forge/ic/{IC_LABEL}/.well-known/jwks.json'
# Forge's example FIT lives 25 s; its app system tokens at least two hours (FORGE.md §3.4).
FIT_LIFETIME_SECONDS = 25
SYSTEM_TOKEN_LIFETIME_SECONDS = 3 * 3600


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class ForgeKeys:
    """One JWKS: RSA keys by ``kid``, the newest signs; old keys stay published after rotation.

    Attributes:
        fetches: How often the JWKS was requested.
        fail_status: Answer JWKS requests with this status instead (None: serve the keys).
    """

    def __init__(self) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self.kid = ''
        self.fetches = 0
        self.fail_status: int | None = None
        self._rogue: rsa.RSAPrivateKey | None = None
        self.rotate_key()

    def rotate_key(self, *, keep_old: bool = True) -> str:
        """Start signing with a new key and ``kid``; the old ones stay published unless told."""
        if not keep_old:
            self._keys.clear()
        self.kid = f'forge-{uuid.uuid4()}'
        self._keys[self.kid] = _new_key()
        return self.kid

    def private_key(self, *, rogue: bool = False) -> rsa.RSAPrivateKey:
        """The signing key, or with ``rogue`` one nobody publishes (made on first use)."""
        if rogue:
            if self._rogue is None:
                self._rogue = _new_key()
            return self._rogue
        return self._keys[self.kid]

    def public_pem(self) -> bytes:
        return (
            self._keys[self.kid]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self._keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, 'kid': kid, 'use': 'sig', 'alg': 'RS256'})
        return {'keys': keys}

    def answer(self) -> Response:
        self.fetches += 1
        if self.fail_status is not None:
            return JSONResponse({'error': 'injected failure'}, status_code=self.fail_status)
        return JSONResponse(self.jwks())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def _hand_signed(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes | None) -> str:
    """A JWT PyJWT refuses to make: ``alg: none`` (no secret) or HS256 keyed with a public key."""
    signing_input = _b64(json.dumps(header).encode()) + '.' + _b64(json.dumps(claims).encode())
    signature = b'' if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + '.' + _b64(signature)


class ForgePlatform:
    """Forge for one installation of one app on the simulated site.

    Attributes:
        app_id: The app ARI (``aud`` and ``app.id`` of every FIT).
        installation_id: ``ari:cloud:ecosystem::installation/<uuid>``.
        cloud_id: The site's cloudId (last segment of ``apiBaseUrl``).
        environment_type: ``app.environment.type`` of minted tokens.
        system_tokens: Every app system token minted, with its expiry (epoch seconds).
        api_base_override: When set (the simulator's base URL), FITs carry
            ``<api_base_override>/ex/jira/<cloudId>`` as ``apiBaseUrl`` instead of
            ``https://api.atlassian.com/...``, so the app calls the simulator's Bearer REST API
            (accepted only with rulequeue's ``forge_test_api_base_url``).
        license_active: ``app.license.active`` of minted FITs (a paid app in production has
            the claim); None: no ``license`` claim, as for free and development apps.
    """

    def __init__(self, *, app_id: str | None = None, cloud_id: str | None = None) -> None:
        self.app_id = app_id or f'ari:cloud:ecosystem::app/{uuid.uuid4()}'
        self.installation_id = f'ari:cloud:ecosystem::installation/{uuid.uuid4()}'
        self.cloud_id = cloud_id or str(uuid.uuid4())
        self.environment_type = 'PRODUCTION'
        self.environment_id = f'ari:cloud:ecosystem::environment/{self.app_id.rpartition("/")[2]}/{uuid.uuid4()}'
        # Made on first use: key generation takes a while and most simulated sites never need one.
        self._realms: dict[str, ForgeKeys] = {}
        self.system_tokens: dict[str, float] = {}
        self._system_secret = secrets.token_bytes(32)
        self.api_base_override: str | None = None
        self.license_active: bool | None = None

    def keys(self, realm: str = PRODUCTION) -> ForgeKeys:
        """The JWKS of ``'production'``, ``'staging'`` or ``'ic:<label>'`` (made on first use)."""
        if realm not in (PRODUCTION, STAGING) and not realm.startswith('ic:'):
            raise ValueError(f'unknown realm {realm!r}')
        if realm not in self._realms:
            self._realms[realm] = ForgeKeys()
        return self._realms[realm]

    @property
    def production(self) -> ForgeKeys:
        return self.keys(PRODUCTION)

    @property
    def staging(self) -> ForgeKeys:
        return self.keys(STAGING)

    @property
    def kid(self) -> str:
        return self.production.kid

    def rotate_key(self, realm: str = PRODUCTION, *, keep_old: bool = True) -> str:
        """Rotate that realm's signing key; returns the new ``kid``."""
        return self.keys(realm).rotate_key(keep_old=keep_old)

    def api_base_url(self, realm: str = PRODUCTION) -> str:
        if self.api_base_override is not None and realm == PRODUCTION:
            return f'{self.api_base_override.rstrip("/")}/ex/jira/{self.cloud_id}'
        host = 'api.stg.atlassian.com' if realm == STAGING else 'api.atlassian.com'
        return f'https://{host}/ex/jira/{self.cloud_id}'

    def settings_overrides(self, base_url: str) -> dict[str, object]:
        """Settings that point a rulequeue at this Forge (served by the simulator at ``base_url``)."""
        return {
            'forge_app_ids': (self.app_id,),
            'forge_jwks_url': base_url + JWKS_PATH,
            'forge_staging_jwks_url': base_url + STAGING_JWKS_PATH,
            'forge_ic_jwks_template': base_url + IC_JWKS_TEMPLATE_PATH,
        }

    def claims(self, realm: str = PRODUCTION, *, lifetime: int = FIT_LIFETIME_SECONDS) -> dict[str, Any]:
        """The claims of a trigger's FIT, as Forge sends them (FORGE.md §3.2)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            'iss': 'forge/invocation-token',
            'aud': self.app_id,
            'iat': now,
            'nbf': now,
            'exp': now + lifetime,
            'jti': str(uuid.uuid4()),
            'app': {
                'id': self.app_id,
                'installationId': self.installation_id,
                'apiBaseUrl': self.api_base_url(realm),
                'appVersion': '1.0.0',
                'environment': {'type': self.environment_type, 'id': self.environment_id},
                'module': {'type': 'core:endpoint', 'key': 'ep-events'},
                'installation': {
                    'id': self.installation_id,
                    'contexts': [{'name': 'jira', 'apiBaseUrl': self.api_base_url(realm), 'cloudId': self.cloud_id}],
                },
            },
        }
        if self.license_active is not None:
            claims['app']['license'] = {'active': self.license_active, 'type': 'commercial'}
        if realm.startswith('ic:'):
            claims['icLabel'] = realm[3:]
        return claims

    def mint_invocation_token(
        self,
        *,
        realm: str = PRODUCTION,
        claims: Mapping[str, Any] | None = None,
        app: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        header: Mapping[str, Any | None] | None = None,
        algorithm: str = 'RS256',
        rogue: bool = False,
        lifetime: int = FIT_LIFETIME_SECONDS,
    ) -> str:
        """A FIT signed by ``realm``'s current key; every part can be overridden.

        Args:
            realm: Whose key signs: ``'production'``, ``'staging'`` or ``'ic:<label>'``.
            claims: Top-level claims to set (e.g. ``{'iss': 'forge/context-token'}``).
            app: Keys to set in the ``app`` claim (e.g. ``{'id': other_ari}``).
            remove: Top-level claims to leave out (e.g. ``['jti']``).
            header: JOSE header entries to set; a value of None drops the entry (e.g. ``kid``).
            algorithm: 'RS256', 'RS512', 'none', or 'HS256' keyed with the JWKS public key.
            rogue: Sign with a private key that is not published (same ``kid``).
            lifetime: Seconds from ``iat`` to ``exp``.
        """
        body = self.claims(realm, lifetime=lifetime)
        body['app'].update(app or {})
        body.update(claims or {})
        for name in remove:
            body.pop(name, None)
        keys = self.keys(realm)
        jose: dict[str, Any] = {'alg': algorithm, 'typ': 'JWT', 'kid': keys.kid}
        jose.update(header or {})
        jose = {name: value for name, value in jose.items() if value is not None}
        if algorithm == 'none':
            return _hand_signed(jose, body, None)
        if algorithm == 'HS256':
            return _hand_signed(jose, body, keys.public_pem())
        extra = {name: value for name, value in jose.items() if name not in ('alg', 'typ')}
        return jwt.encode(body, keys.private_key(rogue=rogue), algorithm=algorithm, headers=extra)

    def mint_system_token(self, *, lifetime: int = SYSTEM_TOKEN_LIFETIME_SECONDS) -> str:
        """An app system token (the ``x-forge-oauth-system`` header), remembered with its expiry.

        A JWT whose claims are no contract, as Atlassian says: rulequeue may read only ``exp``.
        """
        now = int(time.time())
        claims = {
            'iss': 'simulator/forge-oauth',
            'sub': f'app:{self.app_id}',
            'aud': 'api.atlassian.com',
            'installationId': self.installation_id,
            'iat': now,
            'exp': now + lifetime,
            'jti': str(uuid.uuid4()),
        }
        token = jwt.encode(claims, self._system_secret, algorithm='HS256')
        self.system_tokens[token] = float(now + lifetime)
        return token

    def system_token_valid(self, token: str) -> bool:
        """Whether ``token`` is one this Forge minted and it has not expired."""
        expires = self.system_tokens.get(token)
        return expires is not None and time.time() < expires

    def system_token_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token this Forge minted (the caller checked it with system_token_valid)."""
        claims: dict[str, Any] = jwt.decode(
            token, self._system_secret, algorithms=['HS256'], audience='api.atlassian.com', leeway=60
        )
        return claims

    def revoke_system_tokens(self) -> None:
        """Forget every token minted so far, as uninstalling the app does: Jira refuses them from now on."""
        self.system_tokens.clear()

    async def _production_jwks(self, request: Request) -> Response:
        return self.production.answer()

    async def _staging_jwks(self, request: Request) -> Response:
        return self.staging.answer()

    async def _ic_jwks(self, request: Request) -> Response:
        keys = self._realms.get('ic:' + request.path_params['label'])
        if keys is None:
            return JSONResponse({'error': 'no such Isolated Cloud'}, status_code=404)
        return keys.answer()

    def routes(self) -> list[Route]:
        """The JWKS endpoints, for the simulator's HTTP server."""
        return [
            Route(JWKS_PATH, self._production_jwks, methods=['GET']),
            Route(STAGING_JWKS_PATH, self._staging_jwks, methods=['GET']),
            Route(IC_JWKS_TEMPLATE_PATH.replace('{IC_LABEL}', '{label}'), self._ic_jwks, methods=['GET']),
        ]
