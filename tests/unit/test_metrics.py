"""Label mapping, the queue gauges' export switch and the job counters: pure logic."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producer.observe import outcome_of
from rulequeue.errors import BadRequest, PayloadTooLarge, ServiceUnavailable, TooManyRequests, Unauthorized
from rulequeue.metrics import ProducerMetrics, QueueGaugeValues, WorkerMetrics, event_label, status_class
from rulequeue.worker_health import JobCounters


@pytest.mark.parametrize(
    ('status', 'expected'),
    [(200, '2xx'), (204, '2xx'), (302, '3xx'), (404, '4xx'), (429, '429'), (400, '4xx'), (503, '5xx'), (None, 'error')],
)
def test_status_class_keeps_429_apart(status: int | None, expected: str) -> None:
    assert status_class(status) == expected


def test_event_label_is_an_allow_list() -> None:
    assert event_label('jira:issue_updated') == 'jira:issue_updated'
    assert event_label('jira:issue_updated-PROJ-1') == 'other'
    assert event_label(None) == 'other'


def test_outcome_of_each_refusal() -> None:
    assert outcome_of(PayloadTooLarge('x')) == 'too_large'
    assert outcome_of(TooManyRequests('x', retry_after=1)) == 'rate_limited'
    assert outcome_of(ServiceUnavailable('x')) == 'unavailable'
    assert outcome_of(ConnectionError()) == 'unavailable'
    assert outcome_of(Unauthorized('x')) == 'rejected'
    assert outcome_of(BadRequest('x')) == 'rejected'


def _names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def test_queue_gauges_are_exported_only_while_set() -> None:
    metrics = WorkerMetrics()
    body, _ = ProducerMetrics().exposition()
    assert 'rulequeue_queue_ready_jobs' not in body.decode()
    assert 'rulequeue_queue_ready_jobs' not in _names(generate_latest(metrics.registry).decode())
    metrics.queue.values = QueueGaugeValues(
        ready=3, deferred=2, running=1, oldest_ready_age_seconds=4.5, dead_letters=6, worker_processes=2
    )
    text = generate_latest(metrics.registry).decode()
    families = {f.name: f.samples[0].value for f in text_string_to_metric_families(text) if f.samples}
    assert families['rulequeue_queue_ready_jobs'] == 3
    assert families['rulequeue_queue_oldest_ready_age_seconds'] == 4.5
    assert families['rulequeue_worker_processes'] == 2
    metrics.queue.values = None
    assert 'rulequeue_queue_ready_jobs' not in _names(generate_latest(metrics.registry).decode())


def test_job_counters_count_failures_but_not_cancellations() -> None:
    counters = JobCounters()
    with counters.job():
        assert counters.running == 1
    with pytest.raises(ValueError, match='boom'), counters.job():
        raise ValueError('boom')
    with pytest.raises(KeyboardInterrupt), counters.job():
        raise KeyboardInterrupt  # a BaseException, like asyncio.CancelledError on shutdown
    assert (counters.done, counters.failed, counters.running) == (0, 1, 0)
