"""Servers from Debian's packages, started by a test on loopback: PostgreSQL and Redis.

``make test-scale`` installs them when missing (``postgresql``, ``redis-server``). Each runs
from a fresh temporary folder on a free port and is stopped (and its folder removed) when
the test is done.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(ready: object, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except Exception:  # not up yet: any client error means "retry"
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not come up within {timeout_s} s")


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[::-1]), None
    )
    if found is None:
        raise FileNotFoundError(f"{name}: install Debian's postgresql (make test-scale does)")
    return found


@dataclass(frozen=True)
class Postgres:
    """A running server: connect as ``dagster`` (trust) to database ``dagster``."""

    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the server now (SIGTERM: smart shutdown would wait for clients)."""
        self.process.terminate()
        self.process.wait(timeout=30)


@contextmanager
def postgres() -> Iterator[Postgres]:
    """Run PostgreSQL on a free loopback port with a ``dagster`` database."""
    import psycopg2

    # PostgreSQL refuses to run as root: as root, the server runs as Debian's postgres user.
    user = "postgres" if os.geteuid() == 0 else None
    data = Path(tempfile.mkdtemp(prefix="flowlake-pg-"))
    if user:
        shutil.chown(data, user, user)
    port = free_port()
    try:
        subprocess.run(
            [_postgres_bin("initdb"), "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8"],
            user=user, check=True, capture_output=True,
        )  # fmt: skip
        process = subprocess.Popen(
            [_postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
            user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def create() -> bool:
            connection = psycopg2.connect(
                host="127.0.0.1", port=port, user="dagster", dbname="postgres"
            )
            connection.autocommit = True  # CREATE DATABASE runs outside a transaction
            try:
                connection.cursor().execute("CREATE DATABASE dagster")
            finally:
                connection.close()
            return True

        _wait(create, f"postgres on 127.0.0.1:{port}")
        server = Postgres(port, process)
        try:
            yield server
        finally:
            if server.process.poll() is None:
                server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


@dataclass
class Redis:
    """A running server (no persistence), restartable on its port."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return its URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        import redis

        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(lambda: redis.Redis(port=self.port).ping(), f"redis on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        """Stop the server (its queued messages are gone: nothing persists)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextmanager
def redis_server() -> Iterator[Redis]:
    """Run Redis on a free loopback port."""
    server = Redis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
