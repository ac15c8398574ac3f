"""schemathesis fuzzes the rules and audit API from its own OpenAPI description.

Any 5xx, an undocumented status code or a response that does not match the schema fails the
run. CI uses a small budget; a longer run is `FUZZ_EXAMPLES=500 make fuzz` (see README).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from rulequeue.simulator import ALICE
from tests.harness import running_system

EXAMPLES = int(os.environ.get('FUZZ_EXAMPLES', '15'))
# The coverage phase enumerates boundary values of every schema element; with the full rule
# language that is thousands of requests (~9 min), so it belongs to `make fuzz`, not CI.
PHASES = os.environ.get('FUZZ_PHASES', 'examples,fuzzing')


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_server_errors(schema: str, redis: aioredis.Redis, tmp_path: Path) -> None:
    async with running_system(schema) as system:
        spec = (await system.http.get(system.url + '/api/openapi.json')).json()
        assert set(spec['paths']) == {
            '/api/rules',
            '/api/rules/{rule_id}',
            '/api/rules/{rule_id}/run',
            '/api/rules/schema',
            '/api/rules/dry-run',
            '/api/rules/import',
            '/api/audit',
            '/api/privacy',
            '/api/web-request-hosts',
            '/api/events/{delivery_id}',
            '/api/issues/{issue_key}/events',
            '/api/settings/explain-values',
            '/api/settings/transport',
        }
        token = system.sim.context_token(ALICE['accountId'])
        command = [
            str(Path(sys.executable).parent / 'schemathesis'),
            'run',
            system.url + '/api/openapi.json',
            '--header',
            f'Authorization: JWT {token}',
            '--checks',
            'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
            '--max-examples',
            str(EXAMPLES),
            '--seed',
            '1',
            '--workers',
            '1',
            '--phases',
            PHASES,
            '--generation-database',
            'none',
            '--no-color',
            '--report-dir',
            str(tmp_path),
        ]
        result = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=550, check=False
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        # Something was really exercised: the rules it created are in the tenant's table.
        assert 'passed' in result.stdout.lower()
