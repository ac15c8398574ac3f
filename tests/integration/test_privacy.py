"""GET /api/privacy, the README's privacy table and schemas/schema.sql say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

import redis.asyncio as aioredis
from arq.constants import job_key_prefix

from rulequeue import constants
from rulequeue.store.db import schema_sql
from tests.harness import running_system

README = Path(__file__).resolve().parents[2] / 'README.md'
KEY_TEMPLATES = [v for k, v in vars(constants).items() if k.endswith('_KEY') and isinstance(v, str)]


def _schema_tables() -> set[str]:
    return set(re.findall(r'CREATE TABLE IF NOT EXISTS (\w+)', schema_sql()))


def _readme_rows() -> list[tuple[str, str, str]]:
    text = README.read_text()
    section = text[text.index('## Privacy: what is stored') :]
    section = section[: section.index('\n## ', 4)]
    rows = [line for line in section.splitlines() if line.startswith('| ') and not line.startswith('| ---')]
    cells = [tuple(c.strip() for c in row.strip('|').split(' | ')) for row in rows[1:]]
    assert all(len(c) == 3 for c in cells), cells
    return [(c[0], c[1], c[2]) for c in cells]


def _names_real_storage(store: str, location: str) -> bool:
    if store == 'postgres':
        return location in _schema_tables()
    if store == 'redis':
        prefix = location.split('<', 1)[0]
        templates = [*KEY_TEMPLATES, job_key_prefix + '{execution}']
        return bool(prefix) and any(t.split('{', 1)[0] == prefix for t in templates)
    return store == 'stdout' == location


async def test_privacy_api_readme_and_schema_agree(schema: str, redis: aioredis.Redis) -> None:
    async with running_system(schema, audit_retention_days=30, uninstall_grace_days=14) as system:
        response = await system.api('GET', '/api/privacy')
        assert response.status_code == 200, response.text
        unauthenticated = await system.http.get(system.url + '/api/privacy')
        assert unauthenticated.status_code == 401
        report = response.json()
        openapi = (await system.http.get(system.url + '/api/openapi.json')).json()
    assert 'get' in openapi['paths']['/api/privacy']

    # This deployment's figures, not the defaults.
    assert report['retention'] == {'audit_retention_days': 30, 'uninstall_grace_days': 14}
    stored = report['stored']
    audit = next(e for e in stored if e['location'] == 'audit_log')
    assert audit['max_days'] == 30
    assert '30 days' in audit['retention']
    assert '14 days after uninstall' in audit['retention']

    # Every entry names a real table or a key pattern of ours (or arq's job key).
    for entry in stored:
        assert _names_real_storage(entry['store'], entry['location']), entry

    # Every table of the schema is listed, in the API and in the README.
    api_locations = {e['location'] for e in stored}
    tables = _schema_tables()
    assert {'tenants', 'rules', 'audit_log', 'dead_letters', 'deliveries', 'outbox'} <= tables  # parsed
    assert tables <= api_locations

    readme_locations = set()
    for data, where, how_long in _readme_rows():
        assert data
        assert how_long
        named = re.findall(r'`([^`]+)`', where)
        assert len(named) == 1, where
        readme_locations.add(named[0])
    assert tables <= readme_locations
    # The README lists exactly what the API lists.
    assert readme_locations == api_locations
    readme_data = {row[0] for row in _readme_rows()}
    assert readme_data == {e['data'] for e in stored}
