"""Optional replay guard for Forge Invocation Tokens (FORGE.md §3.3 step 6)."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from rulequeue import constants
from rulequeue.errors import ForgeAuthError
from rulequeue.forge.fit import ForgeContext


async def reject_replay(redis: Redis, context: ForgeContext, *, leeway_seconds: int) -> None:
    """Optional replay guard (FORGE.md §3.3 step 6): refuse a ``jti`` seen before.

    The hashed ``jti`` is kept until the token could no longer verify anyway (``exp`` plus the
    leeway). Forge mints a new token per delivery, so a repeat is a replay, not a retry.

    Raises:
        ForgeAuthError: This token was already presented.
    """
    remaining = context.expires_at.timestamp() + leeway_seconds - datetime.now(UTC).timestamp()
    key = constants.FORGE_JTI_KEY.format(jti=constants.digest(context.app_id + '\0' + context.jti))
    if not await redis.set(key, 1, nx=True, ex=max(1, int(remaining) + 1)):
        raise ForgeAuthError('token replayed')
