"""Enabled scheduled rules of installed tenants: what the scheduler's cron looks at each minute."""

from __future__ import annotations

import structlog
from pydantic import ValidationError

from rulequeue.store.db import Pool
from schemas.rules import Rule, StoredRule

log = structlog.get_logger('rulequeue.scheduler')


async def scheduled_rules(pool: Pool) -> list[tuple[str, StoredRule]]:
    """(client key, rule) of every enabled ``scheduled`` rule of an installed tenant.

    The trigger type is read from the document (a scan of enabled rules: a few thousand rows at
    most per deployment; an expression index can come when that stops being true). A document
    the current schema refuses is left out and logged, so one rule cannot stop the others.
    """
    rows = await pool.fetch(
        """SELECT r.client_key, r.id, r.version, r.document
             FROM rules r JOIN tenants t ON t.client_key = r.client_key
            WHERE r.enabled AND t.state = 'installed' AND r.document->'trigger'->>'type' = 'scheduled'
            ORDER BY r.client_key, r.created_at, r.id"""
    )
    found: list[tuple[str, StoredRule]] = []
    for row in rows:
        try:
            rule = Rule.model_validate(row['document'])
        except ValidationError:
            log.warning('scheduled rule unreadable', rule_id=str(row['id']))
            continue
        found.append((row['client_key'], StoredRule(id=str(row['id']), version=row['version'], rule=rule)))
    return found
