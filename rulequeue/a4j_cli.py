"""``rulequeue import-a4j``: import an Automation for Jira export file for one tenant.

The tenant is named by its Connect ``clientKey`` (as ``rulequeue dlq`` names dead letters by
id); the report is printed as JSON, the same as ``POST /api/rules/import`` answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rulequeue.a4j_import import ImportReport, import_export
from rulequeue.errors import NotFound, Unprocessable
from rulequeue.settings import Settings


def read_export(path: Path, ids_path: Path | None) -> Any:
    """The export file's JSON, with the ``ids`` file's names merged in as its ``ids`` key."""
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
        if ids_path is not None and isinstance(data, dict):
            data['ids'] = json.loads(ids_path.read_text(encoding='utf-8'))
    except ValueError as exc:
        raise Unprocessable(f'not JSON: {exc}', []) from None
    return data


async def import_file(
    settings: Settings, data: Any, client_key: str, *, dry_run: bool, allow_partial: bool
) -> ImportReport:
    from rulequeue.store.db import create_pool

    pool = await create_pool(settings.database_url, schema=settings.database_schema, min_size=1, max_size=1)
    try:
        if await pool.fetchval('SELECT 1 FROM tenants WHERE client_key = $1', client_key) is None:
            raise NotFound(f'no tenant with client key {client_key!r}')
        return await import_export(
            pool,
            client_key,
            data,
            dry_run=dry_run,
            allow_partial=allow_partial,
            max_components=settings.max_rule_components,
        )
    finally:
        await pool.close()
