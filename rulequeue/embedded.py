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
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from rulequeue.errors import ConfigurationError
from rulequeue.serve import free_port

STARTUP_TIMEOUT_SECONDS = 30.0
INITDB_OPTIONS = ('--no-sync', '-E', 'UTF8')


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


class RedisServer:
    """A private redis-server in ``directory`` on a fixed loopback port; it can be restarted.

    With ``appendonly`` its AOF is in ``directory``, so a restart keeps what was written.
    """

    def __init__(self, directory: str, *, appendonly: bool = False, fsync: str = 'everysec') -> None:
        self.directory = directory
        self.appendonly = appendonly
        self.fsync = fsync  # appendfsync: 'always' loses nothing acknowledged even to SIGKILL
        self.port = free_port()
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f'redis://127.0.0.1:{self.port}/0'

    async def start(self) -> None:
        args = [_require('redis-server'), '--port', str(self.port), '--bind', '127.0.0.1', '--dir', self.directory]
        args += ['--save', '', '--appendonly', 'yes' if self.appendonly else 'no', '--maxmemory-policy', 'noeviction']
        args += ['--appendfsync', self.fsync]
        process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._process = process
        cli = shutil.which('redis-cli')

        def ready() -> bool:
            if process.returncode is not None:
                raise RuntimeError('redis-server exited at start')
            if cli is None:
                return _port_open(self.port)
            probe = subprocess.run([cli, '-p', str(self.port), 'ping'], capture_output=True, check=False)
            return probe.stdout.strip() == b'PONG'

        await _wait_until(ready, 'redis-server')

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: Redis writes its AOF out and exits; SIGKILL: whatever was not synced is lost."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone (a test shut it down)
            process.send_signal(sig)
        await process.wait()


@contextlib.asynccontextmanager
async def redis_server(*, appendonly: bool = False, fsync: str = 'everysec') -> AsyncIterator[RedisServer]:
    """A running private :class:`RedisServer` in a temporary directory, removed at the end."""
    with tempfile.TemporaryDirectory(prefix='rulequeue-redis-') as directory:
        server = RedisServer(directory, appendonly=appendonly, fsync=fsync)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


@contextlib.asynccontextmanager
async def embedded_redis(*, appendonly: bool = False) -> AsyncIterator[str]:
    """A private redis-server; yields its URL."""
    async with redis_server(appendonly=appendonly) as server:
        yield server.url


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


class PostgresServer:
    """A private PostgreSQL cluster (trust auth) in ``directory``; it can be stopped and started.

    ``directory`` must already belong to the user Postgres runs as (see :func:`_as_postgres_user`).
    """

    def __init__(self, directory: str, run_as: list[str]) -> None:
        self.directory = directory
        self.data = os.path.join(directory, 'data')
        self.port = free_port()
        self._run_as = run_as
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f'postgresql://postgres@127.0.0.1:{self.port}/postgres'

    async def initialise(self) -> None:
        await asyncio.to_thread(
            subprocess.run,
            [*self._run_as, _require('initdb'), '-D', self.data, '-A', 'trust', '-U', 'postgres', *INITDB_OPTIONS],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        args = [*self._run_as, _require('postgres'), '-D', self.data, '-p', str(self.port), '-k', self.directory]
        args += ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off']
        args += ['-c', 'full_page_writes=off']
        process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._process = process
        pg_isready = find_binary('pg_isready')

        def ready() -> bool:
            if process.returncode is not None:
                raise RuntimeError('postgres exited at start')
            if pg_isready is None:
                return _port_open(self.port)
            probe = subprocess.run([pg_isready, '-h', '127.0.0.1', '-p', str(self.port)], capture_output=True)
            return probe.returncode == 0

        await _wait_until(ready, 'postgres')

    async def stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        """SIGINT is Postgres's "fast" shutdown: it ends open sessions, as an outage would."""
        process, self._process = self._process, None
        if process is None:
            return
        # Signal the postmaster itself: runuser, its parent when we are root, forwards only SIGTERM.
        postmaster = self._postmaster_pid()
        with contextlib.suppress(ProcessLookupError):
            if postmaster is not None:
                os.kill(postmaster, sig)
            else:
                process.send_signal(sig)
        await process.wait()

    def _postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(Path(self.data, 'postmaster.pid').read_text().splitlines()[0])
        return None


@contextlib.asynccontextmanager
async def postgres_server() -> AsyncIterator[PostgresServer]:
    """A running private :class:`PostgresServer` in a temporary directory, removed at the end."""
    with tempfile.TemporaryDirectory(prefix='rulequeue-pg-') as directory, _as_postgres_user(directory) as prefix:
        server = PostgresServer(directory, prefix)
        await server.initialise()
        await server.start()
        try:
            yield server
        finally:
            await server.stop(signal.SIGTERM)  # "smart" shutdown, fine once our clients are gone


@contextlib.asynccontextmanager
async def embedded_postgres() -> AsyncIterator[str]:
    """A private PostgreSQL cluster with trust auth; yields its DSN."""
    async with postgres_server() as server:
        yield server.url
