"""The command line: missing or invalid settings stop a process with one clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rulequeue.cli import build_parser

ENV_NAMES = ('DATABASE_URL', 'REDIS_URL', 'APP_BASE_URL', 'SECRET_KEY')


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    return subprocess.run(
        [sys.executable, '-m', 'rulequeue.cli', *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize('command', ['producer', 'worker', 'migrate'])
def test_missing_settings_stop_with_one_message(command: str) -> None:
    result = _run(command)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    for name in ENV_NAMES:
        assert f'{name} is required' in lines[0]


def test_invalid_setting_is_named_and_secret_not_echoed() -> None:
    result = _run(
        'migrate',
        DATABASE_URL='mysql://nope',
        REDIS_URL='redis://127.0.0.1:6379/0',
        APP_BASE_URL='https://app.example.com',
        SECRET_KEY='tiny-secret',
    )
    assert result.returncode == 2
    assert 'DATABASE_URL must be a postgresql:// DSN' in result.stderr
    assert 'SECRET_KEY' in result.stderr
    assert 'tiny-secret' not in result.stderr


def test_parser_knows_every_command() -> None:
    parser = build_parser()
    args = parser.parse_args(['producer', '--host', '0.0.0.0', '--port', '9000'])
    assert (args.host, args.port) == ('0.0.0.0', 9000)
    assert parser.parse_args(['worker', '--concurrency', '7']).concurrency == 7
    assert parser.parse_args(['demo']).events == 200
