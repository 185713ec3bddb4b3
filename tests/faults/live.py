"""The real server app in this process (``server.serve.ServerThread``) with an injected clock
shared with the edge, members enrolled from real photos, and the real recognition engine:
for the fault tests where time must jump (gallery TTL, gallery expiry)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
from sqlalchemy import select

from edge.capture import Frame
from edge.events import ArrivalEvent
from edge.matching import GalleryProvider
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from models.types import FaceDetector, FaceEmbedder
from server.app import create_app
from server.db.membership import Customer
from server.db.recognition import EdgeDevice
from server.db.session import transaction
from server.runtime import Runtime, build_runtime
from server.serve import ServerThread
from server.services.membership.faces import FaceAnalyser
from server.services.recognition import devices
from server.services.staff import accounts as staff
from server.settings import ServerSettings
from tests.faults.harness import PASSWORD

TTL_S = 30
"""The server's ``gallery_ttl_s`` in these tests (its minimum)."""
VALIDITY_S = 120
"""The server's ``gallery_validity_s`` (a sealed gallery's ``expires_at - issued_at``)."""

PEOPLE = {
    "Lin Manuel Miranda": ("lin_manuel_miranda/img1.png",),
    "Barack Obama": ("obama/obama.jpg", "obama/obama2.jpg"),
}


class FakeClock:
    """Real time plus an offset that a test moves forward (server and edge share it).

    ``frozen()`` stops it for a block: a test that sets the gallery's age to one second short
    of its TTL and then runs the models on a few frames must not see that second used up by a
    loaded machine (on two busy cores four frames can take longer than a second)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
            if self._frozen_at is not None:
                self._frozen_at += timedelta(seconds=seconds)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Inside, only ``advance`` moves the clock; after, it runs on from where it stood
        (never backwards, and the real seconds spent inside do not count)."""
        with self._lock:
            assert self._frozen_at is None, "already frozen"
            self._frozen_at = datetime.now(UTC) + self._offset
        try:
            yield
        finally:
            with self._lock:
                self._offset = self._frozen_at - datetime.now(UTC)
                self._frozen_at = None


@dataclass
class Member:
    customer_id: str
    subject_id: str


@dataclass
class LiveServer:
    rt: Runtime
    thread: ServerThread
    clock: FakeClock
    enrolment_code: str
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.thread.base_url

    @property
    def port(self) -> int:
        return self.thread.port

    @contextlib.contextmanager
    def cashier(self) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            r = client.post(
                "/api/v1/auth/login", json={"username": "cashier", "password": PASSWORD}
            )
            r.raise_for_status()
            yield client

    def enrol(self, name: str, photos: list[Path]) -> Member:
        with self.cashier() as c:
            r = c.post(
                "/api/v1/enrolments",
                data={
                    "name": name,
                    "preferred_name": name.split()[0],
                    "language": "en",
                    "consent_confirmed": "true",
                    "confirmation_name": name,
                },
                files=[("photos", (p.name, p.read_bytes())) for p in photos],
            )
        assert r.status_code == 201, r.text
        customer_id = str(r.json()["customer_id"])
        with self.rt.sessions() as session:
            customer = session.get(Customer, customer_id)
            assert customer is not None
            member = Member(customer_id, customer.subject_id)
        self.members[name] = member
        return member

    def withdraw(self, name: str) -> dict[str, int]:
        with self.cashier() as c:
            r = c.post(f"/api/v1/customers/{self.members[name].customer_id}/withdraw")
        assert r.status_code == 200, r.text
        return dict(r.json()["gallery_versions"])

    def device(self) -> EdgeDevice:
        with self.rt.sessions() as session:
            device = session.scalars(select(EdgeDevice)).one()
            session.expunge(device)
            return device


@contextlib.contextmanager
def live_server(
    data_dir: Path, analyser: FaceAnalyser, faces: Path, *, enrol: tuple[str, ...]
) -> Iterator[LiveServer]:
    settings = ServerSettings(
        data_dir=data_dir,
        environment="test",
        gallery_ttl_s=TTL_S,
        gallery_validity_s=VALIDITY_S,
    )
    clock = FakeClock()
    rt = build_runtime(settings)
    rt.clock = clock
    rt.faces = analyser
    with transaction(rt.sessions) as session:
        store = devices.create_store(session, code="offline", name="Offline", now=clock())
        devices.go_live(
            session, store=store, dpia_reference="DPIA-FAULTS", signage_confirmed=True,
            actor="test", now=clock(),
        )  # fmt: skip
        for role in ("cashier", "sales"):
            staff.create_staff(
                session, username=role, password=PASSWORD, role=role, store_id=store.id
            )
        code = devices.create_enrolment_code(session, store=store, now=clock())
    thread = ServerThread(create_app(settings, runtime=rt))
    thread.start()
    live = LiveServer(rt, thread, clock, code)
    try:
        for name in enrol:
            live.enrol(name, [faces / "people" / rel for rel in PEOPLE[name]])
        yield live
    finally:
        thread.stop()
        rt.close()


def frames_of(faces: Path, rel: str, n: int = 4) -> list[Frame]:
    """``n`` frames of one still photo (a member standing at the camera)."""
    bgr = cv2.imread(str(faces / "people" / rel))
    assert bgr is not None, rel
    image = np.ascontiguousarray(bgr, dtype=np.uint8)
    return [Frame(i, 0.0, image) for i in range(n)]


def engine(
    gallery: GalleryProvider, detector: FaceDetector, embedder: FaceEmbedder, clock: FakeClock
) -> Engine:
    """The real recognition engine (fresh tracks and cooldowns) with the loaded models."""
    settings = EdgeSettings(source="0", embed_interval=1, confirm_k=2, confirm_n=3)
    return Engine(settings, detector=detector, embedder=embedder, gallery=gallery, now=clock)


def arrivals(engine: Engine, frames: list[Frame]) -> list[ArrivalEvent]:
    found: list[ArrivalEvent] = []
    for frame in frames:
        found += engine.process_frame(frame)
    return found + engine.finish()
