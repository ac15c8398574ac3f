"""The faults the chaos run injects: worker processes killed and stopped, Redis restarted,
Postgres stopped, and the Jira simulator answering 429, 5xx or slowly for a while.

Every fault is a real one: signals to real processes, real servers going away and coming back
on the same port with the same data. Nothing inside rulequeue is told about them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from rulequeue.embedded import PostgresServer, RedisServer
from rulequeue.simulator import JiraSimulator

RULEQUEUE_ARGS = ('-m', 'rulequeue.cli', 'worker')
JIRA_STRETCH_CALLS = 15  # how many REST calls in a row a 429/5xx stretch answers
SLOW_STRETCH_SECONDS = 5.0
SLOW_ANSWER_SECONDS = 0.5
IN_FLIGHT_ANSWER_SECONDS = 1.0
ORPHAN_CHECK_SECONDS = 5.0
REDIS_DOWN_SECONDS = 2.0
WORKER_EXIT_WAIT_SECONDS = 60.0


def progress(message: str) -> None:
    """One timestamped line on stderr, for a run that takes minutes."""
    print(f'[{time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


FAULT_KINDS = (
    'sigkill_worker',
    'sigterm_worker',
    'restart_redis',
    'stop_postgres',
    'jira_429',
    'jira_5xx',
    'jira_slow',
)


@dataclass
class WorkerPool:
    """N ``rulequeue worker`` processes, kept at N: one that exits on its own is started again."""

    python: str
    size: int
    concurrency: int
    env: Mapping[str, str]
    log: Path
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    exits: Counter[str] = field(default_factory=Counter)  # 'on its own' exits by return code
    _closing: bool = False
    _watchers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        for _ in range(self.size):
            await self._spawn()

    async def _spawn(self) -> asyncio.subprocess.Process:
        with self.log.open('ab') as out:
            args = [self.python, *RULEQUEUE_ARGS, '--concurrency', str(self.concurrency)]
            process = await asyncio.create_subprocess_exec(*args, env=dict(self.env), stdout=out, stderr=out)
        self.processes.append(process)
        task = asyncio.create_task(self._watch(process))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return process

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if process not in self.processes:
            return  # we stopped it on purpose
        self.processes.remove(process)
        self.exits[f'exit {code}'] += 1
        if not self._closing:
            await asyncio.sleep(0.5)  # as a supervisor would, not in a tight loop
            await self._spawn()

    async def signal_one(self, sig: signal.Signals, rng: random.Random) -> None:
        """Send ``sig`` to a random worker, wait for it to exit, start a replacement."""
        if not self.processes:
            return
        process = rng.choice(self.processes)
        self.processes.remove(process)
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), WORKER_EXIT_WAIT_SECONDS)
        await self._spawn()

    async def close(self) -> None:
        self._closing = True
        running, self.processes = self.processes, []
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), WORKER_EXIT_WAIT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in list(self._watchers):
            task.cancel()


@dataclass
class Injector:
    """Applies one fault of a kind, and remembers what it did."""

    workers: WorkerPool
    redis: RedisServer
    postgres: PostgresServer
    sim: JiraSimulator
    rng: random.Random
    postgres_outage_seconds: float
    log: list[tuple[float, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    orphaned: int = 0  # executions a SIGKILL left mid-way, for another worker to take over
    _checks: set[asyncio.Task[None]] = field(default_factory=set)

    async def _in_progress(self) -> set[bytes]:
        client = aioredis.Redis.from_url(self.redis.url)
        try:
            return {key async for key in client.scan_iter(match='arq:in-progress:*')}
        finally:
            await client.aclose()

    async def _count_orphans(self, running: set[bytes]) -> None:
        """Executions still "in progress" well after Jira is fast again were the killed worker's."""
        await asyncio.sleep(ORPHAN_CHECK_SECONDS)
        with contextlib.suppress(aioredis.RedisError, OSError):
            self.orphaned += len(running & await self._in_progress())

    async def settle(self) -> None:
        """Wait for the checks that follow faults."""
        await asyncio.gather(*self._checks)

    async def apply(self, kind: str) -> None:
        self.log.append((time.monotonic() - self.started, kind))
        progress(f'fault: {kind}')
        self.counts[kind] += 1
        if kind in ('sigkill_worker', 'sigterm_worker'):
            # Slow Jira first, so the worker is caught with executions in the middle of a call.
            self.sim.delay_seconds = IN_FLIGHT_ANSWER_SECONDS
            await asyncio.sleep(IN_FLIGHT_ANSWER_SECONDS * 1.5)
            running = await self._in_progress()
            await self.workers.signal_one(signal.SIGKILL if kind == 'sigkill_worker' else signal.SIGTERM, self.rng)
            self.sim.delay_seconds = 0.0
            if kind == 'sigkill_worker':
                task = asyncio.create_task(self._count_orphans(running))
                self._checks.add(task)
                task.add_done_callback(self._checks.discard)
        elif kind == 'restart_redis':
            await self.redis.stop(signal.SIGTERM)  # AOF on: what was acknowledged is on disk
            await asyncio.sleep(REDIS_DOWN_SECONDS)
            await self.redis.start()
        elif kind == 'stop_postgres':
            await self.postgres.stop()
            await asyncio.sleep(self.postgres_outage_seconds)
            await self.postgres.start()
        elif kind == 'jira_429':
            self.sim.fail_next(429, times=JIRA_STRETCH_CALLS, retry_after=1)
        elif kind == 'jira_5xx':
            self.sim.fail_next(self.rng.choice((500, 502, 503)), times=JIRA_STRETCH_CALLS)
        elif kind == 'jira_slow':
            self.sim.delay_seconds = SLOW_ANSWER_SECONDS
            await asyncio.sleep(SLOW_STRETCH_SECONDS)
            self.sim.delay_seconds = 0.0
        else:
            raise ValueError(f'unknown fault {kind!r}')


def schedule(counts: Mapping[str, int], rng: random.Random) -> list[str]:
    """Every fault the run must inject, in a random order."""
    kinds = [kind for kind in FAULT_KINDS for _ in range(counts.get(kind, 0))]
    rng.shuffle(kinds)
    return kinds


async def inject(injector: Injector, kinds: list[str], spacing_seconds: float) -> None:
    """Apply ``kinds`` one after another, ``spacing_seconds`` apart (plus each fault's own length)."""
    for kind in kinds:
        await asyncio.sleep(spacing_seconds * injector.rng.uniform(0.5, 1.5))
        await injector.apply(kind)
    await injector.settle()
