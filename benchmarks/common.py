"""What every benchmark shares: machine info, results, tables, percentiles, processes, isolation.

Isolation: each run works in a private Postgres schema (dropped at the end) and a Redis database
of its own, claimed with the same lock the test suite uses (``rulequeue-test-db:<n>`` in db 0),
flushed before and after. Every server and client is on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
import redis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / 'benchmarks' / 'results'
PYTHON = sys.executable
RULEQUEUE = str(Path(sys.executable).with_name('rulequeue'))
DATABASE_URL = os.environ.get('BENCH_DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/test')
REDIS_HOST = '127.0.0.1'
REDIS_PORT = int(os.environ.get('BENCH_REDIS_PORT', '6379'))
# Same lock protocol and range as tests/conftest.py, starting at 12 as the issue suggests.
REDIS_DATABASES = (12, 13, 14, 15, 9, 10, 11)
SECRET_KEY = 'benchmark-secret-key-' + secrets.token_hex(16)


# -- machine and results ----------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown'


def _mem_total_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path('/proc/meminfo').read_text().splitlines():
            if line.startswith('MemTotal:'):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ('uvicorn', 'starlette', 'arq', 'redis', 'hiredis', 'asyncpg', 'httpx', 'uvloop', 'httptools'):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = 'not installed'
    return found


def code_snapshot() -> dict[str, Any]:
    """Which code was measured (no git here): a digest of the packages' sources and their newest mtime."""
    import hashlib

    digest = hashlib.sha256()
    newest = 0.0
    for package in ('producer', 'worker', 'rulequeue', 'schemas'):
        for path in sorted((ROOT / package).rglob('*')):
            if path.suffix in {'.py', '.sql'} and path.is_file():
                digest.update(str(path.relative_to(ROOT)).encode() + b'\0' + path.read_bytes())
                newest = max(newest, path.stat().st_mtime)
    return {
        'sources_sha256': digest.hexdigest()[:16],
        'newest_source_mtime': datetime.datetime.fromtimestamp(newest, datetime.UTC).isoformat(timespec='seconds'),
        'extra_pythonpath': os.environ.get('BENCH_EXTRA_PYTHONPATH') or None,
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        'cores': os.cpu_count(),
        'cpu_model': _cpu_model(),
        'memory_gib': _mem_total_gib(),
        'python': platform.python_version(),
        'platform': platform.platform(),
        'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
        'packages': _versions(),
        # Other work on the machine skews every figure: the 1/5/15-minute load when results were written.
        'loadavg': Path('/proc/loadavg').read_text().split()[:3] if Path('/proc/loadavg').exists() else None,
    }
    with contextlib.suppress(Exception):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        server = cast(dict[str, Any], client.info('server'))
        info['redis_server'] = server.get('redis_version')
        client.close()
    return info


def write_results(name: str, payload: Mapping[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    label = os.environ.get('BENCH_LABEL')
    path = RESULTS / (f'{name}-{label}.json' if label else f'{name}.json')
    document = {'benchmark': name, 'machine': machine_info(), 'code': code_snapshot(), **payload}
    path.write_text(json.dumps(document, indent=2, default=str) + '\n')
    return path


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print()
    print(title)
    print('  '.join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print('  '.join('-' * w for w in widths))
    for row in cells:
        print('  '.join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    print()


def _cell(value: Any) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        if math.isnan(value):
            return '-'
        return f'{value:,.0f}' if abs(value) >= 100 else f'{value:.2f}'
    if isinstance(value, int):
        return f'{value:,}'
    return str(value)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        'p50_ms': round(percentile(ms, 50), 2),
        'p95_ms': round(percentile(ms, 95), 2),
        'p99_ms': round(percentile(ms, 99), 2),
        'max_ms': round(max(ms), 2) if ms else math.nan,
    }


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 3) if baseline else math.nan


def verdict(met: bool) -> str:
    return 'met' if met else 'MISSED'


# -- isolation --------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_database() -> Iterator[str]:
    """A Redis database of our own (the tests' lock protocol), flushed before and after."""
    if 'BENCH_REDIS_URL' in os.environ:
        url = os.environ['BENCH_REDIS_URL']
        client = redis.Redis.from_url(url)
        client.flushdb()
        try:
            yield url
        finally:
            client.flushdb()
            client.close()
        return
    lock_client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    for number in REDIS_DATABASES:
        lock = f'rulequeue-test-db:{number}'
        if lock_client.set(lock, f'benchmark:{os.getpid()}', nx=True, ex=3600):
            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
            client.flushdb()
            try:
                yield f'redis://{REDIS_HOST}:{REDIS_PORT}/{number}'
            finally:
                client.flushdb()
                client.close()
                lock_client.delete(lock)
                lock_client.close()
            return
    raise RuntimeError(f'every Redis database {REDIS_DATABASES} is claimed by a test or benchmark run')


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def new_schema_name() -> str:
    return 'bench_' + secrets.token_hex(6)


# -- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A child process we started; stopped by its own pid only."""

    name: str
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_mib(self) -> float | None:
        return rss_mib(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


def start(name: str, args: Sequence[str], env: Mapping[str, str], *, log: Path | None = None) -> Process:
    out = open(log, 'ab') if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    popen = subprocess.Popen(list(args), env=dict(env), cwd=ROOT, stdout=out, stderr=out)  # noqa: S603
    return Process(name, popen)


def rss_mib(pid: int) -> float | None:
    """VmRSS of a process in MiB, from /proc (psutil is not a dependency)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def wait_for_port(port: int, process: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f'{process.name} exited with {process.popen.returncode} during start-up')
        with socket.socket() as sock:
            if sock.connect_ex(('127.0.0.1', port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f'{process.name} did not listen on {port} within {timeout:.0f} s')


def uvicorn_args(app: str, port: int) -> list[str]:
    """uvicorn as ``rulequeue producer`` runs it: one process, default loop and HTTP, no access log."""
    return [PYTHON, '-m', 'uvicorn', app, '--host', '127.0.0.1', '--port', str(port)]


def system_env(settings_env: Mapping[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(('DATABASE_', 'REDIS_', 'SECRET_', 'APP_'))}
    env.update(settings_env)
    env.update(extra)
    # BENCH_EXTRA_PYTHONPATH goes first: a scratch copy of the packages, or extra libraries
    # (uvloop, httptools), measured with the same commands without touching the project.
    paths = (os.environ.get('BENCH_EXTRA_PYTHONPATH', ''), str(ROOT), os.environ.get('PYTHONPATH', ''))
    env['PYTHONPATH'] = os.pathsep.join(p for p in paths if p)
    return env


def quiet_logs() -> None:
    """Only warnings from the benchmark process itself (the simulator, the in-process install)."""
    from rulequeue.logs import configure_logging

    configure_logging('warning', 'console')
