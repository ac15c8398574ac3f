"""Issue snapshots in Redis: compressed, encrypted, bound to their tenant, short-lived.

The producer writes the webhook body here and the job carries only the key. The worker
deletes it in the step that records the execution's outcome; the TTL is a backstop for
executions that never end.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from redis.asyncio import Redis

from rulequeue import constants
from rulequeue.crypto import Cipher

PURPOSE = 'snapshot'


def seal(cipher: Cipher, client_key: str, body: bytes) -> bytes:
    return cipher.encrypt(zlib.compress(body, 6), purpose=PURPOSE, tenant=client_key)


def unseal(cipher: Cipher, client_key: str, blob: bytes) -> dict[str, Any]:
    data = json.loads(zlib.decompress(cipher.decrypt(blob, purpose=PURPOSE, tenant=client_key)))
    if not isinstance(data, dict):
        raise ValueError('snapshot is not a JSON object')
    return data


async def store(redis: Redis, cipher: Cipher, client_key: str, key: str, body: bytes) -> None:
    await redis.set(key, seal(cipher, client_key, body), ex=constants.SNAPSHOT_TTL_SECONDS)


async def load(redis: Redis, cipher: Cipher, client_key: str, key: str) -> dict[str, Any] | None:
    blob = await redis.get(key)
    return None if blob is None else unseal(cipher, client_key, blob)


async def drop_tenant(redis: Redis, client_key: str) -> int:
    """Delete every queued snapshot of a tenant (on uninstall). Their jobs then end as purged."""
    deleted = 0
    async for key in redis.scan_iter(match=constants.tenant_snapshot_pattern(client_key), count=500):
        deleted += int(await redis.delete(key))
    return deleted
