"""The demo's check-in and pass rounds (issue 12), after the door round on the real clip.

Each round re-takes the demo store live with another recognition mode (``golive.go_live``: a
new gallery version carrying the mode), writes a deterministic scene from ``../shared/faces``
to a temporary video (``server.demo_scenes``; never committed), runs the same edge device on
it and reports the cards the tablet received:

* ``checkin``: three people walk past the check-in spot (two of them members), then Lin Manuel
  Miranda steps into it and stands: one card, and nobody passing by was even detected.
* ``pass``: Rose Leslie and Kit Harington show the passes their enrolment gave them, a stranger
  shows a well-formed pass this store never issued (a pass, not a face, is what counts here),
  and Anna de Vries, a member without a face
  (enrolled with no photo), shows hers: three cards; no face model is loaded.

The edge is passed in (``edge_main``) by ``server.demo``, the composition root, so this module
imports nothing from ``edge``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy import func, select

from consent.gallery import MemberZone
from consent.passes import new_pass_token
from server.db.clienteling import Visit
from server.db.session import transaction
from server.demo_data import populate
from server.demo_scenes import SPOT, SPOT_MIN_FACE, checkin_scene, pass_scene, write_video
from server.runtime import Runtime
from server.services.recognition import devices, golive

__all__ = ["SPOT_ZONE", "enrol_without_face", "run_checkin", "run_pass"]

SPOT_ZONE = MemberZone(x=SPOT[0], y=SPOT[1], w=SPOT[2], h=SPOT[3], min_face_size=SPOT_MIN_FACE)
"""The check-in spot of the demo scenes (540p frames: faces from 90 px, 180 px at 1080p)."""

CHECKIN_MEMBER = "lin_manuel_miranda/img1.png"
CHECKIN_WALKERS = ("lin_manuel_miranda/img1.png", "obama/obama.jpg", "rose_leslie/img1.jpg")
PASS_MEMBERS = ("rose_leslie/img1.jpg", "kit_harington/john1.jpeg")
STRANGER_PHOTO = "biden/biden2.jpg"
FACELESS_MEMBER = "Anna de Vries"


class Tablet(Protocol):
    cards: list[dict[str, Any]]

    def wait_for(self, n: int, timeout: float) -> bool: ...

    def dismiss_all(self) -> None: ...


@dataclass(frozen=True)
class Round:
    mode: str
    names: list[str]

    @property
    def line(self) -> str:
        return f"demo: mode={self.mode} {len(self.names)} arrivals: {', '.join(self.names) or '-'}"


def _go_live(rt: Runtime, store_code: str, dpia: str, mode: str) -> None:
    with transaction(rt.sessions) as session:
        store = devices.store_by_code(session, store_code)
        golive.go_live(
            session,
            rt.context(),
            store=store,
            dpia_reference=dpia,
            signage_confirmed=True,
            zone=SPOT_ZONE,
            mode=mode,
            door_acknowledged=False,
            actor="demo",
        )


def _visits(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Visit)) or 0)


def _round(
    rt: Runtime,
    tablet: Tablet,
    edge: Callable[[Path], int],
    mode: str,
    video: Path,
) -> Round | None:
    tablet.dismiss_all()  # the salesperson is done with the previous round's customers
    before = len(tablet.cards)
    print(f"edge: mode={mode}, running on {video.name}")
    rc = edge(video)
    if rc != 0:
        print(f"demo: the edge exited with {rc} in {mode} mode", file=sys.stderr)
        return None
    if not tablet.wait_for(_visits(rt), timeout=30):
        print(f"demo: not every {mode} card reached the tablet", file=sys.stderr)
        return None
    return Round(mode, [str(c["name"]) for c in tablet.cards[before:]])


def run_checkin(
    rt: Runtime,
    tablet: Tablet,
    edge: Callable[[Path], int],
    *,
    faces: Path,
    workdir: Path,
    store_code: str,
    dpia: str,
) -> Round | None:
    _go_live(rt, store_code, dpia, "checkin")
    scene = checkin_scene(faces, member=CHECKIN_MEMBER, walkers=CHECKIN_WALKERS)
    video = write_video(scene, workdir / "checkin-scene.avi")
    return _round(rt, tablet, edge, "checkin", video)


def enrol_without_face(rt: Runtime, base: str, cookie: str, *, store_code: str) -> str:
    """Enrol the demo's member without a face (no photo, the pass consent text) through the
    register API, with some purchase history; returns her pass token (shown once)."""
    with httpx.Client(base_url=base, cookies={"vt_session": cookie}, timeout=60) as http:
        r = http.post(
            "/api/v1/enrolments",
            data={
                "name": FACELESS_MEMBER,
                "preferred_name": FACELESS_MEMBER.split()[0],
                "language": "nl",
                "membership": "pass",
                "consent_confirmed": "true",
                "confirmation_name": FACELESS_MEMBER,
            },
        )
    r.raise_for_status()
    body = r.json()
    with transaction(rt.sessions) as session:
        store_id = devices.store_by_code(session, store_code).id
        populate(
            session,
            customer_id=body["customer_id"],
            name=FACELESS_MEMBER,
            store_id=store_id,
            now=rt.now(),
        )
    print(f"enrolled {FACELESS_MEMBER} (membership without a face: no photo, a pass)")
    return str(body["pass_token"])


def run_pass(
    rt: Runtime,
    tablet: Tablet,
    edge: Callable[[Path], int],
    *,
    faces: Path,
    workdir: Path,
    store_code: str,
    dpia: str,
    tokens: dict[str, str],
    display_name: Callable[[str], str],
) -> Round | None:
    """``tokens``: member name -> the pass token their enrolment answered (their receipt)."""
    _go_live(rt, store_code, dpia, "pass")
    shows: list[tuple[str | None, str]] = []
    for photo in PASS_MEMBERS:
        token = tokens.get(display_name(photo.split("/")[0]))
        if token is not None:
            shows.append((photo, token))
    shows.insert(1, (STRANGER_PHOTO, new_pass_token()))  # a pass this store never issued
    if FACELESS_MEMBER in tokens:
        shows.append((None, tokens[FACELESS_MEMBER]))  # no face: nothing to show but the pass
    scene = pass_scene(faces, shows)
    video = write_video(scene, workdir / "pass-scene.avi")
    return _round(rt, tablet, edge, "pass", video)
