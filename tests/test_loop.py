"""The whole loop with real processes: uvicorn server on a free port, the edge CLI on the real
clip, a WebSocket tablet client. Lin Manuel Miranda (enrolled) gets a card; nobody else does.
An empty gallery leaves no trace: no event, no file, no log line about a face."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from server.db.clienteling import Visit
from server.db.recognition import EventReceipt
from server.db.session import transaction
from server.runtime import build_runtime
from server.serve import start_server_process
from server.services.recognition import devices
from server.services.staff import accounts as staff
from server.settings import ServerSettings
from tests.waiting import HANG_S

pytestmark = [pytest.mark.faces, pytest.mark.slow]
PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class LiveServer:
    base: str
    data_dir: Path
    codes: dict[str, str]
    proc: subprocess.Popen[bytes]
    settings: ServerSettings

    def login(self, username: str) -> str:
        r = httpx.post(
            f"{self.base}/api/v1/auth/login",
            json={"username": username, "password": PASSWORD},
            timeout=HANG_S,
        )
        r.raise_for_status()
        return str(r.cookies["vt_session"])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTROUWD_")}
    env["VERTROUWD_ENVIRONMENT"] = "test"
    env["VERTROUWD_MAX_FALSE_MATCHES_PER_1000"] = (
        os.environ[  # door mode knowingly: tests/conftest.py
            "VERTROUWD_MAX_FALSE_MATCHES_PER_1000"
        ]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("server")
    settings = ServerSettings(data_dir=data_dir, environment="test")
    rt = build_runtime(settings)
    codes = {}
    with transaction(rt.sessions) as session:
        for code in ("members", "empty"):
            store = devices.create_store(session, code=code, name=code, now=rt.now())
            devices.go_live(
                session,
                store=store,
                dpia_reference="DPIA-TEST",
                signage_confirmed=True,
                actor="test",
                now=rt.now(),
            )
            for role in ("cashier", "sales"):
                staff.create_staff(
                    session,
                    username=f"{role}-{code}",
                    password=PASSWORD,
                    role=role,
                    store_id=store.id,
                )
            codes[code] = devices.create_enrolment_code(session, store=store, now=rt.now())
    rt.close()
    proc, base = start_server_process(_env(), data_dir, cwd=REPO, timeout=HANG_S)
    try:
        yield LiveServer(base, data_dir, codes, proc, settings)
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Tablet:
    base: str
    cookie: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        url = self.base.replace("http://", "ws://") + "/ws/tablet"
        async with websockets.connect(
            url, additional_headers={"Cookie": f"vt_session={self.cookie}"}
        ) as ws:
            self.ready.set()
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.2)
                except TimeoutError:
                    continue
                with self.cond:
                    self.messages.append(json.loads(raw))
                    self.cond.notify_all()

    def arrivals(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "arrival"]


def enrol(server: LiveServer, store: str, name: str, photos: list[Path]) -> None:
    cookie = server.login(f"cashier-{store}")
    r = httpx.post(
        f"{server.base}/api/v1/enrolments",
        cookies={"vt_session": cookie},
        data={
            "name": name,
            "preferred_name": name.split()[0],
            "language": "en",
            "consent_confirmed": "true",
            "confirmation_name": name,
        },
        files=[("photos", (p.name, p.read_bytes())) for p in photos],
        timeout=60,
    )
    assert r.status_code == 201, r.text


def run_edge(
    server: LiveServer, store: str, clip: Path, edge_dir: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "--source",
            str(clip),
            "--server",
            server.base,
            "--enrol-code",
            server.codes[store],
            "--data-dir",
            str(edge_dir),
            "--no-realtime",
            "--exit-at-end",
            "--verbose",
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def count(server: LiveServer, model: Any, **where: Any) -> int:
    rt = build_runtime(server.settings, migrate=False)
    try:
        with rt.sessions() as s:
            q = select(func.count()).select_from(model)
            for k, v in where.items():
                q = q.where(getattr(model, k) == v)
            return int(s.scalar(q) or 0)
    finally:
        rt.close()


def test_member_walks_in_and_the_tablet_gets_the_card(
    live_server: LiveServer, faces: Path, clip: Path, tmp_path: Path
) -> None:
    people = faces / "people"
    enrol(
        live_server,
        "members",
        "Lin Manuel Miranda",
        sorted((people / "lin_manuel_miranda").iterdir()),
    )
    enrol(live_server, "members", "Barack Obama", sorted((people / "obama").iterdir()))
    tablet = Tablet(live_server.base, live_server.login("sales-members"))
    thread = threading.Thread(target=tablet.run, daemon=True)
    thread.start()
    assert tablet.ready.wait(10)
    try:
        result = run_edge(live_server, "members", clip, tmp_path / "edge")
        assert result.returncode == 0, result.stderr[-3000:]
        visits = count(live_server, Visit)
        assert visits == 1, f"expected one visit, got {visits}"
        with tablet.cond:
            assert tablet.cond.wait_for(lambda: len(tablet.arrivals()) >= visits, 15)
        arrival = tablet.arrivals()[0]
        assert arrival["preferred_name"] == "Lin"
        assert arrival["thumbnail"]  # the small enrolment photo for the visual check
        card = httpx.post(
            f"{live_server.base}/api/v1/visits/{arrival['visit_id']}/reveal",
            cookies={"vt_session": tablet.cookie},
            timeout=HANG_S,
        ).json()
        assert card["name"] == "Lin Manuel Miranda"
        assert card["visit_number"] == 1
        assert [a["preferred_name"] for a in tablet.arrivals()] == ["Lin"]  # nobody else
    finally:
        tablet.stop.set()
        thread.join(5)


def test_empty_gallery_leaves_no_trace(
    live_server: LiveServer, faces: Path, clip: Path, tmp_path: Path
) -> None:
    edge_dir = tmp_path / "edge"
    before = set(tmp_path.rglob("*"))
    receipts = count(live_server, EventReceipt)
    result = run_edge(live_server, "empty", clip, edge_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert count(live_server, EventReceipt) == receipts  # no event was sent
    assert count(live_server, Visit, store_id=2) == 0
    created = {
        p.relative_to(edge_dir).as_posix() for p in set(tmp_path.rglob("*")) - before if p.is_file()
    }
    # device identity, credential and the sealed gallery; no frame, crop, embedding or log file
    for name in created:
        assert not name.endswith((".jpg", ".jpeg", ".png", ".npy", ".mp4", ".log")), name
    assert len(created) <= 6, created
    lines = (result.stdout + result.stderr).lower().splitlines()
    # The end-of-file summary (issue 16) holds counts and per-stage times only, nobody's data.
    summary = [line for line in lines if "source ended:" in line]
    assert len(summary) == 1, lines[-20:]
    assert "arrivals 0" in summary[0]
    assert re.fullmatch(r".*source ended:[a-z0-9 .,();:%-]*", summary[0]), summary[0]
    output = "\n".join(line for line in lines if "source ended:" not in line)
    for word in ("embedding", "bbox", "box=", "subject", "track "):
        assert word not in output, f"edge output mentions {word!r}:\n{output[-2000:]}"
