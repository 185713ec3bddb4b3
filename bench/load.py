"""Load benchmark: simulated edge devices post arrivals while tablets listen over WebSocket.

For each configuration (SQLite + one process; PostgreSQL + Redis + several processes) this
starts real server processes, creates N live stores with a device, members and a salesperson
each, connects M tablets spread over the stores, then sends arrival events open-loop at a target
rate for a fixed time. Each event names a member who is not in the store yet, so each one makes
a visit and a card. It measures, per event, the time from sending the POST to the card arriving
on the first tablet of that store, and prints one line per configuration:

    load: config=<name> events_per_s=<x> p95_ms=<y> errors=<n> tablets=<m>

The peer, measured in the same run, is the PostgreSQL configuration with one transaction a
request (``VERTROUWD_ARRIVAL_BATCH_MAX=1``: what a plain implementation does); a last line gives
the ratios ``load_ratio: config=… peer=… p95_ratio=… events_per_s_ratio=…``.

With ``--capacity`` (what ``make bench-load`` runs) the sqlite and postgres configurations first
step the offered rate (``--steps``, ``--step-duration`` seconds each, fresh members every step)
until p95 on every tablet passes 250 ms, errors appear or fewer than 95 % of the offered events
are sustained, and print the knee with the server's CPU per event (utime + stime of its process
tree from /proc over the step, divided by the events); after each step the server is given
time to work off what is left (bounded), then the fixed-rate run follows on the same server:

    capacity: config=<name> events_per_s=<x> p95_ms=<y> server_cpu_ms_per_event=<z>

On a machine with two or more cores the generator (this process: the events and the tablets)
is pinned to the first core and the server processes to the others (``--no-pin`` leaves them
free); a ``pinning:`` line says so. PostgreSQL and Redis are not pinned.

The simulated devices send their arrivals as the edge does: on their push socket
(``/ws/device``, one a store), one event a message (``--transport http``: one
``POST /api/v1/device/events`` an event instead, what the edge does while its socket is down).

Runs on loopback only, bounded in time; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import websockets
from sqlalchemy import select
from sqlalchemy import text as sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from consent.device import DeviceKeyPair  # noqa: E402
from consent.envelope import new_data_key, seal_blob  # noqa: E402
from consent.records import PURPOSE, consent_expiry, current_consent_text  # noqa: E402
from server.db.membership import ConsentRecord, Customer, CustomerKey, FaceThumbnail  # noqa: E402
from server.db.session import transaction  # noqa: E402
from server.db.staff import Staff  # noqa: E402
from server.runtime import build_runtime  # noqa: E402
from server.serve import start_server_process  # noqa: E402
from server.services.ids import new_id, new_subject_id  # noqa: E402
from server.services.membership.enrolment import THUMBNAIL_PURPOSE  # noqa: E402
from server.services.membership.faces import THUMBNAIL_SIDE  # noqa: E402
from server.services.recognition import devices  # noqa: E402
from server.services.staff import accounts as staff  # noqa: E402
from server.settings import ServerSettings  # noqa: E402

PASSWORD = "load-test-password"
TARGET_P95_MS = 250.0
PG_ADMIN = os.environ.get(
    "VERTROUWD_TEST_PG_URL", "postgresql://vertrouwd:vertrouwd-test@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("VERTROUWD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class RawHTTP:
    """A lean HTTP/1.1 keep-alive client for the event generator. httpx costs about 1 ms of
    CPU per request, which on a 2-core machine would take the CPU the server under test needs;
    this writes prebuilt request bytes and reads status + Content-Length bodies only."""

    def __init__(self, host: str, port: int, connections: int) -> None:
        self.host, self.port, self.size = host, port, connections
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        reader, writer = await self.pool.get()
        try:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            raw = await reader.readuntil(b"\r\n\r\n")
            status = int(raw.split(b" ", 2)[1])
            length = 0
            for line in raw.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            return status, await reader.readexactly(length)
        finally:
            self.pool.put_nowait((reader, writer))

    async def close(self) -> None:
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()


class DeviceSocket:
    """A simulated edge device's push socket (``/ws/device``), on which it sends its arrival
    batches as the edge does while the socket is open; answers are matched by id."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.waiting: dict[int, asyncio.Future[dict[str, object]]] = {}
        self.next_id = 0
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base: str, token: str) -> DeviceSocket:
        ws = await websockets.connect(
            base.replace("http://", "ws://") + "/ws/device",
            additional_headers={"Authorization": f"Bearer {token}"},
            max_queue=None,
        )
        await ws.recv()  # the gallery notice it greets with
        return cls(ws)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                message = json.loads(raw)
                if message.get("type") == "events_answer":
                    waiter = self.waiting.pop(message.get("id"), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(message)
        for waiter in self.waiting.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("device socket closed"))

    async def send(self, events: list[dict[str, object]]) -> tuple[int, dict[str, object]]:
        self.next_id += 1
        waiter = self.waiting[self.next_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"type": "events", "id": self.next_id, "events": events}))
        answer = await waiter
        return int(answer["status"]), answer

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


@dataclass
class StoreSetup:
    code: str
    enrol_code: str
    members: list[tuple[str, str]] = field(default_factory=list)  # (subject_id, preferred)
    token: str = ""


@dataclass
class Result:
    config: str
    sent: int
    ok: int
    errors: int
    latencies_ms: list[float]
    """Per event: POST sent -> the card on the store's first tablet."""
    all_ms: list[float]
    """Per event: POST sent -> the card on every tablet of the store (the last one)."""
    duration_s: float
    tablets: int

    def pct(self, p: float, values: list[float] | None = None) -> float:
        lat = sorted(self.latencies_ms if values is None else values) or [float("nan")]
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    @property
    def p95_ms(self) -> float:
        return self.pct(0.95)

    def line(self) -> str:
        return (
            f"load: config={self.config} events_per_s={self.ok / self.duration_s:.0f} "
            f"p50_ms={self.pct(0.5):.1f} p95_ms={self.p95_ms:.1f} p99_ms={self.pct(0.99):.1f} "
            f"p95_every_tablet_ms={self.pct(0.95, self.all_ms):.1f} "
            f"errors={self.errors} tablets={self.tablets}"
        )


@dataclass
class Step:
    """One offered rate of the capacity search, with the server's CPU time over it."""

    offered: float
    result: Result
    server_cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.result.ok / self.result.duration_s

    @property
    def passed(self) -> bool:
        # open loop: a server that cannot keep up shows as a lower sustained rate, then as
        # latency and timeouts; a step passes only when it kept up with every card in time
        return (
            self.result.errors == 0
            and self.result.pct(0.95, self.result.all_ms) <= TARGET_P95_MS
            and self.events_per_s >= 0.95 * self.offered
        )

    @property
    def cpu_ms_per_event(self) -> float:
        return self.server_cpu_s * 1000 / max(self.result.ok, 1)

    def line(self) -> str:
        return (
            f"capacity_step: config={self.result.config} offered={self.offered:.0f} "
            f"events_per_s={self.events_per_s:.0f} "
            f"p95_every_tablet_ms={self.result.pct(0.95, self.result.all_ms):.1f} "
            f"errors={self.result.errors} server_cpu_ms_per_event={self.cpu_ms_per_event:.2f} "
            # how much of its core(s) the server got: well under 100 % at a failing step means
            # the machine was busy with something else (a shared machine), not the server full
            f"server_cpu_pct={100 * self.server_cpu_s / self.result.duration_s:.0f} "
            f"{'pass' if self.passed else 'FAIL'}"
        )


def capacity_line(config: str, steps: list[Step]) -> str:
    """The knee: the highest offered rate that still passed (0 when even the first failed)."""
    good = [s for s in steps if s.passed]
    if not good:
        return (
            f"capacity: config={config} events_per_s=0 (below {steps[0].offered:.0f}/s)"
            if (steps)
            else f"capacity: config={config} events_per_s=nan (no step ran)"
        )
    knee = good[-1]
    limit = "" if len(good) < len(steps) else " (the last step still passed: raise --steps)"
    return (
        f"capacity: config={config} events_per_s={knee.events_per_s:.0f} "
        f"p95_ms={knee.result.pct(0.95, knee.result.all_ms):.1f} "
        f"server_cpu_ms_per_event={knee.cpu_ms_per_event:.2f}{limit}"
    )


CLK_TCK = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's workers are children of its supervisor)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


@dataclass
class ServerCPU:
    """CPU seconds (utime + stime from /proc/<pid>/stat) of a server process tree."""

    pid: int

    def cpu_s(self) -> float:
        total = 0
        for p in descendants(self.pid):
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{p}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return total / CLK_TCK

    def rss_mb(self) -> float:
        total = 0
        for p in descendants(self.pid):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(generator cores, server cores): the first allowed core for this process, the rest for
    the server; None on a one-core machine (nothing to split)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return {cores[0]}, set(cores[1:])


@contextlib.contextmanager
def started_on(cores: set[int] | None) -> Iterator[None]:
    """Processes started inside start on ``cores`` (a child inherits its parent's affinity at
    fork): a server starting on the generator's core would compete with it, and with any other
    bench's generator there, until it is pinned once ready."""
    if cores is None:
        yield
        return
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def pin_tree(pid: int, cores: set[int]) -> None:
    """Pin every thread of a process tree (affinity is per thread: ``taskset -a``)."""
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cores)


def event(subject: str) -> dict[str, object]:
    return {
        "id": uuid.uuid4().hex,
        "kind": "arrival",
        "subject_id": subject,
        "at": datetime.now(UTC).isoformat(),
        "score": 0.4,
        "margin": 0.3,
        "frames": 3,
    }


@contextlib.contextmanager
def postgres_db() -> Iterator[str]:
    import psycopg

    name = "vt_load_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def thumbnail_jpeg(faces: Path) -> bytes:
    """A real enrolment-sized thumbnail (a face photo at 96x96, JPEG q80, as enrolment makes
    it), so each card carries what a real one carries."""
    photo = cv2.imread(str(faces / "people" / "lin_manuel_miranda" / "img1.png"))
    if photo is None:
        raise SystemExit(f"load: no face photo under {faces} (pass --faces)")
    side = min(photo.shape[:2])
    small = cv2.resize(photo[:side, :side], (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(buf)


def prepare(
    settings: ServerSettings, stores: int, members_per_store: int, thumbnail: bytes
) -> list[StoreSetup]:
    rt = build_runtime(settings)
    text = current_consent_text("en")
    out: list[StoreSetup] = []
    try:
        with transaction(rt.sessions) as session:
            now = rt.now()
            for i in range(stores):
                store = devices.create_store(session, code=f"s{i}", name=f"Store {i}", now=now)
                devices.go_live(
                    session, store=store, dpia_reference="DPIA-LOAD", signage_confirmed=True,
                    actor="bench", now=now,
                )  # fmt: skip
                if i == 0:
                    staff.create_staff(
                        session, username=f"sales{i}", password=PASSWORD, role="sales",
                        store_id=store.id,
                    )  # fmt: skip
                    hashed = session.scalar(select(Staff.password_hash))
                else:  # the same password: one argon2 hash (about 1 s of CPU each) serves all
                    session.add(
                        Staff(
                            username=f"sales{i}", display_name=f"sales{i}", password_hash=hashed,
                            role="sales", store_id=store.id,
                        )
                    )  # fmt: skip
                setup = StoreSetup(
                    store.code, devices.create_enrolment_code(session, store=store, now=now)
                )
                # Three flushes a store, not two a member: the rows of one table go in one
                # multi-row INSERT (preparing the capacity search's members took minutes).
                made = [
                    Customer(
                        id=new_id(), subject_id=new_subject_id(), name=f"Member {i}-{j}",
                        preferred_name=f"M{i}x{j}", language="en", home_store_id=store.id,
                        created_at=now, last_interaction_at=now,
                    )
                    for j in range(members_per_store)
                ]  # fmt: skip
                session.add_all(made)
                session.flush()
                keys: list[tuple[Customer, bytes, str]] = []
                for c in made:
                    dek = new_data_key()
                    session.add(
                        CustomerKey(
                            customer_id=c.id,
                            wrapped_dek=rt.kek.wrap(dek, context=c.id.encode()),
                            kek_id=rt.kek.key_id,
                            created_at=now,
                        )
                    )
                    session.add(
                        ConsentRecord(
                            id=(consent_id := new_id()),
                            customer_id=c.id,
                            purpose=PURPOSE,
                            scope=[store.code],
                            text_version=text.version,
                            text_language="en",
                            text_sha256=text.sha256,
                            channel="cli",
                            given_at=now,
                            expires_at=consent_expiry(now),
                            status="active",
                        )
                    )
                    keys.append((c, dek, consent_id))
                session.flush()
                for c, dek, consent_id in keys:
                    session.add(
                        FaceThumbnail(
                            customer_id=c.id,
                            consent_id=consent_id,
                            ciphertext=seal_blob(
                                dek, thumbnail, subject_id=c.id, purpose=THUMBNAIL_PURPOSE
                            ),
                            created_at=now,
                        )
                    )
                    setup.members.append((c.subject_id, c.preferred_name))
                out.append(setup)
        if rt.engine.dialect.name == "postgresql":
            # A running database has statistics (autovacuum analyses a table once a tenth of it
            # changed, within a minute): give the freshly loaded one its own, as it would have.
            with rt.engine.connect() as conn:
                conn.execute(sql("ANALYZE"))
                conn.commit()
    finally:
        rt.close()
    return out


def start_server(
    env: dict[str, str], data_dir: Path, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    # 300 s, not 90: on a busy shared machine two workers took longer than 90 s to answer
    return start_server_process(env, data_dir, workers=workers, cwd=REPO, timeout=300)


async def run_load(
    config: str,
    base: str,
    setups: list[StoreSetup],
    tablets: int,
    rate: float,
    duration: float,
    steps: list[float] | None = None,
    step_duration: float = 3.0,
    server: ServerCPU | None = None,
    transport: str = "socket",
) -> tuple[Result, list[Step]]:
    """The load at ``rate`` for ``duration``. Before it, when ``steps`` are given, the same
    tablets and devices at each offered rate of ``steps`` for ``step_duration`` until one
    fails (p95 on every tablet over the target, errors, or the rate not sustained): the
    capacity search."""
    async with httpx.AsyncClient(
        base_url=base, timeout=10, limits=httpx.Limits(max_connections=64)
    ) as http:
        for s in setups:  # register one device per store
            keys = DeviceKeyPair.generate()
            r = await http.post(
                "/api/v1/devices/register",
                json={"enrolment_code": s.enrol_code, "name": "door",
                      "public_key": base64.b64encode(keys.public_bytes()).decode()},
            )  # fmt: skip
            r.raise_for_status()
            s.token = r.json()["token"]
        cookies = []
        for i in range(len(setups)):
            r = await http.post(
                "/api/v1/auth/login", json={"username": f"sales{i}", "password": PASSWORD}
            )
            r.raise_for_status()
            cookies.append(r.cookies["vt_session"])

        sent_at: dict[str, float] = {}
        received: dict[str, list[float]] = {}  # preferred name -> ms, one per tablet
        per_store = [sum(1 for i in range(tablets) if i % len(setups) == s)
                     for s in range(len(setups))]  # fmt: skip
        store_of = {m[1]: n for n, s in enumerate(setups) for m in s.members}
        connected = 0
        all_connected = asyncio.Event()
        stop = asyncio.Event()

        async def tablet(i: int) -> None:
            nonlocal connected
            store = i % len(setups)
            url = base.replace("http://", "ws://") + "/ws/tablet"
            async with websockets.connect(
                url, additional_headers={"Cookie": f"vt_session={cookies[store]}"}, max_queue=None
            ) as ws:
                await ws.recv()  # hello
                connected += 1
                if connected == tablets:
                    all_connected.set()
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    msg = json.loads(raw)
                    name = msg.get("preferred_name")
                    # a card without its photo does not count (it shows up as an error)
                    if msg.get("type") == "arrival" and name in sent_at and msg.get("thumbnail"):
                        ms = (time.perf_counter() - sent_at[name]) * 1000
                        received.setdefault(name, []).append(ms)

        tablet_tasks = [asyncio.create_task(tablet(i)) for i in range(tablets)]
        await asyncio.wait_for(all_connected.wait(), 60)

        queue = [(s, m) for idx in range(max(len(s.members) for s in setups))
                 for s in setups if idx < len(s.members) for m in [s.members[idx]]]  # fmt: skip
        port = int(base.rsplit(":", 1)[1])
        raw = RawHTTP("127.0.0.1", port, connections=64)
        await raw.open()
        sockets: dict[str, DeviceSocket] = {}
        if transport == "socket":  # one push socket a device, as the edge keeps
            for s in setups:
                sockets[s.token] = await DeviceSocket.open(base, s.token)

        async def send(
            s: StoreSetup, events: list[dict[str, object]]
        ) -> tuple[int, dict[str, object]]:
            if transport == "socket":
                return await sockets[s.token].send(events)
            body = json.dumps({"events": events}).encode()
            status, answer = await raw.post(
                "/api/v1/device/events", body, {"Authorization": f"Bearer {s.token}"}
            )
            try:
                return status, json.loads(answer)
            except ValueError:
                return status, {"detail": answer[:300].decode(errors="replace")}

        async def phase(name: str, rate: float, duration: float) -> Result:
            nonlocal queue
            errors = 0
            ok = 0
            total = min(len(queue), int(rate * duration))
            mine, queue = queue[:total], queue[total:]

            async def post(s: StoreSetup, member: tuple[str, str]) -> None:
                nonlocal errors, ok
                subject, name = member
                sent_at[name] = time.perf_counter()
                try:
                    status, answer = await asyncio.wait_for(send(s, [event(subject)]), 10)
                    if status == 202 and answer["accepted"] == 1:
                        ok += 1
                    else:
                        errors += 1
                        if errors <= 3:
                            print(f"error: {status} {str(answer)[:300]}", file=sys.stderr)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                    errors += 1
                    if errors <= 3:
                        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)

            start = time.perf_counter()
            posts = []
            for n in range(total):  # open loop: send at the target rate regardless of answers
                due = start + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                posts.append(asyncio.create_task(post(*mine[n])))
            await asyncio.gather(*posts)
            duration_s = time.perf_counter() - start
            deadline = time.perf_counter() + 10  # cards still in flight
            names = [m[1] for _, m in mine]

            def complete() -> int:
                return sum(1 for n in names if len(received.get(n, ())) >= per_store[store_of[n]])

            while complete() < ok and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            missing = ok - complete()
            got_all = [received[n] for n in names if n in received]
            latencies = [min(got) for got in got_all]
            every = [
                max(received[n])
                for n in names
                if len(received.get(n, ())) >= per_store[store_of[n]]
            ]
            return Result(
                name, total, ok, errors + missing, latencies, every, duration_s, connected
            )

        async def settle() -> None:
            # a step past the knee leaves the server a backlog of requests; wait until it has
            # worked it off (under 0.1 s of CPU in 0.5 s), bounded, so the next phase starts clean
            if server is None:
                return
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                before = server.cpu_s()
                await asyncio.sleep(0.5)
                if server.cpu_s() - before < 0.1:
                    break

        found: list[Step] = []
        for offered in steps or []:
            if len(queue) < int(offered * step_duration):
                print(f"capacity: out of prepared members at {offered:.0f}/s", file=sys.stderr)
                break
            cpu0 = server.cpu_s() if server else float("nan")
            step = await phase(f"{config}@{offered:.0f}", offered, step_duration)
            cpu = (server.cpu_s() - cpu0) if server else float("nan")
            found.append(Step(offered, step, cpu))
            print(found[-1].line(), flush=True)
            await settle()
            if not found[-1].passed:
                break
        result = await phase(config, rate, duration)
        await raw.close()
        for sock in sockets.values():
            await sock.close()
        stop.set()
        await asyncio.gather(*tablet_tasks, return_exceptions=True)
        return result, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500, help="target arrival events per second")
    parser.add_argument("--duration", type=float, default=10, help="seconds of load")
    parser.add_argument("--stores", type=int, default=100, help="a chain: 2 tablets a store")
    parser.add_argument("--tablets", type=int, default=200)
    parser.add_argument(
        "--workers", type=int, default=2, help="processes for the PostgreSQL config"
    )
    parser.add_argument(
        "--configs",
        default="sqlite,postgres,postgres+http,postgres-batch1,store-200,store-1",
        help="postgres-batch1 is the peer: the same servers with one transaction a request "
        "(VERTROUWD_ARRIVAL_BATCH_MAX=1), as a plain implementation would do it; '+http': "
        "the devices POST each event (the edge's path while its socket is down; compared, not "
        "held to the targets); store-200 is one store with 200 tablets (SQLite), its peer "
        "store-1 the same store with one tablet",
    )
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument(
        "--store-rate", type=float, default=20, help="arrivals per second for store-200/store-1"
    )
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="after the fixed-rate run of the sqlite and postgres configs, step the offered "
        "rate (--steps, --step-duration s each) until p95 on every tablet passes 250 ms or "
        "errors appear, and print the knee as a 'capacity:' line",
    )
    # 100 and 200 first: on a loaded machine the knee can lie below 300
    parser.add_argument(
        "--steps", default="100,200,300,400,500,600,700,800,900,1000,1100,1300,1500,1700,2000"
    )
    parser.add_argument("--step-duration", type=float, default=3.0)
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the generator and the server to cores"
    )
    parser.add_argument(
        "--transport",
        choices=("socket", "http"),
        default="socket",
        help="how the simulated devices send arrivals: on their push socket (/ws/device, what "
        "the edge does while it is open) or one POST /api/v1/device/events a batch",
    )
    args = parser.parse_args()
    steps = [float(x) for x in args.steps.split(",")] if args.capacity else []
    split = None if args.no_pin else cpu_split()
    if split is not None:
        # The generator (this process: events and tablets) on its own core, the server's
        # processes on the others, so the two do not take each other's CPU; PostgreSQL and
        # Redis are not pinned (they are shared services here).
        os.sched_setaffinity(0, split[0])
        print(f"pinning: generator=cpu{','.join(map(str, sorted(split[0])))} "
              f"server=cpu{','.join(map(str, sorted(split[1])))} "
              "(PostgreSQL and Redis unpinned)", flush=True)  # fmt: skip
    else:
        print("pinning: none", flush=True)
    print(f"transport: {args.transport} (how the simulated devices send arrivals)", flush=True)
    thumbnail = thumbnail_jpeg(args.faces)
    results = []
    capacities: list[str] = []
    knees: dict[str, float] = {}
    for config in args.configs.split(","):
        # "+http": the same configuration with devices that POST (the edge's fallback path)
        transport = "http" if config.endswith("+http") else args.transport
        config, http_suffix = config.removesuffix("+http"), "-http" if transport == "http" else ""
        stores, tablets, rate = args.stores, args.tablets, args.rate
        if config.startswith("store-"):  # one store: does a full shop floor of tablets cost?
            stores, tablets, rate = 1, int(config.removeprefix("store-")), args.store_rate
        members = int(rate * args.duration / stores) + 1
        my_steps = steps if config in ("sqlite", "postgres") else []
        members += sum(int(r * args.step_duration / stores) + 1 for r in my_steps)
        with tempfile.TemporaryDirectory(prefix="vt-load-") as tmp, contextlib.ExitStack() as stack:
            env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
            env["VERTROUWD_ENVIRONMENT"] = "test"
            data_dir = Path(tmp) / "server"
            workers = 1
            url = None
            if config.startswith("postgres"):
                url = stack.enter_context(postgres_db())
                env["VERTROUWD_DATABASE_URL"] = url
                env["VERTROUWD_REDIS_URL"] = REDIS_URL
                workers = args.workers
            if config.endswith("-batch1"):
                env["VERTROUWD_ARRIVAL_BATCH_MAX"] = "1"
            settings = ServerSettings(data_dir=data_dir, database_url=url, environment="test")
            t0 = time.perf_counter()
            setups = prepare(settings, stores, members, thumbnail)
            print(f"{config}: prepared {stores} stores, {members * stores} members "
                  f"in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
            with started_on(split[1] if split else None):
                proc, base = start_server(env, data_dir, workers)
            if split is not None:
                pin_tree(proc.pid, split[1])
            try:
                if config == "sqlite":
                    name = "sqlite-1proc"
                elif config.startswith("store-"):
                    name = f"sqlite-1proc-1store-{tablets}tablets"
                else:
                    name = f"postgres-redis-{workers}proc" + config.removeprefix("postgres")
                name += http_suffix
                result, found = asyncio.run(
                    run_load(
                        name, base, setups, tablets, rate, args.duration,
                        my_steps, args.step_duration, ServerCPU(proc.pid), transport,
                    )
                )  # fmt: skip
            finally:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            results.append(result)
            print(result.line(), flush=True)
            if my_steps:
                capacities.append(capacity_line(name, found))
                print(capacities[-1], flush=True)
                knees[name] = max((st.events_per_s for st in found if st.passed), default=0.0)
    by_name = {r.config.removesuffix("-batch1"): r for r in results if r.config.endswith("-batch1")}
    for r in results:
        peer = by_name.get(r.config)
        if peer is not None and r is not peer:
            print(
                f"load_ratio: config={r.config} peer={peer.config} "
                f"p95_ratio={peer.p95_ms / r.p95_ms:.1f} "
                f"events_per_s_ratio={r.ok / r.duration_s / max(peer.ok / peer.duration_s, 1):.2f}",
                flush=True,
            )
    by_tablets = {r.tablets: r for r in results if r.config.startswith("sqlite-1proc-1store-")}
    if 1 in by_tablets and len(by_tablets) > 1:
        peer = by_tablets[1]
        for n, r in sorted(by_tablets.items()):
            if n != 1:
                print(
                    f"fanout_ratio: config={r.config} peer={peer.config} p95_every_tablet_ratio="
                    f"{r.pct(0.95, r.all_ms) / peer.pct(0.95, peer.all_ms):.2f}",
                    flush=True,
                )
    # The targets (issue 7, on this 2-core machine): 500 events/s sustained with p95 under
    # 250 ms, zero errors, 200 tablets connected; for one store, every tablet within 250 ms.
    # The peer is there to be compared with, not held to them.
    missed = []
    for r in results:
        if r.config.endswith(("-batch1", "-http")):
            continue
        wanted_rate = args.store_rate if r.config.startswith("sqlite-1proc-1store-") else args.rate
        wanted_tablets = (
            int(r.config.rsplit("-", 1)[1].removesuffix("tablets"))
            if r.config.startswith("sqlite-1proc-1store-")
            else args.tablets
        )
        if r.ok / r.duration_s < 0.98 * wanted_rate:
            missed.append(f"{r.config}: {r.ok / r.duration_s:.0f} events/s < {wanted_rate:.0f}")
        if not r.pct(0.95, r.all_ms) < TARGET_P95_MS:
            missed.append(f"{r.config}: p95 on every tablet {r.pct(0.95, r.all_ms):.0f} ms")
        if r.errors:
            missed.append(f"{r.config}: {r.errors} errors")
        if r.tablets != wanted_tablets:
            missed.append(f"{r.config}: {r.tablets} of {wanted_tablets} tablets connected")
    for line in capacities:  # again at the end, beside the summary
        print(line, flush=True)
    for name, knee in knees.items():  # the socket against the POST, same servers, same run
        if name.endswith("-http") and name.removesuffix("-http") in knees:
            print(f"capacity_ratio: config={name.removesuffix('-http')} peer={name} "
                  f"events_per_s_ratio={knees[name.removesuffix('-http')] / max(knee, 1):.2f}",
                  flush=True)  # fmt: skip
    for line in missed:
        print(f"load: TARGET MISSED {line}", flush=True)
    if not missed:
        print(f"load: targets met (p95 < {TARGET_P95_MS:.0f} ms, 0 errors)", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
