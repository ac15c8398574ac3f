"""Connect JWT verification and signing, with an injected clock."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rulequeue.connect import tokens
from rulequeue.connect.qsh import CONTEXT_QSH, query_hash
from rulequeue.errors import Unauthorized

ATLASSIAN_SECRET = 's0m3-sh@r3d-s3cr37'
ATLASSIAN_TOKEN = (
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEzOTIyMDQ2NDIsInN1YiI6IjEyMzQ1Njc4OSIsImlzcyI6ImppcmE6'
    'MTIzNC01Njc4LTkwMDAiLCJxc2giOiJiZTE2OTEwODU4YTQxZmQxOWVhNWMxYjRlOWRlY2NhOWE3ODRkMTAyNGNiMDBiMjE1OGRl'
    'ZmUyZjI5ZGM4NmRkIiwiaWF0IjoxMzkyMjA0NDYyfQ.RX2cWoT3uD8W355G71nkAwZOAl36COJqRkgfIbsjVW8'
)
REQUEST = {'method': 'GET', 'path': '/test', 'raw_query': 'param=value', 'base_path': ''}


def test_atlassian_token_is_valid_inside_its_lifetime() -> None:
    claims = tokens.verify_tenant_token(ATLASSIAN_TOKEN, ATLASSIAN_SECRET, now=1392204500, **REQUEST)
    assert claims['iss'] == 'jira:1234-5678-9000'
    assert tokens.unverified_issuer(ATLASSIAN_TOKEN) == 'jira:1234-5678-9000'


def test_atlassian_token_expires_after_leeway() -> None:
    with pytest.raises(Unauthorized, match='expired'):
        tokens.verify_tenant_token(ATLASSIAN_TOKEN, ATLASSIAN_SECRET, now=1392204673, **REQUEST)
    # 30 s of skew is allowed: 1392204642 + 30 is still fine.
    tokens.verify_tenant_token(ATLASSIAN_TOKEN, ATLASSIAN_SECRET, now=1392204671, **REQUEST)


def test_wrong_secret_and_wrong_request_are_refused() -> None:
    with pytest.raises(Unauthorized, match='signature'):
        tokens.verify_tenant_token(ATLASSIAN_TOKEN, 'another-secret', now=1392204500, **REQUEST)
    with pytest.raises(Unauthorized, match='qsh'):
        tokens.verify_tenant_token(
            ATLASSIAN_TOKEN, ATLASSIAN_SECRET, now=1392204500, **{**REQUEST, 'raw_query': 'param=other'}
        )
    with pytest.raises(Unauthorized, match='qsh'):
        tokens.verify_tenant_token(ATLASSIAN_TOKEN, ATLASSIAN_SECRET, now=1392204500, **{**REQUEST, 'method': 'POST'})


def _unsigned(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b'=').decode()

    return f'{part({"alg": "none", "typ": "JWT"})}.{part(claims)}.'


def test_alg_none_is_refused() -> None:
    now = int(time.time())
    token = _unsigned({'iss': 'x', 'iat': now, 'exp': now + 60, 'qsh': query_hash('GET', '/test', 'param=value')})
    with pytest.raises(Unauthorized, match='HS256'):
        tokens.verify_tenant_token(token, ATLASSIAN_SECRET, **REQUEST)


def test_context_qsh_only_where_allowed() -> None:
    token = tokens.sign_context_token(secret='a' * 32, issuer='tenant', subject='user')
    with pytest.raises(Unauthorized, match='qsh'):
        tokens.verify_tenant_token(token, 'a' * 32, **REQUEST)
    claims = tokens.verify_tenant_token(token, 'a' * 32, allow_context_qsh=True, **REQUEST)
    assert claims['qsh'] == CONTEXT_QSH


def test_signed_request_round_trips_and_binds_the_request() -> None:
    token = tokens.sign_tenant_request(
        method='PUT', path='/rest/api/2/issue/P-1', raw_query='', secret='short', issuer='rulequeue'
    )
    claims = jwt.decode(token, options={'verify_signature': False})
    assert claims['exp'] - claims['iat'] == 180
    assert claims['qsh'] == query_hash('PUT', '/rest/api/2/issue/P-1')
    tokens.verify_tenant_token(token, 'short', method='PUT', path='/rest/api/2/issue/P-1', raw_query='', base_path='')


def test_future_iat_is_refused() -> None:
    token = tokens.sign_tenant_request(
        method='GET', path='/test', raw_query='param=value', secret='k' * 32, issuer='i', now=time.time() + 600
    )
    with pytest.raises(Unauthorized, match='not yet valid'):
        tokens.verify_tenant_token(token, 'k' * 32, **REQUEST)


@pytest.fixture(name='rsa_pair')
def _rsa_pair() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return key, pem


def _install_token(key: rsa.RSAPrivateKey, **claims: object) -> str:
    now = int(time.time())
    body = {
        'iss': 'client-1',
        'aud': 'https://app.example.com',
        'iat': now,
        'exp': now + 180,
        'qsh': query_hash('POST', '/lifecycle/installed'),
        **claims,
    }
    return jwt.encode(body, key, algorithm='RS256', headers={'kid': 'k1'})


INSTALL = {'audience': 'https://app.example.com', 'method': 'POST', 'path': '/lifecycle/installed', 'raw_query': ''}


def test_install_token_verifies_with_the_install_key(rsa_pair: tuple[rsa.RSAPrivateKey, str]) -> None:
    key, pem = rsa_pair
    claims = tokens.verify_install_token(_install_token(key), pem, base_path='', **INSTALL)
    assert claims['iss'] == 'client-1'


@pytest.mark.parametrize(
    ('claims', 'message'),
    [
        ({'aud': 'https://evil.example.com'}, 'audience'),
        ({'exp': int(time.time()) - 120, 'iat': int(time.time()) - 300}, 'expired'),
        ({'qsh': query_hash('POST', '/lifecycle/uninstalled')}, 'qsh'),
    ],
)
def test_install_token_claims_are_checked(
    rsa_pair: tuple[rsa.RSAPrivateKey, str], claims: dict[str, object], message: str
) -> None:
    key, pem = rsa_pair
    with pytest.raises(Unauthorized, match=message):
        tokens.verify_install_token(_install_token(key, **claims), pem, base_path='', **INSTALL)


def test_install_token_signed_by_another_key_or_hs256_is_refused(rsa_pair: tuple[rsa.RSAPrivateKey, str]) -> None:
    _, pem = rsa_pair
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthorized, match='signature'):
        tokens.verify_install_token(_install_token(rogue), pem, base_path='', **INSTALL)
    now = int(time.time())
    hs = jwt.encode(
        {'iss': 'client-1', 'aud': INSTALL['audience'], 'iat': now, 'exp': now + 60, 'qsh': 'x'},
        'a-shared-secret-that-is-long-enough-32',
        algorithm='HS256',
    )
    with pytest.raises(Unauthorized, match='RS256'):
        tokens.verify_install_token(hs, pem, base_path='', **INSTALL)
