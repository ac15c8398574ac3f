"""Rules of a tenant. Every query is scoped by client_key: one tenant never sees another's."""

from __future__ import annotations

import uuid
from typing import Any

from rulequeue.store.db import Pool
from schemas.rules import Rule, StoredRule


def _stored(row: Any) -> StoredRule:
    return StoredRule(id=str(row['id']), version=row['version'], rule=Rule.model_validate(row['document']))


def _document(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode='json', by_alias=True)


def _uuid(rule_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(rule_id)
    except ValueError:
        return None


async def create_rule(pool: Pool, client_key: str, rule: Rule) -> StoredRule:
    row = await pool.fetchrow(
        'INSERT INTO rules (id, client_key, enabled, document) VALUES ($1, $2, $3, $4) RETURNING id, version, document',
        uuid.uuid4(),
        client_key,
        rule.enabled,
        _document(rule),
    )
    return _stored(row)


async def list_rules(pool: Pool, client_key: str) -> list[StoredRule]:
    rows = await pool.fetch(
        'SELECT id, version, document FROM rules WHERE client_key = $1 ORDER BY created_at, id', client_key
    )
    return [_stored(r) for r in rows]


async def enabled_rules(pool: Pool, client_key: str) -> list[StoredRule]:
    rows = await pool.fetch(
        'SELECT id, version, document FROM rules WHERE client_key = $1 AND enabled ORDER BY created_at, id',
        client_key,
    )
    return [_stored(r) for r in rows]


async def rules_with_state(pool: Pool, client_key: str) -> list[tuple[StoredRule, bool]]:
    """Every rule of the tenant with whether it is enabled (the column: uninstall disables rules there)."""
    rows = await pool.fetch(
        'SELECT id, version, document, enabled FROM rules WHERE client_key = $1 ORDER BY created_at, id', client_key
    )
    return [(_stored(r), bool(r['enabled'])) for r in rows]


async def get_rule(pool: Pool, client_key: str, rule_id: str) -> StoredRule | None:
    key = _uuid(rule_id)
    if key is None:
        return None
    row = await pool.fetchrow(
        'SELECT id, version, document FROM rules WHERE client_key = $1 AND id = $2', client_key, key
    )
    return None if row is None else _stored(row)


async def replace_rule(pool: Pool, client_key: str, rule_id: str, rule: Rule) -> StoredRule | None:
    key = _uuid(rule_id)
    if key is None:
        return None
    row = await pool.fetchrow(
        """UPDATE rules SET document = $3, enabled = $4, version = version + 1, updated_at = now()
            WHERE client_key = $1 AND id = $2 RETURNING id, version, document""",
        client_key,
        key,
        _document(rule),
        rule.enabled,
    )
    return None if row is None else _stored(row)


async def delete_rule(pool: Pool, client_key: str, rule_id: str) -> bool:
    key = _uuid(rule_id)
    if key is None:
        return False
    status = await pool.execute('DELETE FROM rules WHERE client_key = $1 AND id = $2', client_key, key)
    return bool(status == 'DELETE 1')


async def ids_with_triggers(pool: Pool, client_key: str, triggers: tuple[str, ...]) -> tuple[str, ...]:
    """Ids of the tenant's rules (enabled or not) whose trigger is one of ``triggers``.

    A Forge event names the triggers it may fire (``ForgeEvent.triggers``): Forge sends an
    ``assigned`` and an ``updated`` event for one assignment, and each must run only its share
    of the rules, where Connect's one webhook runs them all.
    """
    rows = await pool.fetch(
        "SELECT id FROM rules WHERE client_key = $1 AND document -> 'trigger' ->> 'type' = ANY($2::text[]) "
        'ORDER BY created_at, id',
        client_key,
        list(triggers),
    )
    return tuple(str(r['id']) for r in rows)
