"""compose.yaml is for users (no Docker engine runs here): validate it instead of running it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from rulequeue import constants
from rulequeue.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / 'compose.yaml').read_text())
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    checker = shutil.which('check-jsonschema') or str(Path(sys.executable).parent / 'check-jsonschema')
    result = subprocess.run(
        [checker, '--builtin-schema', 'vendor.compose-spec', str(ROOT / 'compose.yaml')],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_redis_safely_and_every_service_needed() -> None:
    services = _compose()['services']
    assert set(services) >= {'redis', 'postgres', 'migrate', 'producer', 'worker'}
    redis_command = services['redis']['command']
    assert redis_command[redis_command.index('--appendonly') + 1] == 'yes'
    assert redis_command[redis_command.index('--maxmemory-policy') + 1] == 'noeviction'
    assert services['postgres']['volumes']
    assert services['migrate']['command'] == ['rulequeue', 'migrate']
    assert services['migrate']['restart'] == 'no'
    assert services['worker']['deploy']['replicas'] >= 1
    for name in ('redis', 'postgres', 'producer', 'worker'):
        assert 'healthcheck' in services[name], name
    for name in ('producer', 'worker'):
        assert services[name]['depends_on']['migrate']['condition'] == 'service_completed_successfully'


def test_worker_can_be_scaled() -> None:
    # `docker compose up --scale worker=4` refuses a fixed container name, and four containers
    # cannot all bind one host port.
    worker = _compose()['services']['worker']
    assert 'container_name' not in worker
    for port in worker.get('ports', []):
        published = port.get('published') if isinstance(port, dict) else str(port).rpartition(':')[0]
        assert not published, f'worker publishes a fixed host port: {port}'
    # Per-container liveness: `rulequeue health` checks this host's (container's) worker processes.
    test = worker['healthcheck']['test']
    assert test == ['CMD', 'rulequeue', 'health']
    assert build_parser().parse_args(test[2:]).command == 'health'
    # Scaled containers stop one by one: each must get longer than its running jobs' grace.
    grace = worker['stop_grace_period']
    assert grace.endswith('s')
    assert int(grace[:-1]) > constants.JOB_COMPLETION_WAIT_SECONDS + 5


def _pins(lock: str) -> dict[str, str]:
    """name -> 'name==version' plus its hashes, for every package a lock file pins."""
    pins: dict[str, str] = {}
    name = ''
    for line in (ROOT / lock).read_text().splitlines():
        if line and not line[0].isspace() and '==' in line:
            name = line.split('==')[0].lower()
            pins[name] = line.split(' ')[0]
        elif name and '--hash=' in line:
            pins[name] += ' ' + line.strip().rstrip('\\').strip()
    return pins


def test_the_image_installs_the_runtime_lock_pinned_as_in_development() -> None:
    dockerfile = (ROOT / 'Dockerfile').read_text()
    assert '-r requirements-runtime.lock' in dockerfile
    assert 'requirements.lock' not in dockerfile.replace('requirements-runtime.lock', '')
    runtime, development = _pins('requirements-runtime.lock'), _pins('requirements.lock')
    # The same versions and hashes as the tested environment, and none of the test tools.
    assert runtime, 'the runtime lock pins nothing'
    assert {name: development.get(name) for name in runtime} == runtime
    assert not {'pytest', 'mypy', 'ruff', 'playwright', 'hypothesis'} & set(runtime)
    assert {'arq', 'asyncpg', 'httpx', 'starlette', 'uvicorn', 'cronsim'} <= set(runtime)
