"""Prometheus /metrics of the producer and of worker processes, scraped over HTTP.

Names and labels are a contract with the alerts, the dashboard and the KEDA ScaledObject.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from arq.worker import Worker
from prometheus_client.parser import text_string_to_metric_families

from rulequeue import constants, queue
from rulequeue.metrics import status_class
from rulequeue.serve import free_port
from rulequeue.simulator import ALICE
from schemas.jobs import ExecutionJob
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, running_system
from worker.settings import build_worker_settings

RULEQUEUE = str(Path(sys.executable).parent / 'rulequeue')
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
QUEUE_GAUGES = {
    'rulequeue_queue_ready_jobs',
    'rulequeue_queue_deferred_jobs',
    'rulequeue_queue_running_jobs',
    'rulequeue_queue_oldest_ready_age_seconds',
    'rulequeue_dead_letters',
    'rulequeue_worker_processes',
}
BODY_LIMIT = 20_000


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/plain; version=')
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture(name='small_system')
async def _small_system(schema: str, redis: aioredis.Redis) -> AsyncIterator[System]:
    async with running_system(schema, max_body_bytes=BODY_LIMIT) as system:
        yield system


async def test_producer_and_worker_metrics_count_what_happened(small_system: System) -> None:
    system = small_system
    await system.add_rule(TRIAGE)
    issue, responses = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='s', reporter=ALICE)
    assert [r.status_code for r in responses] == [202]
    repeat = await system.sim.redeliver(system.sim.deliveries[0])
    assert repeat is not None
    assert repeat.status_code == 200
    body = system.sim.last_webhook_body
    assert body is not None
    assert (await system.sim.send_webhook(body, token='forged.token.value')).status_code == 401
    assert (await system.sim.send_webhook(body, raw_body=b' ' * (BODY_LIMIT + 1))).status_code == 413
    # The first Jira call of the execution is answered 429: one retry, then success.
    system.sim.fail_next(429, times=1, retry_after=None)

    producer = await scrape(system.http, system.url + '/metrics')
    received = 'rulequeue_webhooks_received_total'
    assert {labels: v for (name, labels), v in producer.items() if name == received} == {
        frozenset({('event', 'lifecycle'), ('outcome', 'accepted')}): 1.0,  # the install
        frozenset({('event', 'jira:issue_created'), ('outcome', 'accepted')}): 1.0,
        frozenset({('event', 'jira:issue_created'), ('outcome', 'duplicate')}): 1.0,
        # Refused before the body is read: the event is not known.
        frozenset({('event', 'other'), ('outcome', 'rejected')}): 1.0,
        frozenset({('event', 'other'), ('outcome', 'too_large')}): 1.0,
    }
    assert value(producer, 'rulequeue_webhook_ack_duration_seconds_count') == 2.0
    assert value(producer, 'rulequeue_webhook_ack_duration_seconds_bucket', le='+Inf') == 2.0
    assert not names(producer) & QUEUE_GAUGES

    port = free_port()
    settings = system.settings.model_copy(update={'worker_metrics_port': port})
    worker = Worker(**build_worker_settings(settings, burst=True, poll_delay=0.01, handle_signals=False, cron_jobs=[]))
    try:
        await worker.main()  # returns once the queue is empty; /metrics is served until close()
        samples = await scrape(system.http, f'http://127.0.0.1:{port}/metrics')
    finally:
        await worker.close()
    assert len(system.sim.comments[issue['key']]) == 1

    assert value(samples, 'rulequeue_executions_total', status='SUCCESS') == 1.0
    assert value(samples, 'rulequeue_executions_total', status='FAILURE') == 0.0
    assert value(samples, 'rulequeue_execution_duration_seconds_count') == 1.0
    assert value(samples, 'rulequeue_retries_total') == 1.0
    assert value(samples, 'rulequeue_dead_lettered_total') == 0.0
    # Every call the simulator saw, by method and status class, and nothing else; the 429 apart.
    seen = Counter((call.method, status_class(call.status)) for call in system.sim.calls)
    assert seen[('POST', '429')] == 1
    exported = {
        (dict(labels)['method'], dict(labels)['status_class']): v
        for (name, labels), v in samples.items()
        if name == 'rulequeue_jira_requests_total'
    }
    assert exported == {key: float(count) for key, count in seen.items()}
    for method, count in Counter(call.method for call in system.sim.calls).items():
        assert value(samples, 'rulequeue_jira_request_duration_seconds_count', method=method) == count
    # Low cardinality: no issue, delivery or tenant ids anywhere in the labels.
    assert {key for _, labels in samples for key, _ in labels} == {'status', 'method', 'status_class', 'le'}


async def _wait_until(check: Callable[[], Awaitable[bool]], what: str, limit_seconds: float = 15) -> None:
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f'not within {limit_seconds} s: {what}')


def _start_worker(system: System, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [RULEQUEUE, 'worker', '--concurrency', '2'],
        env=system.env(WORKER_METRICS_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _try_scrape(http: httpx.AsyncClient, port: int) -> Samples | None:
    try:
        return await scrape(http, f'http://127.0.0.1:{port}/metrics')
    except httpx.TransportError:
        return None


@pytest.mark.timeout(60)
async def test_only_one_of_two_workers_exports_the_queue_gauges(system: System, redis: aioredis.Redis) -> None:
    # Two executions deferred an hour: neither worker runs them, so the queue stays as built.
    arq = await queue.connect(system.settings)
    try:
        for name in ('later-1', 'later-2'):
            job = ExecutionJob(execution_id=name, client_key='t', delivery_id=name, snapshot_key='x', received_at=0)
            assert await queue.enqueue_execution(arq, job)
            await arq.zadd(constants.QUEUE_NAME, {name: (time.time() + 3600) * 1000}, xx=True)
    finally:
        await arq.aclose()

    ports = free_port(), free_port()
    first = _start_worker(system, ports[0])
    second: subprocess.Popen[str] | None = None
    try:

        async def first_exports() -> bool:
            samples = await _try_scrape(system.http, ports[0])
            return samples is not None and names(samples) >= QUEUE_GAUGES

        await _wait_until(first_exports, 'the first worker exports the queue gauges')
        samples = await scrape(system.http, f'http://127.0.0.1:{ports[0]}/metrics')
        assert {name: value(samples, name) for name in QUEUE_GAUGES} == {
            'rulequeue_queue_ready_jobs': 0.0,
            'rulequeue_queue_deferred_jobs': 2.0,
            'rulequeue_queue_running_jobs': 0.0,
            'rulequeue_queue_oldest_ready_age_seconds': 0.0,
            'rulequeue_dead_letters': 0.0,
            'rulequeue_worker_processes': 1.0,  # its own record is written before it computes them
        }
        holder = constants.WORKER_KEY.format(host=_host(), pid=first.pid)
        assert await redis.get(constants.QUEUE_GAUGES_LEASE_KEY) == holder.encode()

        second = _start_worker(system, ports[1])

        async def second_serves() -> bool:
            return await redis.exists(constants.WORKER_KEY.format(host=_host(), pid=second.pid)) == 1 and (
                await _try_scrape(system.http, ports[1]) is not None
            )

        await _wait_until(second_serves, 'the second worker is up and serves /metrics')
        for _ in range(5):  # its gauge loop runs right after start-up; give it every chance to misbehave
            other = await scrape(system.http, f'http://127.0.0.1:{ports[1]}/metrics')
            assert not names(other) & QUEUE_GAUGES
            assert value(other, 'rulequeue_executions_total', status='SUCCESS') == 0.0
            await asyncio.sleep(0.2)
        assert await redis.get(constants.QUEUE_GAUGES_LEASE_KEY) == holder.encode()
    finally:
        for process in (first, second):
            if process is not None:
                process.send_signal(signal.SIGTERM)
        for process in (first, second):
            if process is not None:
                _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
                assert process.returncode == 0, stderr
    # The holder gave the lease back on its clean stop.
    assert await redis.get(constants.QUEUE_GAUGES_LEASE_KEY) is None


def _host() -> str:
    return socket.gethostname()
