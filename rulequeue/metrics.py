"""Every Prometheus metric rulequeue exports, per process, in registries of their own.

Names and labels are a contract: alerts, the Grafana dashboard and the KEDA ScaledObject query
them. Labels stay low-cardinality: no issue keys, delivery ids or tenant ids. Each process builds
its metrics once in its composition root (:class:`ProducerMetrics` in the producer's deps,
:class:`WorkerMetrics` in the worker's start-up) and passes them down; nothing registers in
prometheus_client's global registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from rulequeue.connect.descriptor import WEBHOOK_EVENTS
from schemas.audit import AuditStatus

OUTCOMES = ('accepted', 'duplicate', 'rejected', 'too_large', 'rate_limited', 'unavailable')
LIFECYCLE_EVENT = 'lifecycle'
OTHER_EVENT = 'other'
# The events we subscribe to; anything else a client sends is 'other' so it cannot grow the series.
KNOWN_EVENTS = frozenset(WEBHOOK_EVENTS)
EXECUTION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def event_label(name: str | None) -> str:
    return name if name in KNOWN_EVENTS else OTHER_EVENT


def status_class(status: int | None) -> str:
    """2xx/3xx/4xx/5xx, with 429 apart (Jira's rate limit is what operators tune for), or error."""
    if status is None:
        return 'error'
    if status == 429:
        return '429'
    if 200 <= status < 600:
        return f'{status // 100}xx'
    return 'error'


class ProducerMetrics:
    """The producer's metrics: webhooks received by event and outcome, and how fast they are acknowledged."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks_received = Counter(
            'rulequeue_webhooks_received',
            'Webhook and lifecycle requests, by event and outcome',
            ['event', 'outcome'],
            registry=self.registry,
        )
        self.webhook_ack_duration = Histogram(
            'rulequeue_webhook_ack_duration_seconds',
            'Time from receiving a webhook to answering it 2xx (stored and queued)',
            registry=self.registry,
        )

    def webhook(self, event: str, outcome: str, ack_seconds: float | None = None) -> None:
        self.webhooks_received.labels(event=event, outcome=outcome).inc()
        if ack_seconds is not None:
            self.webhook_ack_duration.observe(ack_seconds)

    def exposition(self, accept: str = '') -> tuple[bytes, str]:
        """The metrics and their content type: Prometheus text, or OpenMetrics if ``accept`` asks for it."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


@dataclass(frozen=True)
class QueueGaugeValues:
    ready: int
    deferred: int
    running: int
    oldest_ready_age_seconds: float
    dead_letters: int
    worker_processes: int


_QUEUE_GAUGES = {
    'ready': ('rulequeue_queue_ready_jobs', 'Jobs due now and not running'),
    'deferred': ('rulequeue_queue_deferred_jobs', 'Jobs due later: retry back-off and ordering waits'),
    'running': ('rulequeue_queue_running_jobs', 'Jobs a worker is running now'),
    'oldest_ready_age_seconds': (
        'rulequeue_queue_oldest_ready_age_seconds',
        'How long the oldest ready job has been due (lag); 0 when none is ready',
    ),
    'dead_letters': ('rulequeue_dead_letters', 'Rows in the dead-letter table'),
    'worker_processes': ('rulequeue_worker_processes', 'Worker processes with a fresh health record'),
}


class QueueGauges(Collector):
    """The queue gauges, exported only while :attr:`values` is set (by the lease holder).

    Every replica would report the same queue; exporting it from one keeps sums and alerts honest.
    """

    def __init__(self) -> None:
        self.values: QueueGaugeValues | None = None

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(name, text) for name, text in _QUEUE_GAUGES.values()]

    def collect(self) -> Iterator[Metric]:
        values = self.values  # one read: the scrape runs in the metrics server's thread
        if values is None:
            return
        for attribute, (name, text) in _QUEUE_GAUGES.items():
            yield GaugeMetricFamily(name, text, value=float(getattr(values, attribute)))


class WorkerMetrics:
    """A worker process's metrics: executions, Jira calls, retries, dead letters, queue gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.executions = Counter(
            'rulequeue_executions',
            'Rule runs that ended, by audit status (one per audit row)',
            ['status'],
            registry=self.registry,
        )
        for status in AuditStatus:
            self.executions.labels(status=status.value)
        self.execution_duration = Histogram(
            'rulequeue_execution_duration_seconds',
            'Duration of executions that reached a final outcome',
            buckets=EXECUTION_BUCKETS,
            registry=self.registry,
        )
        self.jira_requests = Counter(
            'rulequeue_jira_requests',
            'Requests to Jira, by method and status class (429 apart; error: no answer)',
            ['method', 'status_class'],
            registry=self.registry,
        )
        self.jira_request_duration = Histogram(
            'rulequeue_jira_request_duration_seconds',
            'Duration of requests to Jira',
            ['method'],
            registry=self.registry,
        )
        self.retries = Counter(
            'rulequeue_retries', 'Executions scheduled again after a transient failure', registry=self.registry
        )
        self.dead_lettered = Counter(
            'rulequeue_dead_lettered', 'Executions recorded as dead letters', registry=self.registry
        )
        self.queue = QueueGauges()
        self.registry.register(self.queue)

    def execution(self, statuses: Iterable[str], seconds: float, *, dead_lettered: bool) -> None:
        for status in statuses:
            self.executions.labels(status=status).inc()
        self.execution_duration.observe(seconds)
        if dead_lettered:
            self.dead_lettered.inc()

    def jira_request(self, method: str, status: int | None, seconds: float) -> None:
        self.jira_requests.labels(method=method, status_class=status_class(status)).inc()
        self.jira_request_duration.labels(method=method).observe(seconds)


def serve_metrics(registry: CollectorRegistry, port: int, host: str = '0.0.0.0') -> Callable[[], None]:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread; returns its stop function.

    A thread, not the event loop: a scrape must not wait for a busy loop, nor block it.
    """
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
