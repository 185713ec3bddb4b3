"""A small real HTTP server (stdlib, loopback) standing in for the server's event endpoint:
it can be stopped and started again on the same port, answer 503/401/422, or take a batch and
drop the connection without answering (a lost answer). Independent of the server package."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "device-token-abc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    """Bounded polling of a real condition (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class EventServer:
    """``POST /api/v1/device/events`` with dedup by event id, like the real server.

    ``mode``: ``"ok"`` (202), ``"503"`` (with ``Retry-After``), ``"401"``, ``"422"``,
    ``"drop_answer"`` (store the batch, then close the connection without an answer; once,
    then back to ``"ok"``).
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mode = "ok"
        self.retry_after = "1"
        self.events: list[dict[str, Any]] = []
        """Every distinct event, in the order first received."""
        self.batches: list[list[str]] = []
        """Ids of every batch that reached the handler, answered or not."""
        self.duplicates = 0
        self.cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def ids(self) -> list[str]:
        with self.cond:
            return [str(e["id"]) for e in self.events]

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._reply(401, {"detail": "credential unknown or revoked"})
                    return
                mode = outer.mode
                if mode in ("401", "422"):
                    self._reply(int(mode), {"detail": mode})
                    return
                if mode == "503":
                    self._reply(503, {"detail": "database unavailable"}, outer.retry_after)
                    return
                batch = [dict(e) for e in body["events"]]
                accepted = duplicates = 0
                with outer.cond:
                    outer.batches.append([str(e["id"]) for e in batch])
                    seen = {e["id"] for e in outer.events}
                    for event in batch:
                        if event["id"] in seen:
                            duplicates += 1
                        else:
                            outer.events.append(event)
                            seen.add(event["id"])
                            accepted += 1
                    outer.duplicates += duplicates
                    outer.cond.notify_all()
                if mode == "drop_answer":
                    outer.mode = "ok"
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply(202, {"accepted": accepted, "duplicates": duplicates, "refused": 0})

            def _reply(self, status: int, data: dict[str, Any], retry: str | None = None) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if retry is not None:
                    self.send_header("Retry-After", retry)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: from now on connections are refused."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
