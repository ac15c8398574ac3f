"""Run N worker processes, restart the ones that die, stop them all gracefully.

``rulequeue worker --processes N`` runs this instead of one in-process arq worker. The worker is
CPU-bound on one core, so processes are how a host's cores are used. Each child is an ordinary
``rulequeue worker`` (``python -m rulequeue.cli worker``) reading the same environment, with its
own ``WORKER_METRICS_PORT`` (base + index) so every child can serve its own /metrics.

* A child that dies is restarted after an exponential back-off (:class:`RestartPolicy`).
* SIGTERM or SIGINT is passed on to every child as SIGTERM: each stops taking jobs and lets
  the running ones finish within ``JOB_COMPLETION_WAIT_SECONDS``; the supervisor waits for them
  (SIGKILL after that grace plus a margin) and exits 0.
* A child crashing more than ``max_crashes`` times within ``window_seconds`` is a crash loop:
  the other children are stopped the same graceful way and :class:`WorkerCrashLoop` is raised
  (exit status 1), so the orchestrator sees the fault instead of a supervisor hiding it.

Knows nothing of arq beyond the child's command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from rulequeue import constants
from rulequeue.errors import WorkerCrashLoop
from rulequeue.settings import Settings

log = structlog.get_logger('rulequeue.supervisor')
METRICS_PORT_VARIABLE = 'WORKER_METRICS_PORT'


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a child that died, and when to give up."""

    base_seconds: float = constants.SUPERVISOR_RESTART_BASE_SECONDS
    cap_seconds: float = constants.SUPERVISOR_RESTART_CAP_SECONDS
    stable_seconds: float = constants.SUPERVISOR_STABLE_SECONDS
    max_crashes: int = constants.SUPERVISOR_MAX_CRASHES
    window_seconds: float = constants.SUPERVISOR_CRASH_WINDOW_SECONDS

    def delay(self, crashes_in_a_row: int) -> float:
        """Seconds to wait before the restart that follows the n-th crash in a row (n >= 1)."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** max(crashes_in_a_row - 1, 0)))


def worker_command(concurrency: int, *, burst: bool = False) -> list[str]:
    """The command line of one child: a single-process worker with the given concurrency."""
    command = [sys.executable, '-m', 'rulequeue.cli', 'worker', '--concurrency', str(concurrency)]
    return [*command, '--burst'] if burst else command


def child_environment(environ: Mapping[str, str], index: int, metrics_port_base: int) -> dict[str, str]:
    """The environment of child ``index``: the supervisor's own, with a metrics port of its own.

    Port 0 (metrics off) stays 0 for every child; otherwise child i gets base + i.
    """
    port = metrics_port_base + index if metrics_port_base else 0
    return {**environ, METRICS_PORT_VARIABLE: str(port)}


@dataclass
class _Slot:
    """One of the N places a child runs in; its process changes on each restart."""

    index: int
    process: asyncio.subprocess.Process | None = None
    crashes_in_a_row: int = 0
    crash_times: deque[float] = field(default_factory=deque)


class Supervisor:
    """Keeps ``processes`` children of ``command`` running until stopped or crash-looping.

    ``environ`` is the environment handed to every child (with its own metrics port);
    ``stop_grace_seconds`` is how long children get after SIGTERM before they are killed. With
    ``restart_clean_exits=False`` (burst workers) a child that exits 0 is done, not restarted.
    """

    def __init__(
        self,
        command: Sequence[str],
        processes: int,
        *,
        environ: Mapping[str, str],
        stop_grace_seconds: float,
        metrics_port_base: int = 0,
        policy: RestartPolicy | None = None,
        restart_clean_exits: bool = True,
    ) -> None:
        if processes < 1:
            raise ValueError('processes must be at least 1')
        self.command = list(command)
        self.environ = dict(environ)
        self.stop_grace_seconds = stop_grace_seconds
        self.metrics_port_base = metrics_port_base
        self.policy = policy or RestartPolicy()
        self.restart_clean_exits = restart_clean_exits
        self._slots = [_Slot(index) for index in range(processes)]
        self._stopping = asyncio.Event()
        self._crash_loop: str | None = None
        self._killer: asyncio.Task[None] | None = None

    def pids(self) -> list[int]:
        """The pids of the children running now."""
        return [s.process.pid for s in self._slots if s.process is not None and s.process.returncode is None]

    async def run(self) -> None:
        """Run until a signal (or :meth:`stop`) and every child has exited; raise on a crash loop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig)
        log.info('supervisor started', processes=len(self._slots), pid=os.getpid())
        try:
            await asyncio.gather(*(self._keep_running(slot) for slot in self._slots))
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if self._killer is not None:
                self._killer.cancel()
        if self._crash_loop is not None:
            raise WorkerCrashLoop(self._crash_loop)
        log.info('supervisor stopped')

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop restarting, pass SIGTERM on to every child, and kill what is left after the grace."""
        if self._stopping.is_set():
            return
        log.info('supervisor stopping', signal=sig.name, children=self.pids())
        self._stopping.set()
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self._killer = asyncio.get_running_loop().create_task(self._kill_after_grace())

    async def _kill_after_grace(self) -> None:
        await asyncio.sleep(self.stop_grace_seconds)
        for pid in self.pids():
            log.warning('worker process killed after the grace period', pid=pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def _keep_running(self, slot: _Slot) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            process = await self._start(slot)
            returncode = await process.wait()
            ran_seconds = time.monotonic() - started
            log.info('worker process exited', index=slot.index, pid=process.pid, returncode=returncode)
            if self._stopping.is_set() or (returncode == 0 and not self.restart_clean_exits):
                return
            if not self._note_crash(slot, ran_seconds):
                return
            delay = self.policy.delay(slot.crashes_in_a_row)
            log.warning(
                'worker process restarting', index=slot.index, delay_seconds=delay, crashes=slot.crashes_in_a_row
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _start(self, slot: _Slot) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self.command,
            env=child_environment(self.environ, slot.index, self.metrics_port_base),
            stdin=asyncio.subprocess.DEVNULL,
        )
        slot.process = process
        log.info('worker process started', index=slot.index, pid=process.pid)
        if self._stopping.is_set():  # a signal came while it was being spawned
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        return process

    def _note_crash(self, slot: _Slot, ran_seconds: float) -> bool:
        """Record a crash; False (and stop everything) when it makes a crash loop."""
        now = time.monotonic()
        slot.crashes_in_a_row = 1 if ran_seconds >= self.policy.stable_seconds else slot.crashes_in_a_row + 1
        slot.crash_times.append(now)
        while slot.crash_times and slot.crash_times[0] < now - self.policy.window_seconds:
            slot.crash_times.popleft()
        if len(slot.crash_times) <= self.policy.max_crashes:
            return True
        self._crash_loop = (
            f'worker process {slot.index} crashed {len(slot.crash_times)} times within '
            f'{self.policy.window_seconds:g} s; stopping all workers'
        )
        log.error('worker processes keep crashing', index=slot.index, crashes=len(slot.crash_times))
        self.stop()
        return False


def supervise(settings: Settings, *, processes: int, burst: bool = False) -> None:
    """``rulequeue worker --processes N``: run the supervisor until it is stopped.

    Child i serves its metrics on ``WORKER_METRICS_PORT`` + i (all off when it is 0).
    """
    supervisor = Supervisor(
        worker_command(settings.worker_concurrency, burst=burst),
        processes,
        environ=os.environ,
        stop_grace_seconds=settings.job_completion_wait_seconds + constants.SUPERVISOR_STOP_MARGIN_SECONDS,
        metrics_port_base=settings.worker_metrics_port,
        restart_clean_exits=not burst,
    )
    asyncio.run(supervisor.run())
