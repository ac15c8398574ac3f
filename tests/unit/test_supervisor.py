"""The supervisor's pure parts: back-off, child command and per-child environment."""

from __future__ import annotations

import sys

import pytest

from rulequeue.cli import build_parser
from rulequeue.supervisor import RestartPolicy, child_environment, worker_command


def test_restart_delay_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy(base_seconds=0.5, cap_seconds=5)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_each_child_gets_its_own_metrics_port_unless_metrics_are_off() -> None:
    environ = {'REDIS_URL': 'redis://x', 'WORKER_METRICS_PORT': '9191'}
    assert [child_environment(environ, i, 9191)['WORKER_METRICS_PORT'] for i in range(3)] == ['9191', '9192', '9193']
    assert child_environment(environ, 2, 0)['WORKER_METRICS_PORT'] == '0'
    assert child_environment(environ, 1, 9191)['REDIS_URL'] == 'redis://x'


def test_child_command_is_a_single_process_worker() -> None:
    assert worker_command(7) == [sys.executable, '-m', 'rulequeue.cli', 'worker', '--concurrency', '7']
    assert worker_command(3, burst=True)[-1] == '--burst'
    assert '--processes' not in worker_command(3)


def test_processes_must_be_positive() -> None:
    assert build_parser().parse_args(['worker', '--processes', '3']).processes == 3
    with pytest.raises(SystemExit):
        build_parser().parse_args(['worker', '--processes', '0'])
