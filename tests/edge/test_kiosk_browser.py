"""The check-in kiosk page in real chromium, driven by the real edge engine (real models) on
the deterministic check-in scene: idle while people walk past, "looking" once a member stands
in the spot, "Welkom!" when recognised, idle again after the welcome time; never a name. With
a required trigger, the page's button starts the look. Screenshots go to
``test-artifacts/screenshots/kiosk-*.png``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consent.gallery import MemberZone
from edge.capture import Frame
from edge.checkin import KioskState
from edge.health import HealthServer
from edge.matching import ActiveGallery, OperatingPoint
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from server.demo_scenes import SPOT, SPOT_MIN_FACE, Scene, checkin_scene
from tests.edge.conftest import LIN, Models, build_index, subject_id

ZONE = MemberZone(*SPOT, min_face_size=SPOT_MIN_FACE)
VIEWPORT = {"width": 800, "height": 480}  # a small screen beside the spot


@dataclass
class Kiosk:
    engine: Engine
    kiosk: KioskState
    server: HealthServer
    scene: Scene
    clock: list[float]
    next_frame: int = 0

    def step_until(self, state: str) -> int:
        """Feed scene frames (10 frames/s on the engine's clock) until the kiosk is in
        ``state``; the index of that frame."""
        while self.next_frame < len(self.scene.frames):
            i = self.next_frame
            self.next_frame += 1
            self.clock[0] = i / 10
            self.engine.process_frame(Frame(i, 0.0, self.scene.frames[i]))
            if self.kiosk.snapshot().state == state:
                return i
        raise AssertionError(f"the scene ended before the kiosk was {state!r}")


def _kiosk(models: Models, faces: Path, **overrides: object) -> Iterator[Kiosk]:
    gallery = ActiveGallery(
        build_index(models, faces, (LIN, "obama/obama.jpg")), 1, zone=ZONE, mode="checkin"
    )

    class Provider:
        def current(self) -> ActiveGallery:
            return gallery

    clock = [0.0]
    engine = Engine(
        EdgeSettings(realtime=False, embed_interval=2, checkin_welcome_s=2).model_copy(
            update=overrides
        ),
        detector=models.detector,
        embedder=models.embedder,
        gallery=Provider(),
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
        clock=lambda: clock[0],
    )
    server = HealthServer(
        "127.0.0.1",
        0,
        health=lambda: {"ok": True},
        metrics=lambda: {},
        kiosk=engine.router.kiosk,
        kiosk_available=lambda: True,
    )
    server.start()
    try:
        scene = checkin_scene(
            faces, member=LIN, walkers=(LIN, "obama/obama.jpg", "rose_leslie/img1.jpg")
        )
        yield Kiosk(engine, engine.router.kiosk, server, scene, clock)
    finally:
        server.shutdown()


@pytest.fixture
def kiosk(edge_models: Models, edge_faces: Path) -> Iterator[Kiosk]:
    yield from _kiosk(edge_models, edge_faces)


@pytest.fixture
def triggered_kiosk(edge_models: Models, edge_faces: Path) -> Iterator[Kiosk]:
    yield from _kiosk(edge_models, edge_faces, checkin_trigger_required=True)


def _shows(page: Any, state: str) -> None:
    page.wait_for_selector(f'body[data-state="{state}"]')


def test_the_kiosk_page_follows_a_check_in(
    browser: Any, kiosk: Kiosk, screenshot_dir: Path
) -> None:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(kiosk.server.url + "/kiosk")
    _shows(page, "idle")
    assert page.inner_text("#message") == "Check hier in"
    page.screenshot(path=str(screenshot_dir / "kiosk-idle.png"))

    # people walk past the spot: the page stays idle and the engine looked at no face
    last_walk = max(kiosk.scene.indices("walk-by"))
    for i in range(kiosk.next_frame, last_walk + 1):
        kiosk.clock[0] = i / 10
        kiosk.engine.process_frame(Frame(i, 0.0, kiosk.scene.frames[i]))
        assert kiosk.kiosk.snapshot().state == "idle"
    kiosk.next_frame = last_walk + 1
    assert kiosk.engine.metrics.count("frames_detected") == 0

    looking = kiosk.step_until("looking")
    assert kiosk.scene.parts[looking] == "standing"
    _shows(page, "looking")
    assert page.inner_text("#message") == "Even kijken…"
    page.screenshot(path=str(screenshot_dir / "kiosk-looking.png"))

    kiosk.step_until("welcome")
    _shows(page, "welcome")
    assert page.inner_text("#message") == "Welkom!"
    page.screenshot(path=str(screenshot_dir / "kiosk-welcome.png"))
    text = page.inner_text("body")
    for identifying in ("Lin", "Miranda", subject_id(LIN)):
        assert identifying not in text  # a public screen: never a name or an id
    assert page.query_selector("img") is None

    kiosk.clock[0] += 2.0  # the welcome time passes
    _shows(page, "idle")
    assert page.inner_text("#message") == "Check hier in"


def test_with_a_required_trigger_the_button_starts_the_look(
    browser: Any, triggered_kiosk: Kiosk, screenshot_dir: Path
) -> None:
    kiosk = triggered_kiosk
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(kiosk.server.url + "/kiosk")
    _shows(page, "idle")
    page.wait_for_selector("#checkin:not([hidden])")
    page.screenshot(path=str(screenshot_dir / "kiosk-trigger.png"))
    # the member stands in the spot: without a press nothing is analysed
    standing = kiosk.scene.indices("standing")
    for i in range(standing[0] + 1):
        kiosk.clock[0] = i / 10
        kiosk.engine.process_frame(Frame(i, 0.0, kiosk.scene.frames[i]))
    kiosk.next_frame = standing[0] + 1
    assert kiosk.kiosk.snapshot().state == "idle"
    assert kiosk.engine.metrics.count("frames_detected") == 0

    page.click("#checkin")
    _shows(page, "looking")
    assert kiosk.kiosk.presses == 1
    page.wait_for_selector("#checkin", state="hidden")
    kiosk.step_until("welcome")
    _shows(page, "welcome")
    assert kiosk.engine.metrics.count("identification_attempts") >= 1
