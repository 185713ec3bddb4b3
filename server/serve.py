"""Serving the app from inside another program (the demo, browser tests): uvicorn in a thread."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port and kept open, for ``ServerThread(sock=...)``:
    unlike ``free_port()``, nobody else (a parallel test process, an outgoing connection given
    the same ephemeral port) can take the port between choosing it and listening on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class ServerThread:
    """uvicorn on 127.0.0.1:``port`` in a daemon thread; ``start()`` returns once it listens.
    Without a port it listens on ``sock`` (a ``bound_socket()`` made here when not given)."""

    app: FastAPI
    port: int = 0
    sock: socket.socket | None = None
    server: uvicorn.Server = field(init=False)
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.sock = self.sock or bound_socket()
            self.port = int(self.sock.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
        )
        self.server = uvicorn.Server(config)
        sockets = [self.sock] if self.sock is not None else None
        self.thread = threading.Thread(
            target=self.server.run, args=(sockets,), name="uvicorn", daemon=True
        )
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server failed to start")
            self.thread.join(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_server_process(
    env: dict[str, str],
    data_dir: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    database_url: str | None = None,
    cwd: Path | None = None,
    timeout: float = 90,
    log_path: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``vertrouwd server`` as a child process on loopback (``port``, or a free one); returns
    once /healthz answers (bounded by ``timeout``), with its base URL. Its output is appended
    to ``log_path`` (``data_dir/server.log`` by default; a pipe nobody reads would stall a
    long-running server), and the tail of it is in the error when it dies at start-up."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "server.cli", "server", "--data-dir", str(data_dir),
           "--port", str(port), "--workers", str(workers)]  # fmt: skip
    if database_url:
        cmd += ["--database-url", database_url]
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = log_path or data_dir / "server.log"
    with log_path.open("ab") as log:
        # Its own process group: with several workers, a failed start ends them all below.
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    # One client for every probe: ``httpx.get`` builds a client, and with it a TLS context from
    # the CA bundle (~50 ms of CPU), on each call; at 20 probes a second that took a core from
    # the server it waited for.
    with httpx.Client(base_url=base, timeout=1) as probe:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the server exited at start-up:\n{tail}")
            with contextlib.suppress(httpx.TransportError):
                if probe.get("/healthz").status_code == 200:
                    return proc, base
            time.sleep(0.05)  # readiness probe of a child process, bounded by the deadline
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the supervisor and its workers
    proc.wait(5)
    raise RuntimeError("the server did not become ready")
