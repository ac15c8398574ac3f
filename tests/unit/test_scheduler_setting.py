"""SCHEDULER_ENABLED: a process that drives scheduled ticks itself (the demo, the tests) turns the
worker's own scheduled-rules cron off; every other cron stays."""

from __future__ import annotations

from tests.conftest import make_settings
from worker.settings import build_worker_settings


def _crons(**overrides: object) -> set[str]:
    settings = make_settings('unused', **overrides)
    return {job.name for job in build_worker_settings(settings)['cron_jobs']}


def test_the_scheduler_cron_runs_unless_turned_off() -> None:
    on = _crons(scheduler_enabled=True)
    off = _crons(scheduler_enabled=False)
    assert 'rulequeue:scheduled' in on
    assert on - off == {'rulequeue:scheduled'}
    assert 'rulequeue:reconcile' in off


def test_tests_run_without_the_real_time_scheduler() -> None:
    assert 'rulequeue:scheduled' not in _crons()
