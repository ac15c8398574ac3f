"""Forge Invocation Token (FIT) verification, exactly as shared/FORGE.md §3.3 lays it out.

Every call Forge makes to our remote carries ``Authorization: Bearer <FIT>``: an RS256 JWT
signed by a key of Atlassian's JWKS, ``iss`` = ``forge/invocation-token``, ``aud`` = the app's
ARI. All Forge apps share that JWKS, so the audience check against *our configured* app ids is
what keeps another app's tokens out (pitfall 1). Values read before the signature is checked
(``icLabel``, ``app.apiBaseUrl``) only choose among JWKS URLs from settings; tenant identity is
taken from the verified claims, never from the body or the B3 headers.

Every failure is a :class:`~rulequeue.errors.ForgeAuthError` (401) whose reason names the check,
never the token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from pydantic import SecretStr

from rulequeue import constants
from rulequeue.errors import ForgeAuthError
from rulequeue.forge.jwks import JwksCache
from rulequeue.settings import Settings

_IC_LABEL = re.compile(r'^[a-z0-9_-]{1,50}$')
_UUID = r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
_JIRA_PATH = re.compile(rf'^/ex/jira/(?P<cloud_id>{_UUID})$')
_INSTALLATION_ARI = re.compile(r'^ari:cloud:ecosystem::installation/[A-Za-z0-9-]{1,64}$')
_STAGING_API_PREFIX = f'https://{constants.FORGE_STAGING_API_HOST}/'
_REQUIRED_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'nbf', 'jti']
_MAX_KID_CHARS = 256


@dataclass(frozen=True)
class ForgeContext:
    """Who invoked us, from a verified FIT.

    Attributes:
        installation_id: ``app.installationId`` (``ari:cloud:ecosystem::installation/<uuid>``).
        app_id: The app ARI, equal to ``aud`` and to one of the configured app ids.
        cloud_id: The site, from ``app.installation.contexts[].cloudId`` or the apiBaseUrl.
        api_base_url: Where product REST calls go (``https://api.atlassian.com/ex/jira/<cloudId>``).
        environment: ``app.environment.type`` (DEVELOPMENT, STAGING or PRODUCTION).
        environment_id: ``app.environment.id``, if sent.
        jti: The token's id (per invocation, not stable across Forge's re-deliveries).
        expires_at: The token's ``exp``.
        license_active: ``app.license.active`` (or the deprecated ``isActive``); None if absent.
        module_key: ``app.module.key``, e.g. the trigger's key.
        app_version: ``app.appVersion``, if sent.
        system_token: The ``x-forge-oauth-system`` app token, never shown in repr or logs.
        principal: The invoking user's accountId (UI invocations only; events have none).
    """

    installation_id: str
    app_id: str
    cloud_id: str
    api_base_url: str
    environment: str
    environment_id: str | None
    jti: str
    expires_at: datetime
    license_active: bool | None
    module_key: str | None
    app_version: str | None
    system_token: SecretStr | None = field(default=None, repr=False)
    # The invoking user's accountId: only UI invocations (invokeRemote, requestRemote) have one.
    principal: str | None = None


def bearer_token(authorization_header: str | None) -> str:
    """The token of ``Bearer <token>`` (scheme case-insensitive); ForgeAuthError otherwise."""
    if not authorization_header:
        raise ForgeAuthError('no Authorization header')
    scheme, _, token = authorization_header.strip().partition(' ')
    token = token.strip()
    if scheme.lower() != 'bearer':
        raise ForgeAuthError('Authorization scheme is not Bearer')
    if not token or ' ' in token:
        raise ForgeAuthError('empty or malformed bearer token')
    if len(token) > constants.FORGE_MAX_TOKEN_CHARS:
        raise ForgeAuthError('token too long')
    return token


async def verify_invocation_token(
    authorization_header: str | None,
    settings: Settings,
    jwks: JwksCache,
    *,
    system_token: str | None = None,
) -> ForgeContext:
    """Verify a FIT (FORGE.md §3.3 steps 1-5) and return who invoked us.

    Args:
        authorization_header: The request's ``Authorization`` header, as received.
        settings: The Forge settings (app ids, JWKS URLs, environments, leeway).
        jwks: The process's key cache.
        system_token: The ``x-forge-oauth-system`` header, if any; kept only in the context.

    Raises:
        ForgeAuthError: Any check failed (401).
        ForgeKeysUnavailable: The chosen JWKS was never reachable (503; Forge re-delivers).
    """
    if not settings.forge_app_ids:
        raise ForgeAuthError('Forge is not configured')
    token = bearer_token(authorization_header)
    kid = _checked_header(token)
    unverified = _unverified_claims(token)
    url, api_host = _jwks_choice(unverified, settings)
    key = await jwks.get_key(url, kid)
    claims = _decode(token, key, settings)
    return _context(claims, settings, api_host, system_token)


def _checked_header(token: str) -> str:
    """Step 2: RS256 and a non-empty ``kid``, read before anything else is trusted."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise ForgeAuthError('malformed token') from None
    if header.get('alg') != 'RS256':
        raise ForgeAuthError('token algorithm must be RS256')
    kid = header.get('kid')
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_CHARS:
        raise ForgeAuthError('token has no usable kid')
    return kid


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={'verify_signature': False})
    except jwt.InvalidTokenError:
        raise ForgeAuthError('malformed token') from None
    return claims


def _jwks_choice(unverified: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """Step 3: which configured JWKS verifies this token, and the apiBaseUrl host it implies."""
    if 'icLabel' in unverified:
        label = unverified['icLabel']
        if not isinstance(label, str) or not _IC_LABEL.match(label):
            raise ForgeAuthError('icLabel is malformed')
        if settings.forge_ic_jwks_template is None:
            raise ForgeAuthError('Isolated Cloud tokens are not accepted')
        url = settings.forge_ic_jwks_template.replace(constants.FORGE_IC_LABEL_PLACEHOLDER, label)
        return url, settings.forge_ic_api_host
    app = unverified.get('app')
    api_base_url = app.get('apiBaseUrl') if isinstance(app, dict) else None
    if isinstance(api_base_url, str) and api_base_url.startswith(_STAGING_API_PREFIX):
        if not settings.forge_staging_enabled:
            raise ForgeAuthError('staging tokens are not accepted')
        return settings.forge_staging_jwks_url, constants.FORGE_STAGING_API_HOST
    return settings.forge_jwks_url, constants.FORGE_PRODUCTION_API_HOST


def _decode(token: str, key: jwt.PyJWK, settings: Settings) -> dict[str, Any]:
    """Step 4: signature with that key, RS256 only, iss, aud, the required claims, times."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=['RS256'],
            audience=list(settings.forge_app_ids),
            issuer=constants.FORGE_INVOCATION_ISSUER,
            leeway=settings.forge_leeway_seconds,
            options={'require': _REQUIRED_CLAIMS, 'strict_aud': False},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise ForgeAuthError(f'token has no {exc.claim} claim') from None
    except jwt.ExpiredSignatureError:
        raise ForgeAuthError('token expired') from None
    except jwt.ImmatureSignatureError:
        raise ForgeAuthError('token not yet valid') from None
    except jwt.InvalidAudienceError:
        raise ForgeAuthError('audience is not a configured app id') from None
    except jwt.InvalidIssuerError:
        raise ForgeAuthError('issuer is not forge/invocation-token') from None
    except jwt.InvalidSignatureError:
        raise ForgeAuthError('signature does not verify') from None
    except jwt.InvalidTokenError:
        raise ForgeAuthError('token claims invalid') from None
    return claims


def _context(claims: dict[str, Any], settings: Settings, api_host: str, system_token: str | None) -> ForgeContext:
    """Step 5: the post-checks, then the context."""
    aud = claims['aud']
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if not isinstance(aud, str):
        raise ForgeAuthError('audience must name exactly one app')
    jti = claims['jti']
    if not isinstance(jti, str) or not jti:
        raise ForgeAuthError('jti is not a string')
    app = claims.get('app')
    if not isinstance(app, dict):
        raise ForgeAuthError('token has no app claim')
    if app.get('id') != aud:
        raise ForgeAuthError('app.id does not match the audience')
    installation_id = _installation_id(app)
    environment = _object(app, 'environment')
    if environment.get('type') not in settings.forge_allowed_environments:
        raise ForgeAuthError('environment type is not allowed')
    api_base_url, cloud_id = _api_base(app.get('apiBaseUrl'), api_host, settings.forge_test_api_base_url)
    context_cloud_id = _context_cloud_id(_object(app, 'installation'))
    if context_cloud_id is not None and context_cloud_id != cloud_id:
        raise ForgeAuthError('installation cloudId does not match apiBaseUrl')
    license_claim = _object(app, 'license')
    active = license_claim.get('active', license_claim.get('isActive'))
    module_key = _object(app, 'module').get('key')
    version = app.get('appVersion')
    return ForgeContext(
        installation_id=installation_id,
        app_id=aud,
        cloud_id=cloud_id,
        api_base_url=api_base_url,
        environment=str(environment['type']),
        environment_id=_str_or_none(environment.get('id')),
        jti=jti,
        expires_at=datetime.fromtimestamp(claims['exp'], UTC),
        license_active=active if isinstance(active, bool) else None,
        module_key=_str_or_none(module_key),
        app_version=_str_or_none(version),
        system_token=SecretStr(system_token) if system_token else None,
        principal=_str_or_none(claims.get('principal')),
    )


def _object(container: dict[str, Any], name: str) -> dict[str, Any]:
    value = container.get(name)
    return value if isinstance(value, dict) else {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _installation_id(app: dict[str, Any]) -> str:
    """``app.installationId``, which must agree with ``app.installation.id`` when both are sent."""
    flat, nested = app.get('installationId'), _object(app, 'installation').get('id')
    if flat is not None and nested is not None and flat != nested:
        raise ForgeAuthError('app.installationId does not match app.installation.id')
    installation_id = flat if flat is not None else nested
    if not isinstance(installation_id, str) or not _INSTALLATION_ARI.match(installation_id):
        raise ForgeAuthError('token has no valid installation id')
    return installation_id


def _api_base(value: object, api_host: str, test_base: str | None = None) -> tuple[str, str]:
    """``app.apiBaseUrl`` checked to be ``https://<host>/ex/jira/<cloudId>``; (url, cloudId).

    ``test_base`` (setting ``forge_test_api_base_url``, tests and the demo only) is accepted in
    place of ``https://<host>``, so FITs can point the worker at the simulator.
    """
    if not isinstance(value, str):
        raise ForgeAuthError('token has no apiBaseUrl')
    if test_base is not None and value.startswith(test_base + '/'):
        match = _JIRA_PATH.fullmatch(value[len(test_base) :])
        if match is None:
            raise ForgeAuthError('apiBaseUrl is not a Jira site')
        return value, match['cloud_id'].lower()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ForgeAuthError('apiBaseUrl is malformed') from None
    if parts.scheme != 'https' or parts.hostname != api_host or parts.netloc != api_host or port is not None:
        raise ForgeAuthError('apiBaseUrl host is not allowed')
    match = _JIRA_PATH.match(parts.path)
    if match is None or parts.query or parts.fragment:
        raise ForgeAuthError('apiBaseUrl is not a Jira site')
    return value, match['cloud_id'].lower()


def _context_cloud_id(installation: dict[str, Any]) -> str | None:
    contexts = installation.get('contexts')
    if not isinstance(contexts, list):
        return None
    for entry in contexts:
        if isinstance(entry, dict) and isinstance(entry.get('cloudId'), str) and entry['cloudId']:
            return str(entry['cloudId']).lower()
    return None
