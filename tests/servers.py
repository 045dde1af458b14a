"""Real PostgreSQL and `chroma run` servers on 127.0.0.1 for the scale-out tests.

`.ci/run` starts both and exports TEST_POSTGRES_URL / TEST_CHROMA_URL; without them the fixtures in
tests/conftest.py start their own here (Debian's `postgresql` package, chromadb's `chroma` CLI).
Where a server cannot be started the tests that need it are skipped, except under CI (the `CI`
environment variable set), where that is a failure: CI must never pass by skipping them.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable(what: str) -> None:
    """Skip (a developer machine without the server) or fail (CI)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must run these tests, not skip them)")
    pytest.skip(what)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class Postgres:
    """A throwaway cluster: trust auth on 127.0.0.1, its socket inside its data folder.

    Its folder is a fresh one under the system temp dir: the `postgres` user must be able to reach
    it, which pytest's tmp_path (inside a root-only folder) does not allow."""

    def __init__(self) -> None:
        self.base: Path | None = None
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def start(self) -> str:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.base = Path(tempfile.mkdtemp(prefix="ragbot-pg-"))
        self.data = self.base / "pgdata"
        if self._as_postgres:
            shutil.chown(self.base, "postgres")
            os.chmod(self.base, 0o700)
        done = self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
                         "--no-sync", "-E", "UTF8")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.data} -c fsync=off -c max_connections=200")
        done = self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l",
                         str(self.data / "server.log"), "-w", "-t", "60", "start")
        if done.returncode:
            log = (self.data / "server.log")
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()[-300:]} "
                               f"{log.read_text()[-500:] if log.exists() else ''}")
        return self.url

    def stop(self) -> None:
        pg_ctl = _pg_bin("pg_ctl")
        if self.base is None:
            return
        if pg_ctl and (self.data / "postmaster.pid").exists():
            self._run(pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """A fresh database on the server; returns its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Chroma:
    """`chroma run` on a free port, data under `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 90) -> str:
        if CHROMA is None:
            raise RuntimeError("the `chroma` CLI (chromadb's server) is not installed")
        self.path.mkdir(parents=True, exist_ok=True)
        self._log = (self.path.parent / f"chroma-{self.port}.log").open("wb")
        self.proc = subprocess.Popen([CHROMA, "run", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--path", str(self.path)],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as reply:
                    if reply.status == 200:
                        return self.url
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("chroma server did not come up")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
