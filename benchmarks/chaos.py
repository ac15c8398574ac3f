"""Fault injection: the whole system under load while its parts are killed, stopped and slowed.

    python -m benchmarks.chaos            # the long run (~2,400 deliveries, ~25 faults)
    python -m benchmarks.chaos --short    # what tests/e2e/test_chaos.py runs

It starts private Redis (AOF on) and PostgreSQL servers, the Jira simulator, the producer (in
this process) and worker processes, installs the app with a signed install and adds two
rules. Then people work on issues in the simulator: each issue is created and its summary
changed a few times; Jira sends signed webhooks, re-delivers those the app refuses (503 while
Postgres or Redis is away), and re-sends some accepted ones again as Jira sometimes does.
Meanwhile worker processes are SIGKILLed and SIGTERMed, Redis is restarted, Postgres stopped
for 20 s, and Jira answers 429, 5xx or slowly for stretches. At the end the run checks that
every accepted delivery's actions happened exactly once and in order, every (delivery, rule)
has one audit row with a final status, and nothing is left behind (benchmarks/chaos_check.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import httpx
import redis.asyncio as aioredis

from benchmarks import common
from benchmarks.chaos_check import CREATED_COMMENT, SEEN_COMMENT, Verdict, check
from benchmarks.chaos_faults import FAULT_KINDS, Injector, WorkerPool, inject, progress, schedule
from producer.app import create_app
from rulequeue import constants
from rulequeue.embedded import postgres_server, redis_server
from rulequeue.serve import free_port, serve_in_background
from rulequeue.settings import Settings, load_settings
from rulequeue.simulator import JiraSimulator
from rulequeue.simulator.redelivery import Delivery
from rulequeue.store.db import create_pool, migrate

# Jira re-delivers over ~30 minutes; compressed here, but longer than the Postgres outage.
WEBHOOK_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 16.0)
SCHEMA = 'rulequeue_chaos'
RULES = {
    'created': {
        'name': 'Chaos: triage new issues',
        'trigger': {'type': 'issue_created'},
        'actions': [
            {'type': 'comment', 'body': CREATED_COMMENT.format(key='{{issue.key}}')},
            {'type': 'edit', 'fields': {'labels': {'add': ['triaged']}}},
            {'type': 'transition', 'to': 'Triage'},
        ],
    },
    'seen': {
        'name': 'Chaos: note summary changes',
        'trigger': {'type': 'field_value_changed', 'fields': ['summary']},
        'actions': [{'type': 'comment', 'body': SEEN_COMMENT.format(summary='{{issue.summary}}')}],
    },
}


@dataclass(frozen=True)
class ChaosConfig:
    issues: int = 400
    updates: int = 5  # summary changes per issue after its creation
    workers: int = 3
    concurrency: int = 8
    stories: int = 16  # issues people work on at once
    rate: float = 15.0  # changes per second across all issues
    duplicate_share: float = 0.1  # accepted deliveries Jira sends once more
    faults: Mapping[str, int] = field(
        default_factory=lambda: {
            'sigkill_worker': 6,
            'sigterm_worker': 4,
            'restart_redis': 2,
            'stop_postgres': 1,
            'jira_429': 3,
            'jira_5xx': 3,
            'jira_slow': 3,
        }
    )
    postgres_outage_seconds: float = 20.0
    job_timeout_seconds: int = 15  # a SIGKILLed worker's job is resumed this + 10 s later
    drain_timeout_seconds: float = 600.0
    seed: int = 1

    @property
    def changes(self) -> int:
        return self.issues * (1 + self.updates)


SHORT = ChaosConfig(
    issues=40,
    updates=4,
    workers=2,
    stories=8,
    rate=5.0,
    faults=dict.fromkeys(FAULT_KINDS, 1),
    job_timeout_seconds=10,
    drain_timeout_seconds=200.0,
)


def tuning(config: ChaosConfig) -> dict[str, Any]:
    """Settings that differ from production defaults, for the producer and the workers alike."""
    return {
        'retry_base_seconds': 0.2,
        'retry_cap_seconds': 2.0,
        'max_attempts': 100,  # a 20 s outage at a 2 s cap is ~10 attempts; nothing should give up
        'order_hold_seconds': 300.0,
        'job_timeout_seconds': config.job_timeout_seconds,
        'job_completion_wait_seconds': 5,
        'rate_limit_tenant_per_second': 0,
        # The run sends ~2,000 summary changes in 4 minutes: far past Automation for Jira's per-rule
        # hourly budget (THROTTLED is the right answer there, and tests/e2e/test_limits.py checks it).
        'rule_executions_per_hour': 0,  # 0: no limit
        'rate_limit_failures_per_ip_per_minute': 0,
        'log_format': 'json',
        'log_level': 'warning',
    }


class Pacer:
    """Spaces changes ``1 / rate`` seconds apart across every story."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + self._interval
        await asyncio.sleep(at - now)


@dataclass
class Load:
    sim: JiraSimulator
    config: ChaosConfig
    rng: random.Random
    duplicates: int = 0
    _resends: set[asyncio.Task[None]] = field(default_factory=set)

    async def play(self) -> None:
        pacer = Pacer(self.config.rate)
        todo = list(range(self.config.issues))

        async def people() -> None:
            while todo:
                todo.pop()
                await self._story(pacer)

        await asyncio.gather(*(people() for _ in range(self.config.stories)))
        await asyncio.gather(*self._resends)

    async def _story(self, pacer: Pacer) -> None:
        await pacer.wait()
        issue, _ = await self.sim.create_issue(project='CHAOS', issuetype='Task', summary='step 0')
        self._maybe_resend()
        for step in range(1, self.config.updates + 1):
            await pacer.wait()
            await self.sim.update_issue(issue['key'], {'summary': f'step {step}'})
            self._maybe_resend()

    def _maybe_resend(self) -> None:
        if self.rng.random() >= self.config.duplicate_share:
            return
        accepted = [d for d in self.sim.deliveries if d.accepted]
        if accepted:
            self.duplicates += 1
            task = asyncio.create_task(self._resend(self.rng.choice(accepted), self.rng.uniform(0.5, 5.0)))
            self._resends.add(task)

    async def _resend(self, delivery: Delivery, after: float) -> None:
        await asyncio.sleep(after)
        await self.sim.redeliver(delivery)


async def _add_rules(sim: JiraSimulator, url: str) -> dict[str, str]:
    ids = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for name, rule in RULES.items():
            request = http.build_request('POST', url + '/api/rules', json=rule)
            request.headers['Authorization'] = 'JWT ' + sim.sign_request('POST', str(request.url))
            response = await http.send(request)
            response.raise_for_status()
            ids[name] = response.json()['id']
    return ids


async def _finished(settings: Settings, accepted: int) -> bool:
    """Every accepted delivery recorded and no longer 'accepted', and the queue empty."""
    with contextlib.suppress(OSError, asyncpg.PostgresError, aioredis.RedisError):
        conn = await asyncpg.connect(settings.database_url, server_settings={'search_path': SCHEMA})
        try:
            row = await conn.fetchrow(
                "SELECT count(*) AS total, count(*) FILTER (WHERE state = 'accepted') AS open FROM deliveries"
            )
        finally:
            await conn.close()
        redis = aioredis.Redis.from_url(settings.redis_url)
        try:
            queued = await redis.zcard(constants.QUEUE_NAME)
        finally:
            await redis.aclose()
        return row is not None and row['total'] >= accepted and row['open'] == 0 and queued == 0
    return False


async def _drain(settings: Settings, sim: JiraSimulator, limit_seconds: float) -> float:
    """Wait (at most ``limit_seconds``) until every accepted delivery has finished; how long it took."""
    started = time.monotonic()
    accepted = len({d.delivery_id for d in sim.deliveries if d.accepted})
    while time.monotonic() - started < limit_seconds:  # polling our stores, as an operator would
        if await _finished(settings, accepted):
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


@dataclass
class Outcome:
    verdict: Verdict
    faults: dict[str, int]
    fault_log: list[tuple[float, str]]
    worker_exits: dict[str, int]
    orphaned: int
    load_seconds: float
    drain_seconds: float

    def figures(self) -> dict[str, Any]:
        v = self.verdict
        return {
            'deliveries_sent': v.deliveries_sent,
            'deliveries_accepted': v.deliveries_accepted,
            'deliveries_refused': v.deliveries_refused,
            'duplicate_sends': v.duplicate_sends,
            'faults_injected': sum(self.faults.values()),
            'faults': self.faults,
            'executions_orphaned_by_sigkill': self.orphaned,
            'workers_exited_on_their_own': self.worker_exits,
            'expected_actions': v.expected_actions,
            'lost': v.lost,
            'duplicated': v.duplicated,
            'out_of_order': v.out_of_order,
            'audit_rows': v.audit_rows,
            'audit_statuses': v.audit_statuses,
            'executions_by_attempts': v.audit_attempts,
            'dead_letters': len(v.dead_letters),
            'snapshots_left': v.snapshots_left,
            'load_seconds': round(self.load_seconds, 1),
            'drain_seconds': round(self.drain_seconds, 1),
            'ok': v.ok,
        }


async def run(config: ChaosConfig, workdir: Path) -> Outcome:
    rng = random.Random(config.seed)
    progress(f'starting Redis (AOF) and PostgreSQL; {config.changes} changes, {sum(config.faults.values())} faults')
    async with redis_server(appendonly=True) as redis_srv, postgres_server() as pg_srv:
        sim = JiraSimulator()
        sim.webhook_retry_delays = WEBHOOK_RETRY_DELAYS
        async with sim.running():
            port = free_port()
            settings = load_settings(
                database_url=pg_srv.url,
                redis_url=redis_srv.url,
                database_schema=SCHEMA,
                app_base_url=f'http://127.0.0.1:{port}',
                secret_key=secrets.token_urlsafe(32),
                connect_install_keys_url=sim.install_keys_url,
                **tuning(config),
            )
            pool = await create_pool(settings.database_url, schema=SCHEMA)
            await migrate(pool, schema=SCHEMA)
            await pool.close()
            async with serve_in_background(create_app(settings), port=port) as url:
                await sim.install(url + '/atlassian-connect.json')
                rules = await _add_rules(sim, url)
                env = common.system_env(_environment(settings, config))
                workers = WorkerPool(sys.executable, config.workers, config.concurrency, env, workdir / 'workers.log')
                await workers.start()
                progress(f'producer {url}, {config.workers} worker processes; load and faults begin')
                try:
                    injector = Injector(workers, redis_srv, pg_srv, sim, rng, config.postgres_outage_seconds)
                    kinds = schedule(config.faults, rng)
                    spacing = config.changes / config.rate / (len(kinds) + 1)
                    load = Load(sim, config, rng)
                    started = time.monotonic()
                    await asyncio.gather(load.play(), inject(injector, kinds, spacing))
                    load_seconds = time.monotonic() - started
                    progress(f'load done in {load_seconds:.0f} s; draining')
                    drain_seconds = await _drain(settings, sim, config.drain_timeout_seconds)
                finally:
                    await workers.close()
            progress('checking')
            verdict = await check(sim, settings.database_url, SCHEMA, settings.redis_url, rules, load.duplicates)
    return Outcome(
        verdict,
        dict(injector.counts),
        injector.log,
        dict(workers.exits),
        injector.orphaned,
        load_seconds,
        drain_seconds,
    )


def _environment(settings: Settings, config: ChaosConfig) -> dict[str, str]:
    """The environment a worker process reads its settings from (the same values as ours)."""
    env = {
        'DATABASE_URL': settings.database_url,
        'DATABASE_SCHEMA': SCHEMA,
        'REDIS_URL': settings.redis_url,
        'APP_BASE_URL': settings.app_base_url,
        'SECRET_KEY': settings.secret_key.get_secret_value(),
        'CONNECT_INSTALL_KEYS_URL': settings.connect_install_keys_url,
    }
    return env | {name.upper(): str(value) for name, value in tuning(config).items()}


def report(outcome: Outcome, out: TextIO) -> None:
    figures = outcome.figures()
    rows = [(name, value) for name, value in figures.items() if not isinstance(value, dict)]
    rows += [(f'fault: {kind}', count) for kind, count in figures['faults'].items()]
    rows += [(f'audit status: {status}', count) for status, count in figures['audit_statuses'].items()]
    rows += [(f'executions with {n} attempt(s)', count) for n, count in figures['executions_by_attempts'].items()]
    rows += [(f'worker {why}', count) for why, count in figures['workers_exited_on_their_own'].items()]
    common.print_table('chaos run', ('figure', 'value'), rows)
    for letter in outcome.verdict.dead_letters:
        print(f'  dead letter {letter["delivery_id"]} ({letter["issue_key"]}): {letter["error"]}', file=out)
    for problem in outcome.verdict.problems[:30]:
        print(f'  PROBLEM: {problem}', file=out)
    print('Result: ' + ('OK' if outcome.verdict.ok else 'FAILED'), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--short', action='store_true', help='the few-hundred-event version the tests run')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--issues', type=int, help='override the number of issues')
    args = parser.parse_args(argv)
    config = SHORT if args.short else ChaosConfig()
    config = dataclasses.replace(config, seed=args.seed)
    if args.issues:
        config = dataclasses.replace(config, issues=args.issues)
    common.quiet_logs()
    workdir = Path(tempfile.mkdtemp(prefix='rulequeue-chaos-'))
    outcome = asyncio.run(run(config, workdir))
    print(f'worker logs: {workdir / "workers.log"}')
    report(outcome, sys.stdout)
    if not args.short:
        path = common.write_results('chaos', {'config': dataclasses.asdict(config), 'figures': outcome.figures()})
        print(f'results: {path}')
    return 0 if outcome.verdict.ok else 1


if __name__ == '__main__':
    sys.exit(main())
