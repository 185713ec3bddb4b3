"""Pieces the fault tests share: the server as a child process (killable, restartable on the
same port), a store with members seeded straight into the database, the edge's real link to the
server (sender + offline queue + gallery client, as ``vertrouwd edge`` builds it), a tablet that
reconnects and catches up as the tablet page does, a TCP proxy that can cut the edge off, and a
record of the measured numbers (``test-artifacts/faults/<test>.json``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import func, select

from edge.cli import ServerLink, connect_server
from edge.events import ArrivalEvent
from edge.gallery import Clock, GalleryState, utc_now
from edge.provision import DeviceIdentity, load_identity, load_or_create_keys, register
from edge.settings import EdgeSettings
from server.db.membership import Customer
from server.db.session import transaction
from server.runtime import build_runtime
from server.serve import free_port, start_server_process
from server.services.recognition import devices
from server.services.staff import accounts as staff
from server.settings import ServerSettings
from tests.waiting import HANG_S

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "faults"
PASSWORD = "correct horse battery"


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str | Callable[[], str]
) -> float:
    """Bounded polling of a real condition; the seconds it took. ``what`` may be a function
    (called on timeout, to describe the state then)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            text = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout} s waiting for {text}")
        time.sleep(0.02)
    return time.monotonic() - start


def record(name: str, numbers: dict[str, Any]) -> None:
    """Keep the measured numbers of a fault test (the README's reliability section)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n")
    print(f"\n{name}: " + " ".join(f"{k}={v}" for k, v in sorted(numbers.items())))


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
    env["VERTROUWD_ENVIRONMENT"] = "test"
    env["VERTROUWD_MAX_FALSE_MATCHES_PER_1000"] = (
        os.environ[  # door mode knowingly: tests/conftest.py
            "VERTROUWD_MAX_FALSE_MATCHES_PER_1000"
        ]
    )
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """``vertrouwd server`` as a child process; ``kill()`` is SIGKILL, ``start()`` reuses the
    port and the data."""

    settings: ServerSettings
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    """More ``VERTROUWD_*`` settings for the server process."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = HANG_S) -> float:
        """Start and wait until /healthz answers; the seconds it took."""
        started = time.monotonic()
        self.log_path = self.settings.data_dir / "server.log"
        self.proc, _ = start_server_process(
            server_env(**self.env),
            self.settings.data_dir,
            port=self.port,
            database_url=self.settings.database_url,
            cwd=REPO,
            timeout=timeout,
            log_path=self.log_path,
        )
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL, as a power cut or the OOM killer: nothing unwinds."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-3000:]


@dataclass(frozen=True)
class SeededStore:
    code: str
    enrolment_code: str
    subjects: list[str]
    """Pseudonymous subject ids of members with an active consent (no templates: the edge
    here is a scripted event source, not the camera)."""


def seed_store(settings: ServerSettings, *, members: int, code: str = "faults") -> SeededStore:
    """A live store with staff ``sales``/``cashier`` and ``members`` consenting members."""
    from consent.records import PURPOSE, consent_expiry, current_consent_text
    from server.db.membership import ConsentRecord
    from server.services.ids import new_id, new_subject_id

    rt = build_runtime(settings)
    try:
        with transaction(rt.sessions) as session:
            now = rt.now()
            store = devices.create_store(session, code=code, name="Fault store", now=now)
            devices.go_live(
                session, store=store, dpia_reference="DPIA-FAULTS", signage_confirmed=True,
                actor="test", now=now,
            )  # fmt: skip
            for role in ("sales", "cashier"):
                staff.create_staff(
                    session, username=role, password=PASSWORD, role=role, store_id=store.id
                )
            enrolment_code = devices.create_enrolment_code(session, store=store, now=now)
            text = current_consent_text("en")
            subjects = []
            for n in range(members):
                customer = Customer(
                    id=new_id(), subject_id=new_subject_id(), name=f"Member {n}",
                    preferred_name=f"M{n}", language="en", created_at=now,
                    last_interaction_at=now,
                )  # fmt: skip
                session.add(customer)
                session.flush()
                session.add(
                    ConsentRecord(
                        id=new_id(), customer_id=customer.id, purpose=PURPOSE, scope=[code],
                        text_version=text.version, text_language="en", text_sha256=text.sha256,
                        channel="cli", given_at=now, expires_at=consent_expiry(now),
                        status="active",
                    )
                )  # fmt: skip
                subjects.append(customer.subject_id)
        return SeededStore(code, enrolment_code, subjects)
    finally:
        rt.close()


def count_rows(settings: ServerSettings, model: Any) -> int:
    rt = build_runtime(settings, migrate=False)
    try:
        with rt.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        rt.close()


def visit_ids(settings: ServerSettings) -> set[int]:
    from server.db.clienteling import Visit

    rt = build_runtime(settings, migrate=False)
    try:
        with rt.sessions() as session:
            return {int(v) for v in session.scalars(select(Visit.id))}
    finally:
        rt.close()


def login(base: str, username: str) -> str:
    r = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=10
    )
    r.raise_for_status()
    return str(r.cookies["vt_session"])


# --- the edge -------------------------------------------------------------------------------


class Edge:
    """The edge device's real link to the server (``edge.cli.connect_server``: sender, offline
    queue, gallery poll + push, wired as ``vertrouwd edge`` wires them), fed by a scripted
    event source instead of the camera."""

    def __init__(
        self,
        *,
        server_url: str,
        data_dir: Path,
        enrolment_code: str | None = None,
        now: Clock = utc_now,
        **settings: Any,
    ) -> None:
        """Registers with ``enrolment_code``; without one, the device restarts with the
        identity already in ``data_dir``."""
        self.settings = EdgeSettings(
            source="0", server_url=server_url, data_dir=data_dir, **settings
        )
        if enrolment_code is not None:
            with httpx.Client(timeout=10) as client:
                identity = register(
                    server_url=server_url,
                    enrolment_code=enrolment_code,
                    name="door",
                    data_dir=data_dir,
                    client=client,
                )
        else:
            loaded = load_identity(data_dir)
            assert loaded is not None, "no identity to restart with"
            identity = loaded
        self.identity: DeviceIdentity = identity
        self.state = GalleryState(ttl_s=float(identity.gallery_ttl_s or 900), now=now)
        self.link: ServerLink = connect_server(
            self.settings,
            identity=identity,
            keys=load_or_create_keys(data_dir),
            state=self.state,
            clients=lambda: httpx.Client(timeout=5.0),
            now=now,
        )
        self.sender = self.link.sender
        self.gallery = self.link.gallery
        self.put_at: dict[str, float] = {}

    def start(self) -> None:
        self.gallery.poll_once()
        self.link.start()

    def arrival(self, subject_id: str) -> ArrivalEvent:
        event = ArrivalEvent(
            subject_id=subject_id, at=datetime.now(UTC), score=0.38, margin=0.2, frames=3
        )
        self.put_at[event.id] = time.monotonic()
        self.sender.put(event)
        return event

    def close(self) -> None:
        self.link.close()


# --- a tablet ---------------------------------------------------------------------------------


class Tablet:
    """A salesperson's tablet as the page behaves: WebSocket ``/ws/tablet``; on every (re)connect
    it fetches ``/api/v1/visits/live`` (catch-up); on a dropped socket it reconnects after 0.5 s,
    doubling to 10 s. ``pushed`` are the visit ids of pushed cards, in order."""

    def __init__(self, base: str, cookie: str) -> None:
        self.base = base
        self.cookie = cookie
        self.pushed: list[int] = []
        self.caught_up: set[int] = set()
        self.connects: list[float] = []
        self.disconnects: list[float] = []
        self.card_seen_at: dict[int, float] = {}
        self.errors: list[str] = []
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.away = threading.Event()
        """While set, the tablet does not reconnect (its Wi-Fi is gone, say)."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(10)

    def visits(self) -> set[int]:
        with self.cond:
            return set(self.pushed) | self.caught_up

    def describe(self) -> str:
        with self.cond:
            return (
                f"tablet: {len(self.visits())} cards ({len(self.pushed)} pushed, "
                f"{len(self.caught_up)} caught up), {len(self.connects)} connects, "
                f"{len(self.disconnects)} disconnects, errors={self.errors}"
            )

    def _seen(self, visit_id: int) -> None:
        self.card_seen_at.setdefault(visit_id, time.monotonic())

    async def _run(self) -> None:
        url = self.base.replace("http://", "ws://") + "/ws/tablet"
        backoff = 0.5
        while not self.stop.is_set():
            try:
                async with websockets.connect(
                    url,
                    additional_headers={"Cookie": f"vt_session={self.cookie}"},
                    open_timeout=5,
                    close_timeout=1,
                ) as ws:
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert hello["type"] == "hello"
                    backoff = 0.5
                    await self._catch_up()
                    with self.cond:
                        self.connects.append(time.monotonic())
                        self.cond.notify_all()
                    while not self.stop.is_set() and not self.away.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.2)
                        except TimeoutError:
                            continue
                        message = json.loads(raw)
                        if message.get("type") == "arrival":
                            with self.cond:
                                self.pushed.append(int(message["visit_id"]))
                                self._seen(int(message["visit_id"]))
                                self.cond.notify_all()
            except (
                OSError,
                TimeoutError,
                httpx.HTTPError,
                websockets.exceptions.WebSocketException,
            ):
                pass  # the server is away: reconnect below, as the page does
            except Exception as exc:  # anything else is a bug in the test: keep it visible
                with self.cond:
                    self.errors.append(repr(exc))
            with self.cond:
                self.disconnects.append(time.monotonic())
                self.cond.notify_all()
            # reconnect after the page's backoff (the behaviour under test, not a sync sleep)
            deadline = time.monotonic() + backoff
            while not self.stop.is_set() and (time.monotonic() < deadline or self.away.is_set()):
                await asyncio.sleep(0.05)
            backoff = min(backoff * 2, 10.0)

    async def _catch_up(self) -> None:
        async with httpx.AsyncClient(timeout=5, cookies={"vt_session": self.cookie}) as http:
            r = await http.get(f"{self.base}/api/v1/visits/live")
        if r.status_code != 200:
            return  # the page ignores a failed catch-up too; the next reconnect retries
        with self.cond:
            for teaser in r.json():
                self.caught_up.add(int(teaser["visit_id"]))
                self._seen(int(teaser["visit_id"]))
            self.cond.notify_all()


# --- cutting the edge off ---------------------------------------------------------------------


class TcpProxy:
    """A loopback TCP forwarder: the edge talks to the server through it; ``cut()`` refuses new
    connections and drops open ones (the store's uplink fails), ``restore()`` listens again on
    the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def closing_all(*things: Any) -> Iterator[None]:
    """Close/stop every thing given (in reverse), even when the test fails."""
    try:
        yield
    finally:
        for thing in reversed(things):
            for name in ("close", "stop"):
                method = getattr(thing, name, None)
                if method is not None:
                    with contextlib.suppress(Exception):
                        method()
                    break
