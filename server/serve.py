"""Serving the app from inside another program (the demo, browser tests): uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

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
