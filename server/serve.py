"""Serving the app from inside another program (the demo, browser tests): uvicorn in a thread."""

from __future__ import annotations

import contextlib
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


@dataclass
class ServerThread:
    """uvicorn on 127.0.0.1:``port`` in a daemon thread; ``start()`` returns once it listens."""

    app: FastAPI
    port: int = 0
    server: uvicorn.Server = field(init=False)
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.port = self.port or free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", ws="websockets-sansio"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
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
    cwd: Path | None = None,
    timeout: float = 90,
    stdout: int | None = subprocess.DEVNULL,
) -> tuple[subprocess.Popen[bytes], str]:
    """``vertrouwd server`` as a child process on a free loopback port; returns once /healthz
    answers (bounded by ``timeout``), with its base URL. Raises with its stderr if it dies."""
    port = free_port()
    cmd = [sys.executable, "-m", "server.cli", "server", "--data-dir", str(data_dir),
           "--port", str(port), "--workers", str(workers)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((proc.stderr.read() if proc.stderr else b"").decode()[-3000:])
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        time.sleep(0.1)  # readiness probe of a child process, bounded by the deadline
    proc.kill()
    raise RuntimeError("the server did not become ready")
