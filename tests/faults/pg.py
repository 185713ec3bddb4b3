"""A private PostgreSQL cluster for the database-outage test: made with ``initdb`` in a temporary
directory, on its own loopback port, stopped and started by the test.

Why not stop the machine's shared cluster (``pg_ctlcluster 15 main stop``): other suites on the
same machine (the PostgreSQL pass of ``make test``, a colleague's run, the load benchmark) would
fail while it is down. A private cluster is the same PostgreSQL binaries and the same fault
(the server process loses its database) without touching anything else.

PostgreSQL refuses to run as root: as root the commands run as the ``postgres`` user
(``runuser``), otherwise as the current user. Skips with the reason when the binaries or that
user are missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.serve import free_port

ROLE = "vertrouwd"


def _bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            pytest.skip("PostgreSQL server binaries (initdb) not installed: .ci/system-deps.sh")
        return Path(found).parent
    return candidates[-1].parent


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.as_user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a 'postgres' user to run PostgreSQL as")
            self.as_user = "postgres"
        self.root = Path(tempfile.mkdtemp(prefix="vt-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if self.as_user is not None:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_user is not None:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr[-2000:]}\n{self.log_tail()}")
        return result

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", ROLE, "--auth=trust", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip

    def start(self) -> float:
        """Start and wait until it accepts connections; the seconds it took."""
        started = time.monotonic()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30",
            "start",
        )  # fmt: skip
        self.wait_ready()
        return time.monotonic() - started

    def stop(self) -> float:
        """Fast shutdown (open sessions are cut, as in a crash of the database host)."""
        started = time.monotonic()
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        return time.monotonic() - started

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def admin_url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.data.exists() and self.running:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()
