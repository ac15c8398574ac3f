"""Token buckets in Redis that keep one tenant or one attacker from filling the queue.

* Per tenant, after authentication: a generous rate (200/s, burst 2,000 by default) so one
  site's bulk import cannot starve every other tenant; over it, 429 with ``Retry-After``, and
  Jira re-sends the delivery later, so nothing is lost.
* Per client IP, for failed authentication only: Jira sends every tenant's webhooks from the
  same Atlassian addresses, so verified traffic is never limited by IP. An address that keeps
  sending bad tokens gets 429 (with ``Retry-After``) instead of 401 once its budget is spent,
  which tells well-behaved clients to back off and makes guessing slow.

One Lua script makes refill-and-take atomic across producer replicas, on Redis's clock.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from redis.asyncio import Redis

from rulequeue import constants
from rulequeue.errors import TooManyRequests

log = structlog.get_logger('rulequeue.producer')

# KEYS[1] bucket; ARGV: rate per second, burst, tokens to take (0 = only look).
# Returns {allowed (1/0), seconds until one token is available}.
_BUCKET = """
local rate, burst, take = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  allowed = 1
  tokens = math.max(0, tokens - take)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate end
return {allowed, tostring(wait)}
"""


async def _bucket(redis: Redis, key: str, rate: float, burst: float, take: int) -> tuple[bool, float]:
    result: Any = await redis.eval(_BUCKET, 1, key, str(rate), str(burst), str(take))  # type: ignore[misc]
    return bool(int(result[0])), float(result[1])


def _too_many(what: str, wait: float) -> TooManyRequests:
    return TooManyRequests(f'{what} rate limit exceeded', retry_after=max(1, math.ceil(wait)))


async def take_tenant(redis: Redis, client_key: str, per_second: float, burst: int) -> None:
    if per_second <= 0:
        return
    key = constants.RATE_TENANT_KEY.format(tenant=constants.tenant_ref(client_key))
    allowed, wait = await _bucket(redis, key, per_second, burst, 1)
    if not allowed:
        log.warning('rate limited', limit='tenant', client_key=client_key)
        raise _too_many('tenant', wait)


def _ip_key(ip: str) -> str:
    return constants.RATE_IP_FAILURES_KEY.format(ip=constants.digest(ip, 24))


async def count_ip_failure(redis: Redis, ip: str | None, per_minute: float) -> None:
    """Spend one failed authentication of ``ip``; 429 once its budget is gone."""
    if per_minute <= 0 or ip is None:
        return
    allowed, wait = await _bucket(redis, _ip_key(ip), per_minute / 60, per_minute, 1)
    if not allowed:
        log.warning('rate limited', limit='ip-failures')
        raise _too_many('authentication failure', wait)
