"""Connection pool and migrations."""

from __future__ import annotations

import importlib.resources
import json
import re
from typing import Any

import asyncpg
import asyncpg.pool

from rulequeue.errors import ConfigurationError

Pool = asyncpg.Pool
# Anything statements run on: the pool, or one connection inside a transaction.
Executor = asyncpg.Pool | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
_SCHEMA_NAME = re.compile(r'^[a-z_][a-z0-9_]{0,62}$')


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns in and out as Python objects, so callers never hand-encode JSON.
    await conn.set_type_codec('jsonb', encoder=json.dumps, decoder=json.loads, schema='pg_catalog')


async def create_pool(dsn: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10) -> Pool:
    """A pool sized explicitly (asyncpg's default of 10 per process adds up across replicas).

    ``schema`` puts every table in its own Postgres schema: tests use one per test, operators
    may share a database between environments.
    """
    server_settings: dict[str, str] = {'application_name': 'rulequeue'}
    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise ConfigurationError('DATABASE_SCHEMA must be a lower-case SQL identifier')
        server_settings['search_path'] = schema
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=server_settings,
        command_timeout=30,
    )
    assert pool is not None  # asyncpg types the pool as optional for the un-awaited form
    return pool


def schema_sql() -> str:
    return importlib.resources.files('schemas').joinpath('schema.sql').read_text()


async def migrate(pool: Pool, *, schema: str | None = None) -> None:
    """Apply the SQL schema. Idempotent: every statement is ``IF NOT EXISTS``.

    An advisory lock serialises concurrent migrations (compose starts one migrate service,
    but an operator may run it by hand at the same time).
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute('SELECT pg_advisory_xact_lock(724517)')
        if schema is not None:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(schema_sql())


def row_dict(record: asyncpg.Record) -> dict[str, Any]:
    return dict(record.items())


def storable(value: Any) -> Any:
    """Replace what Postgres text and jsonb cannot hold (NUL, unpaired surrogates) with U+FFFD.

    Audit rows carry rendered templates, which may contain whatever an issue contained; one odd
    character must not make the outcome of an execution unrecordable.
    """
    if isinstance(value, str):
        if '\x00' in value or any('\ud800' <= ch <= '\udfff' for ch in value):
            return ''.join('\ufffd' if ch == '\x00' or '\ud800' <= ch <= '\udfff' else ch for ch in value)
        return value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
