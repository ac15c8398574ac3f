"""Forge Invocation Token verification against the simulator's real JWKS over HTTP.

Test ids carry the number of the conformance case in shared/FORGE.md §9 they prove (at the
verifier level; the routes come later). Each token is minted by the simulator's Forge, signed
with an RSA key it publishes (or deliberately not), and verified by
``rulequeue.forge.fit.verify_invocation_token`` through a ``JwksCache`` fetching that JWKS.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from rulequeue.errors import ConfigurationError, ForgeAuthError, ForgeKeysUnavailable, Unauthorized
from rulequeue.forge.fit import ForgeContext, verify_invocation_token
from rulequeue.forge.jwks import JwksCache
from rulequeue.forge.replay import reject_replay
from rulequeue.settings import Settings
from rulequeue.simulator import JiraSimulator
from rulequeue.simulator.forge import JWKS_PATH
from tests.conftest import make_settings

FOREIGN_APP = f'ari:cloud:ecosystem::app/{uuid.uuid4()}'


class Clock:
    """Monotonic time the test moves by hand, so cooldowns are tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name='sim')
async def _sim() -> AsyncIterator[JiraSimulator]:
    sim = JiraSimulator()
    async with sim.running():
        yield sim


@pytest.fixture(name='clock')
def _clock() -> Clock:
    return Clock()


@pytest.fixture(name='jwks')
async def _jwks(clock: Clock) -> AsyncIterator[JwksCache]:
    async with httpx.AsyncClient() as http:
        yield JwksCache(http, cooldown_seconds=10.0, clock=clock)


def forge_settings(sim: JiraSimulator, **overrides: object) -> Settings:
    # The verifier touches neither Postgres nor Redis; the schema name is never used.
    return make_settings('forge_unused', **{**sim.forge.settings_overrides(sim.base_url), **overrides})


async def verify(sim: JiraSimulator, jwks: JwksCache, header: str | None, **overrides: object) -> ForgeContext:
    return await verify_invocation_token(header, forge_settings(sim, **overrides), jwks)


async def rejected(sim: JiraSimulator, jwks: JwksCache, header: str | None, **overrides: object) -> str:
    """The reason a header is refused; the error is a 401 and never quotes the token."""
    with pytest.raises(ForgeAuthError) as caught:
        await verify(sim, jwks, header, **overrides)
    assert isinstance(caught.value, Unauthorized)
    assert caught.value.status == 401
    token = (header or '').partition(' ')[2].strip()
    if token:
        assert token not in str(caught.value)
        assert token[-20:] not in caught.value.reason
    return caught.value.reason


def bearer(token: str) -> str:
    return f'Bearer {token}'


def total_fetches(sim: JiraSimulator) -> int:
    return sum(sim.forge.keys(realm).fetches for realm in ('production', 'staging', 'ic:orange'))


async def test_case01_16_valid_token_gives_the_invocation_context(sim: JiraSimulator, jwks: JwksCache) -> None:
    """A FIT alone (no x-b3-* headers exist at this level) verifies into the installation's identity."""
    system_token = sim.forge.mint_system_token()
    token = sim.forge.mint_invocation_token()
    context = await verify_invocation_token(bearer(token), forge_settings(sim), jwks, system_token=system_token)
    assert context.installation_id == sim.forge.installation_id
    assert context.app_id == sim.forge.app_id
    assert context.cloud_id == sim.forge.cloud_id
    assert context.api_base_url == f'https://api.atlassian.com/ex/jira/{sim.forge.cloud_id}'
    assert context.environment == 'PRODUCTION'
    assert context.module_key == 'ep-events'
    assert context.app_version == '1.0.0'
    assert context.license_active is None
    assert context.expires_at.timestamp() > time.time()
    assert context.system_token is not None
    assert context.system_token.get_secret_value() == system_token
    assert system_token not in repr(context)
    assert sim.forge.system_token_valid(system_token)
    assert (jwks.fetches, jwks.misses, jwks.errors) == (1, 1, 0)


@pytest.mark.parametrize(
    'header',
    [None, '', 'JWT {token}', 'Basic {token}', 'Bearer ', 'Bearer', 'Bearer {token} extra'],
    ids=['case02-none', 'case02-empty', 'case02-jwt-scheme', 'case02-basic', 'case02-empty-bearer',
         'case02-bare-scheme', 'case02-two-values'],
)  # fmt: skip
async def test_case02_authorization_header_must_be_bearer(sim: JiraSimulator, jwks: JwksCache, header: str) -> None:
    value = None if header is None else header.format(token=sim.forge.mint_invocation_token())
    reason = await rejected(sim, jwks, value)
    assert reason in {
        'no Authorization header',
        'Authorization scheme is not Bearer',
        'empty or malformed bearer token',
    }
    assert total_fetches(sim) == 0


async def test_case02_bearer_scheme_is_case_insensitive(sim: JiraSimulator, jwks: JwksCache) -> None:
    context = await verify(sim, jwks, 'bEaReR ' + sim.forge.mint_invocation_token())
    assert context.installation_id == sim.forge.installation_id


@pytest.mark.parametrize(
    'algorithm', ['HS256', 'none', 'RS512'], ids=['case03-hs256-public-key', 'case03-none', 'case03-rs512']
)
async def test_case03_only_rs256_is_accepted(sim: JiraSimulator, jwks: JwksCache, algorithm: str) -> None:
    token = sim.forge.mint_invocation_token(algorithm=algorithm)
    assert await rejected(sim, jwks, bearer(token)) == 'token algorithm must be RS256'
    assert total_fetches(sim) == 0


@pytest.mark.parametrize('kid', [None, ''], ids=['case04-no-kid', 'case04-empty-kid'])
async def test_case04_kid_is_required(sim: JiraSimulator, jwks: JwksCache, kid: str | None) -> None:
    token = sim.forge.mint_invocation_token(header={'kid': kid})
    assert await rejected(sim, jwks, bearer(token)) == 'token has no usable kid'
    assert total_fetches(sim) == 0


async def test_case04_unknown_kid_refetches_once_per_cooldown(
    sim: JiraSimulator, jwks: JwksCache, clock: Clock
) -> None:
    await verify(sim, jwks, bearer(sim.forge.mint_invocation_token()))
    assert sim.forge.production.fetches == 1
    clock.now += 11
    unknown = bearer(sim.forge.mint_invocation_token(header={'kid': 'no-such-kid'}))
    assert await rejected(sim, jwks, unknown) == 'unknown kid'
    assert sim.forge.production.fetches == 2
    clock.now += 5
    assert await rejected(sim, jwks, unknown) == 'unknown kid'
    assert sim.forge.production.fetches == 2
    assert jwks.misses == 3


async def test_case05_same_kid_other_private_key(sim: JiraSimulator, jwks: JwksCache) -> None:
    token = sim.forge.mint_invocation_token(rogue=True)
    assert await rejected(sim, jwks, bearer(token)) == 'signature does not verify'


@pytest.mark.parametrize(
    ('claims', 'app', 'reason'),
    [
        ({'aud': FOREIGN_APP}, {'id': FOREIGN_APP}, 'audience is not a configured app id'),
        ({'aud': FOREIGN_APP}, {}, 'audience is not a configured app id'),
        ({}, {'id': FOREIGN_APP}, 'app.id does not match the audience'),
    ],
    ids=['case06-foreign-aud-and-app-id', 'case06-foreign-aud', 'case06-foreign-app-id'],
)
async def test_case06_foreign_app(
    sim: JiraSimulator, jwks: JwksCache, claims: dict[str, Any], app: dict[str, Any], reason: str
) -> None:
    token = sim.forge.mint_invocation_token(claims=claims, app=app)
    assert await rejected(sim, jwks, bearer(token)) == reason


async def test_case06_any_configured_app_id_is_accepted(sim: JiraSimulator, jwks: JwksCache) -> None:
    token = sim.forge.mint_invocation_token()
    context = await verify(sim, jwks, bearer(token), forge_app_ids=(FOREIGN_APP, sim.forge.app_id))
    assert context.app_id == sim.forge.app_id


@pytest.mark.parametrize(
    ('claims', 'reason'),
    [
        ({'iss': 'forge/context-token'}, 'issuer is not forge/invocation-token'),
        ({'aud': 'forge'}, 'audience is not a configured app id'),
        ({'iss': 'forge/context-token', 'aud': 'forge', 'exp': int(time.time()) + 900}, None),
    ],
    ids=['case07-context-token-iss', 'case07-forge-aud', 'case07-preuninstall-context-token'],
)
async def test_case07_other_forge_tokens(
    sim: JiraSimulator, jwks: JwksCache, claims: dict[str, Any], reason: str | None
) -> None:
    token = sim.forge.mint_invocation_token(claims=claims)
    assert await rejected(sim, jwks, bearer(token)) in (
        {reason} if reason else {'issuer is not forge/invocation-token', 'audience is not a configured app id'}
    )


@pytest.mark.parametrize(
    ('offsets', 'reason'),
    [
        ((-60, -60, -31), 'token expired'),
        ((-30, -30, -5), None),
        ((0, 60, 25), 'token not yet valid'),
        ((60, 0, 85), 'token not yet valid'),
    ],
    ids=['case08-expired-31s', 'case08-expired-5s-within-leeway', 'case08-nbf-plus-60s', 'case08-iat-plus-60s'],
)
async def test_case08_times_with_leeway(
    sim: JiraSimulator, jwks: JwksCache, offsets: tuple[int, int, int], reason: str | None
) -> None:
    now = int(time.time())
    iat, nbf, exp = (now + offset for offset in offsets)
    token = sim.forge.mint_invocation_token(claims={'iat': iat, 'nbf': nbf, 'exp': exp})
    if reason is None:
        context = await verify(sim, jwks, bearer(token))
        assert context.expires_at.timestamp() == exp
    else:
        assert await rejected(sim, jwks, bearer(token)) == reason


@pytest.mark.parametrize('claim', ['jti', 'iat', 'nbf', 'exp', 'iss', 'aud'], ids=lambda c: f'case09-no-{c}')
async def test_case09_required_claims(sim: JiraSimulator, jwks: JwksCache, claim: str) -> None:
    token = sim.forge.mint_invocation_token(remove=[claim])
    assert await rejected(sim, jwks, bearer(token)) == f'token has no {claim} claim'


async def test_case10_staging_refused_when_off(sim: JiraSimulator, jwks: JwksCache) -> None:
    token = sim.forge.mint_invocation_token(realm='staging')
    assert await rejected(sim, jwks, bearer(token)) == 'staging tokens are not accepted'
    assert total_fetches(sim) == 0


async def test_case10_staging_uses_only_the_staging_jwks(sim: JiraSimulator, jwks: JwksCache) -> None:
    token = sim.forge.mint_invocation_token(realm='staging')
    context = await verify(sim, jwks, bearer(token), forge_staging_enabled=True)
    assert context.api_base_url == f'https://api.stg.atlassian.com/ex/jira/{sim.forge.cloud_id}'
    assert (sim.forge.staging.fetches, sim.forge.production.fetches) == (1, 0)
    # A staging apiBaseUrl signed by a production key is looked up in the staging JWKS only.
    production_signed = sim.forge.mint_invocation_token(
        app={'apiBaseUrl': context.api_base_url}, header={'kid': sim.forge.production.kid}
    )
    assert await rejected(sim, jwks, bearer(production_signed), forge_staging_enabled=True) == 'unknown kid'
    assert sim.forge.production.fetches == 0


async def test_case11_ic_label_picks_the_ic_jwks(sim: JiraSimulator, jwks: JwksCache) -> None:
    token = sim.forge.mint_invocation_token(realm='ic:orange')
    context = await verify(sim, jwks, bearer(token))
    assert context.installation_id == sim.forge.installation_id
    assert (sim.forge.keys('ic:orange').fetches, sim.forge.production.fetches) == (1, 0)


@pytest.mark.parametrize(
    ('label', 'reason'),
    [('../evil', 'icLabel is malformed'), ('a' * 51, 'icLabel is malformed'), ('Orange', 'icLabel is malformed'),
     (7, 'icLabel is malformed'), ('orange', 'Isolated Cloud tokens are not accepted')],
    ids=['case11-path-traversal', 'case11-51-chars', 'case11-uppercase', 'case11-not-a-string', 'case11-no-template'],
)  # fmt: skip
async def test_case11_bad_ic_label_fetches_nothing(
    sim: JiraSimulator, jwks: JwksCache, label: object, reason: str
) -> None:
    token = sim.forge.mint_invocation_token(realm='ic:orange', claims={'icLabel': label})
    overrides = {'forge_ic_jwks_template': None} if reason.startswith('Isolated') else {}
    assert await rejected(sim, jwks, bearer(token), **overrides) == reason
    assert total_fetches(sim) == 0


def _foreign_api(cloud_id: str) -> dict[str, dict[str, Any]]:
    return {
        'case12-foreign-host': {'apiBaseUrl': f'https://evil.example/ex/jira/{cloud_id}'},
        'case12-suffix-host': {'apiBaseUrl': f'https://api.atlassian.com.evil.example/ex/jira/{cloud_id}'},
        'case12-userinfo': {'apiBaseUrl': f'https://api.atlassian.com@evil.example/ex/jira/{cloud_id}'},
        'case12-http': {'apiBaseUrl': f'http://api.atlassian.com/ex/jira/{cloud_id}'},
        'case12-port': {'apiBaseUrl': f'https://api.atlassian.com:8443/ex/jira/{cloud_id}'},
        'case12-not-jira': {'apiBaseUrl': f'https://api.atlassian.com/ex/confluence/{cloud_id}'},
        'case12-extra-path': {'apiBaseUrl': f'https://api.atlassian.com/ex/jira/{cloud_id}/x'},
    }


@pytest.mark.parametrize(
    'case',
    ['case12-foreign-host', 'case12-suffix-host', 'case12-userinfo', 'case12-http', 'case12-port',
     'case12-not-jira', 'case12-extra-path'],
)  # fmt: skip
async def test_case12_api_base_url_must_be_a_jira_site(sim: JiraSimulator, jwks: JwksCache, case: str) -> None:
    app = _foreign_api(sim.forge.cloud_id)[case]
    token = sim.forge.mint_invocation_token(app=app)
    assert await rejected(sim, jwks, bearer(token)) in {
        'apiBaseUrl host is not allowed',
        'apiBaseUrl is not a Jira site',
    }


async def test_case12_installation_ids_must_agree(sim: JiraSimulator, jwks: JwksCache) -> None:
    other = f'ari:cloud:ecosystem::installation/{uuid.uuid4()}'
    token = sim.forge.mint_invocation_token(app={'installationId': other})
    assert await rejected(sim, jwks, bearer(token)) == 'app.installationId does not match app.installation.id'


async def test_case12_context_cloud_id_must_match_api_base_url(sim: JiraSimulator, jwks: JwksCache) -> None:
    installation = {'id': sim.forge.installation_id, 'contexts': [{'cloudId': str(uuid.uuid4())}]}
    token = sim.forge.mint_invocation_token(app={'installation': installation})
    assert await rejected(sim, jwks, bearer(token)) == 'installation cloudId does not match apiBaseUrl'


async def test_step5_environment_type_must_be_allowed(sim: JiraSimulator, jwks: JwksCache) -> None:
    token = sim.forge.mint_invocation_token(app={'environment': {'type': 'DEVELOPMENT', 'id': 'x'}})
    assert await rejected(sim, jwks, bearer(token)) == 'environment type is not allowed'
    context = await verify(sim, jwks, bearer(token), forge_allowed_environments=('DEVELOPMENT', 'PRODUCTION'))
    assert context.environment == 'DEVELOPMENT'


async def test_case13_replayed_jti_is_rejected(sim: JiraSimulator, jwks: JwksCache, redis: aioredis.Redis) -> None:
    token = bearer(sim.forge.mint_invocation_token())
    first = await verify(sim, jwks, token)
    await reject_replay(redis, first, leeway_seconds=10)
    again = await verify(sim, jwks, token)
    with pytest.raises(ForgeAuthError, match='token replayed'):
        await reject_replay(redis, again, leeway_seconds=10)
    fresh = await verify(sim, jwks, bearer(sim.forge.mint_invocation_token()))
    await reject_replay(redis, fresh, leeway_seconds=10)
    keys = await redis.keys('rulequeue:forge:jti:*')
    assert len(keys) == 2
    assert 0 < await redis.ttl(keys[0]) <= 25 + 10 + 1
    assert first.jti.encode() not in keys[0]


async def test_case14_rotated_kid_verifies_after_one_refetch(sim: JiraSimulator, jwks: JwksCache, clock: Clock) -> None:
    await verify(sim, jwks, bearer(sim.forge.mint_invocation_token()))
    old = bearer(sim.forge.mint_invocation_token())
    clock.now += 10
    new_kid = sim.forge.rotate_key()
    rotated = bearer(sim.forge.mint_invocation_token())
    assert (await verify(sim, jwks, rotated)).installation_id == sim.forge.installation_id
    assert sim.forge.production.fetches == 2
    assert (await verify(sim, jwks, old)).installation_id == sim.forge.installation_id
    assert sim.forge.production.fetches == 2
    assert new_kid in {key['kid'] for key in sim.forge.production.jwks()['keys']}


async def test_case14_jwks_500_keeps_the_cached_keys(sim: JiraSimulator, jwks: JwksCache, clock: Clock) -> None:
    await verify(sim, jwks, bearer(sim.forge.mint_invocation_token()))
    sim.forge.production.fail_status = 500
    clock.now += 400  # past the set's max age: it is refreshed, the refresh fails
    assert (await verify(sim, jwks, bearer(sim.forge.mint_invocation_token()))).cloud_id == sim.forge.cloud_id
    assert (sim.forge.production.fetches, jwks.errors) == (2, 1)
    # An unknown kid while the JWKS fails is still just unknown.
    clock.now += 10
    unknown = bearer(sim.forge.mint_invocation_token(header={'kid': 'rotated-while-down'}))
    assert await rejected(sim, jwks, unknown) == 'unknown kid'
    assert (sim.forge.production.fetches, jwks.errors) == (3, 2)


async def test_case14_flood_of_unknown_kids_fetches_once_per_cooldown(
    sim: JiraSimulator, jwks: JwksCache, clock: Clock
) -> None:
    await verify(sim, jwks, bearer(sim.forge.mint_invocation_token()))
    clock.now += 10
    settings = forge_settings(sim)
    tokens = [bearer(sim.forge.mint_invocation_token(header={'kid': f'made-up-{n}'})) for n in range(50)]
    outcomes = await asyncio.gather(
        *(verify_invocation_token(token, settings, jwks) for token in tokens), return_exceptions=True
    )
    assert all(isinstance(outcome, ForgeAuthError) and outcome.reason == 'unknown kid' for outcome in outcomes)
    assert sim.forge.production.fetches == 2
    for token in tokens[:10]:
        assert await rejected(sim, jwks, token) == 'unknown kid'
    assert (sim.forge.production.fetches, jwks.fetches, jwks.misses) == (2, 2, 61)


async def test_cold_jwks_failure_is_ours_not_the_callers(sim: JiraSimulator, jwks: JwksCache, clock: Clock) -> None:
    sim.forge.production.fail_status = 503
    token = bearer(sim.forge.mint_invocation_token())
    with pytest.raises(ForgeKeysUnavailable) as caught:
        await verify(sim, jwks, token)
    assert caught.value.status == 503
    sim.forge.production.fail_status = None
    clock.now += 10
    assert (await verify(sim, jwks, token)).jti
    assert jwks.errors == 1


async def test_jwks_redirect_is_not_followed(sim: JiraSimulator, clock: Clock) -> None:
    real = sim.base_url + JWKS_PATH

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == '/moved':
            return httpx.Response(302, headers={'location': real})
        return httpx.Response(200, json=sim.forge.production.jwks())

    # The injected client follows redirects by default; the cache must not.
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True) as http:
        cache = JwksCache(http, clock=clock)
        token = bearer(sim.forge.mint_invocation_token())
        with pytest.raises(ForgeKeysUnavailable):
            await verify(sim, cache, token, forge_jwks_url='https://forge.example/moved')
        clock.now += 10
        context = await verify(sim, cache, token, forge_jwks_url='https://forge.example/jwks.json')
        assert context.cloud_id == sim.forge.cloud_id


async def test_case18_16kb_authorization_header_is_accepted(sim: JiraSimulator, jwks: JwksCache) -> None:
    big = sim.forge.mint_invocation_token(claims={'context': {'extension': {'blob': 'x' * 12_500}}})
    assert len(bearer(big)) >= 16 * 1024
    assert (await verify(sim, jwks, bearer(big))).installation_id == sim.forge.installation_id
    huge = sim.forge.mint_invocation_token(claims={'context': {'blob': 'x' * 70_000}})
    assert await rejected(sim, jwks, bearer(huge)) == 'token too long'


async def test_forge_off_without_app_ids(sim: JiraSimulator, jwks: JwksCache) -> None:
    token = bearer(sim.forge.mint_invocation_token())
    assert await rejected(sim, jwks, token, forge_app_ids=()) == 'Forge is not configured'
    assert total_fetches(sim) == 0


async def test_simulator_jwks_publishes_public_keys_only(sim: JiraSimulator) -> None:
    old = sim.forge.kid
    new = sim.forge.rotate_key()
    async with httpx.AsyncClient() as http:
        answer = await http.get(sim.base_url + JWKS_PATH)
    keys = answer.json()['keys']
    assert answer.status_code == 200
    assert [key['kid'] for key in keys] == [old, new]
    assert all(key['kty'] == 'RSA' and key['alg'] == 'RS256' and 'd' not in key and 'p' not in key for key in keys)


def test_forge_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        'FORGE_APP_IDS', f' {FOREIGN_APP} ,ari:cloud:ecosystem::app/0b5e1f9a-1111-4222-8333-444455556666'
    )
    monkeypatch.setenv('FORGE_ALLOWED_ENVIRONMENTS', 'DEVELOPMENT,PRODUCTION')
    settings = make_settings('forge_unused')
    assert settings.forge_app_ids == (FOREIGN_APP, 'ari:cloud:ecosystem::app/0b5e1f9a-1111-4222-8333-444455556666')
    assert settings.forge_allowed_environments == ('DEVELOPMENT', 'PRODUCTION')
    assert (settings.forge_leeway_seconds, settings.forge_staging_enabled) == (10, False)
    assert settings.forge_jwks_url == 'https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json'
    for name, value in [
        ('forge_leeway_seconds', 31),
        ('forge_app_ids', 'my-app'),
        ('forge_ic_jwks_template', 'https://ic.example/jwks.json'),
    ]:
        with pytest.raises(ConfigurationError, match=name.upper()):
            make_settings('forge_unused', **{name: value})
