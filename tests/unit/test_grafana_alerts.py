"""examples/grafana and examples/prometheus: well-formed, valid PromQL, and only metrics we export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from rulequeue.metrics import ProducerMetrics, QueueGaugeValues, WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / 'examples' / 'grafana' / 'rulequeue.json'
ALERTS = ROOT / 'examples' / 'prometheus' / 'alerts.yml'

# The metric names promised to operators (issue #5): dashboards, alerts and the KEDA triggers
# may use only these, and rulequeue.metrics must export exactly these.
CONTRACT = frozenset(
    {
        'rulequeue_webhooks_received_total',
        'rulequeue_webhook_ack_duration_seconds',
        'rulequeue_executions_total',
        'rulequeue_execution_duration_seconds',
        'rulequeue_jira_requests_total',
        'rulequeue_jira_request_duration_seconds',
        'rulequeue_retries_total',
        'rulequeue_dead_lettered_total',
        'rulequeue_queue_ready_jobs',
        'rulequeue_queue_deferred_jobs',
        'rulequeue_queue_running_jobs',
        'rulequeue_queue_oldest_ready_age_seconds',
        'rulequeue_dead_letters',
        'rulequeue_worker_processes',
    }
)


def exported_metrics() -> dict[str, frozenset[str]]:
    """Every metric the producer and a worker export, with its labels, read from the real registries."""
    producer = ProducerMetrics()
    producer.webhook('jira:issue_created', 'accepted', 0.01)
    worker = WorkerMetrics()
    worker.execution(['SUCCESS'], 0.1, dead_lettered=True)
    worker.jira_request('GET', 200, 0.1)
    worker.retries.inc()
    worker.queue.values = QueueGaugeValues(
        ready=1, deferred=2, running=3, oldest_ready_age_seconds=4.0, dead_letters=5, worker_processes=6
    )
    labels: dict[str, frozenset[str]] = {}
    for registry in (producer.registry, worker.registry):
        for family in registry.collect():
            name = family.name + '_total' if family.type == 'counter' else family.name
            labels[name] = frozenset(label for sample in family.samples for label in sample.labels if label != 'le')
    return labels


METRIC_LABELS = exported_metrics()
METRIC_NAMES = frozenset(METRIC_LABELS)
LABEL_VALUES = {
    'outcome': {'accepted', 'duplicate', 'rejected', 'too_large', 'rate_limited', 'unavailable'},
    'status_class': {'2xx', '3xx', '4xx', '429', '5xx', 'error'},
}
HISTOGRAM_SUFFIXES = ('_bucket', '_sum', '_count')
# Labels Prometheus adds to every series, and the histogram bucket label.
TARGET_LABELS = {'instance', 'job', 'pod', 'namespace', 'le'}
DURATION = re.compile(r'^([0-9]+(ms|s|m|h|d|w|y))+$')


def _metric(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and base.endswith('_seconds'):
            return base
    return name


def check_promql(expr: str) -> set[str]:
    """Parse ``expr`` and check every metric, label matcher and grouping label; return the metrics."""
    # Grafana's variables are substituted before the query reaches Prometheus.
    parsed = promql_parser.parse(expr.replace('$__rate_interval', '5m').replace('$__interval', '1m'))
    metrics: set[str] = set()
    grouping: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            name = _metric(node.name)
            assert name in METRIC_NAMES, f'unknown metric {node.name} in {expr}'
            metrics.add(name)
            for matcher in node.matchers.matchers:
                assert matcher.name in METRIC_LABELS[name], f'{name} has no label {matcher.name}: {expr}'
                if matcher.name in LABEL_VALUES and matcher.op == promql_parser.MatchOp.Equal:
                    assert matcher.value in LABEL_VALUES[matcher.name], f'no {matcher.name}={matcher.value}'
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        return True

    promql_parser.walk(parsed, visit)
    assert metrics, f'no rulequeue metric in {expr}'
    allowed = TARGET_LABELS.union(*(METRIC_LABELS[m] for m in metrics))
    assert grouping <= allowed, f'grouping by {grouping - allowed} in {expr}'
    return metrics


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    assert set(data) == {'groups'}
    rules: list[dict[str, Any]] = []
    for group in data['groups']:
        assert set(group) <= {'name', 'interval', 'rules', 'limit'}
        assert group['name']
        assert group['rules']
        rules += group['rules']
    return rules


def test_the_metrics_module_exports_the_promised_names_and_labels() -> None:
    assert set(METRIC_LABELS) == CONTRACT
    assert METRIC_LABELS['rulequeue_webhooks_received_total'] == {'event', 'outcome'}
    assert METRIC_LABELS['rulequeue_jira_requests_total'] == {'method', 'status_class'}
    assert METRIC_LABELS['rulequeue_executions_total'] == {'status'}


def test_the_checker_refuses_unknown_metrics_labels_and_bad_syntax() -> None:
    assert check_promql('sum by (status) (rate(rulequeue_executions_total[5m]))') == {'rulequeue_executions_total'}
    for bad in (
        'rate(rulequeue_execution_total[5m])',  # misspelt
        'rulequeue_jira_requests_total{status="429"}',  # wrong label
        'rulequeue_jira_requests_total{status_class="4XX"}',  # no such value
        'sum by (tenant) (rulequeue_executions_total)',  # a label we do not export
        'rate(rulequeue_executions_total[5m)',  # syntax
    ):
        with pytest.raises((AssertionError, ValueError, SyntaxError)):
            check_promql(bad)


def test_dashboard_panels_query_known_metrics() -> None:
    dashboard = _dashboard()
    assert dashboard['title']
    assert dashboard['uid']
    assert isinstance(dashboard['schemaVersion'], int)
    [variable] = dashboard['templating']['list']
    assert variable == {**variable, 'name': 'datasource', 'type': 'datasource', 'query': 'prometheus'}
    used: set[str] = set()
    ids = []
    for panel in dashboard['panels']:
        ids.append(panel['id'])
        assert panel['type'] in {'timeseries', 'stat'}, panel['title']
        assert panel['datasource']['uid'] == '${datasource}'
        assert {'x', 'y', 'w', 'h'} <= set(panel['gridPos'])
        assert panel['gridPos']['x'] + panel['gridPos']['w'] <= 24
        assert panel['targets'], panel['title']
        for target in panel['targets']:
            assert target['refId']
            assert target['legendFormat']
            used |= check_promql(target['expr'])
    assert len(ids) == len(set(ids))
    titles = ' | '.join(p['title'].lower() for p in dashboard['panels'])
    for subject in ('ready', 'deferred', 'running', 'lag', 'executions per minute', 'p50 / p99', 'status class'):
        assert subject in titles, subject
    for subject in ('429', 'dead letters', 'webhooks by outcome'):
        assert subject in titles, subject
    # Everything exported is on the dashboard.
    assert used == METRIC_NAMES


def test_alert_rules_have_the_prometheus_shape_and_known_metrics() -> None:
    rules = _alert_rules()
    by_name = {rule['alert']: rule for rule in rules}
    assert len(by_name) == len(rules)
    for rule in rules:
        assert set(rule) <= {'alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'}, rule['alert']
        assert re.fullmatch(r'[A-Z][A-Za-z0-9]+', rule['alert'])
        assert DURATION.match(rule['for']), rule['for']
        assert rule['labels']['severity'] in {'warning', 'critical'}
        assert rule['annotations']['summary']
        assert rule['annotations']['description']
        check_promql(rule['expr'])
    metrics_of = {name: check_promql(rule['expr']) for name, rule in by_name.items()}
    assert 'rulequeue_queue_oldest_ready_age_seconds' in metrics_of['RulequeueLagHigh']
    assert 'rulequeue_dead_lettered_total' in metrics_of['RulequeueDeadLettersGrowing']
    assert 'absent(rulequeue_worker_processes)' in by_name['RulequeueNoHealthyWorkers']['expr']
    assert 'status_class="429"' in by_name['RulequeueJiraRateLimited']['expr']
