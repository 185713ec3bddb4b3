"""The go-live gate and the console show the expected false matches per 1,000 non-members.

Real database, real calibration file, real console pages; the console world plus one member
with a template whose consent covers "amsterdam" (not yet live), so a door camera there would
search one face.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.calibration import load_calibration
from models.exposure import expected_false_matches_per_1000
from server.app import create_app
from server.db.recognition import StoreZone
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services.errors import BadInput
from server.services.recognition import false_matches, gallery
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.console_world import OFFICER, World, add_template, build_world
from tests.server.factories import make_member
from tests.server.members import enrol_member, fetch_gallery

# the bound as shipped (the other tests run door mode with members knowingly: tests/conftest.py)
pytestmark = pytest.mark.door_bound(1.0)

API = "/api/v1/console"
ZONE = {"x": 0.2, "y": 0.1, "w": 0.6, "h": 0.8, "min_face_size": 90}


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    built = build_world(runtime, store)
    add_template(runtime, make_member(runtime, "Femke de Boer", stores=["amsterdam"]))
    make_member(runtime, "Gert Mulder", stores=["amsterdam"])  # a member without a face
    return built


@pytest.fixture
def officer(settings: ServerSettings, runtime: Runtime, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime)) as c:
        sign_in(c, OFFICER)
        yield c


def _door_figure(members: int) -> float:
    figure = expected_false_matches_per_1000(load_calibration("dlib_resnet_v1"), members, "door")
    assert figure is not None, "the shipped calibration should hold an open-set curve"
    return figure


def test_member_count_is_members_with_a_template_covering_the_store(
    runtime: Runtime, world: World
) -> None:
    with transaction(runtime.sessions) as session:
        amsterdam = session.scalars(select(Store).where(Store.code == "amsterdam")).one()
        utrecht = session.scalars(select(Store).where(Store.code == "utrecht")).one()
        # Femke's template counts; Gert has no face, and in the world only Eva had a template
        # (consent covering every store), which expired and was destroyed.
        assert gallery.member_count(session, store=amsterdam, now=runtime.now()) == 1
        assert gallery.member_count(session, store=utrecht, now=runtime.now()) == 0


def test_door_go_live_above_the_bound_is_refused_and_writes_nothing(
    officer: TestClient, runtime: Runtime
) -> None:
    bound = runtime.settings.max_false_matches_per_1000
    figure = _door_figure(1)
    assert figure > bound, "with this model one member already exceeds the default bound"
    r = officer.post(
        f"{API}/stores/amsterdam/go-live",
        json={
            "signage_confirmed": True,
            "dpia_reference": "DPIA-9",
            "zone": ZONE,
            "mode": "door",
            "door_acknowledged": True,
        },
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "false matches per 1,000" in detail
    assert "VERTROUWD_MAX_FALSE_MATCHES_PER_1000" in detail
    with runtime.sessions() as session:
        assert session.scalars(select(Store).where(Store.code == "amsterdam")).one().live is False
        assert session.scalars(select(StoreZone)).all() == []

    # The stores page shows the figure and why door mode cannot go live.
    page = html.unescape(officer.get("/console/stores").text)
    assert "Expected false matches" in page
    assert f"{figure:.3g} per 1,000 non-members who walk in, at 1 member (door" in page
    assert "above the bound, door mode cannot go live" in page


def test_the_bound_applies_to_door_mode_only(runtime: Runtime, world: World) -> None:
    now = runtime.now()
    with transaction(runtime.sessions) as session:
        amsterdam = session.scalars(select(Store).where(Store.code == "amsterdam")).one()
        with pytest.raises(BadInput, match="choose checkin, pass or pass\\+face"):
            false_matches.check_go_live(
                session,
                store=amsterdam,
                mode="door",
                bound=1.0,
                calibration=runtime.calibration,
                now=now,
            )
        # A bound the operator raised knowingly lets it through.
        ok = false_matches.check_go_live(
            session,
            store=amsterdam,
            mode="door",
            bound=1000.0,
            calibration=runtime.calibration,
            now=now,
        )
        assert ok.per_1000 == _door_figure(1)
        for mode in ("checkin", "pass", "pass+face"):
            shown = false_matches.check_go_live(
                session,
                store=amsterdam,
                mode=mode,
                bound=0.0,
                calibration=runtime.calibration,
                now=now,
            )
            assert not shown.over_bound
        assert (
            false_matches.estimate(
                session,
                store=amsterdam,
                mode="pass",
                bound=1.0,
                calibration=runtime.calibration,
                now=now,
            ).per_1000
            == 0.0
        )
        figures = false_matches.by_store(
            session, bound=1.0, calibration=runtime.calibration, now=now
        )
        assert set(figures) == {"amsterdam", "utrecht"}
        assert figures["amsterdam"].over_bound
        checkin = false_matches.by_store(
            session,
            bound=1.0,
            calibration=runtime.calibration,
            now=now,
            modes={"amsterdam": "checkin"},
        )
        assert checkin["amsterdam"].per_1000 == figures["amsterdam"].per_1000
        assert not checkin["amsterdam"].over_bound
        assert "who step onto the check-in spot" in checkin["amsterdam"].text


def _door_entries(settings: ServerSettings, runtime: Runtime, store: StoreFixture) -> int:
    """How many members the door gallery a device fetches holds."""
    with TestClient(create_app(settings, runtime=runtime)) as client:
        opened = fetch_gallery(client, runtime, store)
    assert opened.payload.mode == "door"
    return len(opened.payload.entries)


def test_a_live_door_store_past_the_bound_ships_no_template(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    # live in door mode with no member (0 expected), then a member enrols: past the bound
    enrol_member(runtime, store, faces, "obama")
    assert _door_figure(1) > settings.max_false_matches_per_1000
    assert _door_entries(settings, runtime, store) == 0  # the door camera recognises nobody


@pytest.mark.door_bound(1000.0)
def test_a_live_door_store_within_a_raised_bound_ships_its_members(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    enrol_member(runtime, store, faces, "obama")
    assert _door_figure(1) <= settings.max_false_matches_per_1000
    assert _door_entries(settings, runtime, store) == 1
