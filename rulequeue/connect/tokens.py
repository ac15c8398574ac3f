"""Connect JWTs: verifying Jira's tokens and signing our own calls into Jira.

Three kinds of token cross the wire:

* install tokens on lifecycle callbacks: RS256, key by ``kid`` from the install-keys service,
  ``aud`` = our base URL, ``iss`` = the body's clientKey;
* tenant tokens on webhooks and API calls: HS256 with the tenant's shared secret, ``iss`` =
  clientKey (looked up *before* verifying, then verified with its secret);
* our tokens into Jira: HS256, ``iss`` = our app key, three minutes, ``qsh`` of the request.

Every failure is an :class:`~rulequeue.errors.Unauthorized` whose message names the check
that failed, never the token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.types import Options

from rulequeue import constants
from rulequeue.connect.qsh import CONTEXT_QSH, query_hash
from rulequeue.errors import Unauthorized


class _TenantHMAC(HMACAlgorithm):
    """HS256 without PyJWT's short-key warning.

    Atlassian chooses tenant secrets (some are shorter than 32 bytes); warning on every
    request would flood logs with something neither we nor the tenant can change.
    """

    def check_key_length(self, key: bytes) -> str | None:
        return None


def _codec() -> jwt.PyJWT:
    codec = jwt.PyJWT()
    # PyJWT exposes no public hook to swap an algorithm on a PyJWT instance.
    jws = codec._jws
    jws.unregister_algorithm('HS256')
    jws.register_algorithm('HS256', _TenantHMAC(HMACAlgorithm.SHA256))
    return codec


_CODEC = _codec()
_REQUIRED = ['exp', 'iat', 'iss', 'qsh']


def _options(required: list[str], *, verify_aud: bool) -> Options:
    # PyJWT's clock cannot be injected; exp/iat/nbf are checked by _check_times instead.
    return {
        'require': required,
        'verify_aud': verify_aud,
        'verify_exp': False,
        'verify_iat': False,
        'verify_nbf': False,
    }


def unverified_header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthorized('malformed token') from None


def unverified_issuer(token: str) -> str:
    """The ``iss`` claim, read only to find whose secret verifies the token."""
    try:
        claims = _CODEC.decode(token, options={'verify_signature': False})
    except jwt.InvalidTokenError:
        raise Unauthorized('malformed token') from None
    iss = claims.get('iss')
    if not isinstance(iss, str) or not iss:
        raise Unauthorized('token has no issuer')
    return iss


def _check_qsh(claims: Mapping[str, Any], expected: str, *, allow_context: bool) -> None:
    qsh = claims.get('qsh')
    if qsh == CONTEXT_QSH and allow_context:
        return
    if qsh != expected:
        raise Unauthorized('token qsh does not match the request')


def verify_tenant_token(
    token: str,
    secret: str,
    *,
    method: str,
    path: str,
    raw_query: str,
    base_path: str,
    allow_context_qsh: bool = False,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify an HS256 token from Jira (webhooks, app pages) and return its claims."""
    if unverified_header(token).get('alg') != 'HS256':
        raise Unauthorized('token algorithm must be HS256')
    try:
        claims: dict[str, Any] = _CODEC.decode(
            token,
            secret,
            algorithms=['HS256'],
            options=_options(_REQUIRED, verify_aud=False),
        )
    except jwt.InvalidTokenError:
        raise Unauthorized('token signature or claims invalid') from None
    _check_times(claims, now)
    _check_qsh(claims, query_hash(method, path, raw_query, base_path), allow_context=allow_context_qsh)
    return claims


def verify_install_token(
    token: str,
    public_key_pem: str,
    *,
    audience: str,
    method: str,
    path: str,
    raw_query: str,
    base_path: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify an RS256 signed-install token from Jira against the install-keys service key.

    The caller then checks that ``iss`` equals the body's clientKey: the signature is checked
    first, on the raw request, before the body is trusted for anything.
    """
    if unverified_header(token).get('alg') != 'RS256':
        raise Unauthorized('install token algorithm must be RS256')
    try:
        claims: dict[str, Any] = _CODEC.decode(
            token,
            public_key_pem,
            algorithms=['RS256'],
            audience=audience,
            options=_options([*_REQUIRED, 'aud'], verify_aud=True),
        )
    except jwt.InvalidAudienceError:
        raise Unauthorized('install token audience is not this app') from None
    except jwt.InvalidTokenError:
        raise Unauthorized('install token signature or claims invalid') from None
    _check_times(claims, now)
    _check_qsh(claims, query_hash(method, path, raw_query, base_path), allow_context=False)
    return claims


def _check_times(claims: Mapping[str, Any], now: float | None) -> None:
    """exp, nbf and iat against an injectable clock, with Atlassian's 30 s of skew."""
    current = time.time() if now is None else now
    leeway = constants.JWT_LEEWAY_SECONDS
    exp, iat = _number(claims.get('exp')), _number(claims.get('iat'))
    nbf = _number(claims.get('nbf', iat))
    if current > exp + leeway:
        raise Unauthorized('token expired')
    if iat > current + leeway or nbf > current + leeway:
        raise Unauthorized('token not yet valid')


def _number(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise Unauthorized('token time claims are not numbers')
    return float(value)


def sign_tenant_request(
    *,
    method: str,
    path: str,
    raw_query: str,
    secret: str,
    issuer: str,
    base_path: str = '',
    lifetime: int = constants.OUTGOING_JWT_LIFETIME_SECONDS,
    now: float | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """An HS256 Connect token for one request (our calls into Jira, or the simulator's)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        'iss': issuer,
        'iat': issued,
        'exp': issued + lifetime,
        'qsh': query_hash(method, path, raw_query, base_path),
        **(extra_claims or {}),
    }
    return _CODEC.encode(claims, secret, algorithm='HS256')


def sign_context_token(*, secret: str, issuer: str, subject: str, lifetime: int = 900) -> str:
    """A ``context-qsh`` token as ``AP.context.getToken()`` gives an app page (tests, demo)."""
    issued = int(time.time())
    claims = {'iss': issuer, 'sub': subject, 'iat': issued, 'exp': issued + lifetime, 'qsh': CONTEXT_QSH}
    return _CODEC.encode(claims, secret, algorithm='HS256')
