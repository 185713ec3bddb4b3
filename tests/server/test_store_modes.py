"""Recognition modes in the go-live gate (issue 12): one go-live path for the console and the
command line, the mode recorded with the DPIA reference and audited, ``door`` only when chosen
knowingly, and every change of mode published as a gallery version."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.gallery import MemberZone
from server.cli import main
from server.db.audit import AuditEntry
from server.db.recognition import GalleryPublication, StoreMode, StoreZone
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services.errors import BadInput
from server.services.recognition import devices, golive
from server.settings import ServerSettings
from tests.server.conftest import sign_in
from tests.server.factories import make_staff

API = "/api/v1/console"
ZONE = {"x": 0.3, "y": 0.2, "w": 0.4, "h": 0.6, "min_face_size": 160}


def _store(rt: Runtime, code: str = "leiden") -> int:
    with transaction(rt.sessions) as session:
        return devices.create_store(session, code=code, name=code.title(), now=rt.now()).id


def _publications(rt: Runtime, store_id: int) -> list[tuple[int, str]]:
    with rt.sessions() as session:
        return [
            (p.version, p.reason)
            for p in session.scalars(
                select(GalleryPublication)
                .where(GalleryPublication.store_id == store_id)
                .order_by(GalleryPublication.version)
            )
        ]


def _audit(rt: Runtime, kind: str) -> list[dict[str, object]]:
    with rt.sessions() as session:
        return [
            e.data
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.kind == kind).order_by(AuditEntry.seq)
            )
        ]


@pytest.fixture
def officer(client: TestClient, runtime: Runtime) -> TestClient:
    make_staff(runtime, "officer", "privacy_officer", None)
    sign_in(client, "officer")
    return client


def test_console_go_live_records_the_mode_with_the_dpia_and_each_switch_publishes(
    officer: TestClient, runtime: Runtime
) -> None:
    store_id = _store(runtime)
    url = f"{API}/stores/leiden/go-live"
    body = {"signage_confirmed": True, "dpia_reference": "DPIA-L-1", "zone": ZONE}
    r = officer.post(url, json={**body, "mode": "checkin"})
    assert r.status_code == 200, r.text
    assert r.json()["mode"] == "checkin"
    with runtime.sessions() as session:
        row = session.get(StoreMode, store_id)
        assert row is not None
        assert (row.mode, row.dpia_reference, row.door_acknowledged) == (
            "checkin",
            "DPIA-L-1",
            False,
        )
        assert row.recorded_by == "staff:officer"
    assert _publications(runtime, store_id) == [(1, "go-live")]

    # switching mode is a go-live with another mode: a new gallery version, audited
    r = officer.post(url, json={**body, "mode": "pass"})
    assert r.status_code == 200, r.text
    assert r.json()["gallery_version"] == 2
    assert _publications(runtime, store_id) == [(1, "go-live"), (2, "mode-change")]
    recorded = _audit(runtime, "store.mode_recorded")
    assert [(d["mode"], d["previous_mode"]) for d in recorded] == [
        ("checkin", None),
        ("pass", "checkin"),
    ]
    assert all(d["dpia_reference"] == "DPIA-L-1" for d in recorded)
    rows = {s["code"]: s for s in officer.get(f"{API}/stores").json()}
    assert rows["leiden"]["mode"] == "pass"


def test_door_is_refused_without_the_acknowledgement_and_recorded_as_chosen_knowingly(
    officer: TestClient, runtime: Runtime
) -> None:
    store_id = _store(runtime)
    url = f"{API}/stores/leiden/go-live"
    body = {"signage_confirmed": True, "dpia_reference": "DPIA-L-2", "zone": ZONE, "mode": "door"}
    r = officer.post(url, json=body)
    assert r.status_code == 422
    assert "acknowledge the legal position" in r.json()["detail"]
    with runtime.sessions() as session:
        assert session.get(StoreMode, store_id) is None
        assert session.get(Store, store_id).live is False  # type: ignore[union-attr]
        assert session.get(StoreZone, store_id) is None
    assert _publications(runtime, store_id) == []
    assert _audit(runtime, "store.mode_recorded") == []

    r = officer.post(url, json={**body, "door_acknowledged": True})
    assert r.status_code == 200, r.text
    with runtime.sessions() as session:
        row = session.get(StoreMode, store_id)
        assert row is not None
        assert row.mode == "door"
        assert row.door_acknowledged is True
    assert _audit(runtime, "store.mode_recorded")[-1]["door_acknowledged"] is True


def test_the_console_page_shows_the_legal_position_and_the_mode_choice(
    officer: TestClient, runtime: Runtime
) -> None:
    _store(runtime)
    page = officer.get("/console/stores").text
    for mode in ("door", "checkin", "pass", "pass+face"):
        assert f'name="mode" value="{mode}"' in page
    assert "Autoriteit Persoonsgegevens" in page
    assert "EDPB" in page
    assert "Annex III 1(a)" in page
    assert 'name="door_acknowledged"' in page


def test_the_database_refuses_door_without_the_acknowledgement(runtime: Runtime) -> None:
    store_id = _store(runtime)
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), transaction(runtime.sessions) as session:
        session.add(
            StoreMode(
                store_id=store_id,
                mode="door",
                door_acknowledged=False,
                dpia_reference="D",
                recorded_by="test",
                recorded_at=runtime.now(),
            )
        )


def test_an_unknown_mode_is_refused_by_the_service_before_anything_is_written(
    runtime: Runtime,
) -> None:
    store_id = _store(runtime)
    with pytest.raises(BadInput, match="recognition mode"), transaction(runtime.sessions) as s:
        golive.go_live(
            s,
            runtime.context(),
            store=s.get(Store, store_id),  # type: ignore[arg-type]
            dpia_reference="D-1",
            signage_confirmed=True,
            zone=MemberZone(0, 0, 1, 1, 80),
            mode="face-everyone",
            door_acknowledged=True,
            actor="test",
        )
    with runtime.sessions() as session:
        assert session.get(Store, store_id).live is False  # type: ignore[union-attr]


def _cli(settings: ServerSettings, *args: str) -> list[str]:
    out = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        out += ["--database-url", settings.database_url]
    return [*args, *out]


def test_cli_go_live_takes_the_same_path_as_the_console(
    runtime: Runtime,
    settings: ServerSettings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VERTROUWD_CONTROLLER_NAME", "Winkel B.V.")  # go-live needs both
    monkeypatch.setenv("VERTROUWD_PRIVACY_CONTACT", "privacy@winkel.example")
    store_id = _store(runtime)
    base = ["store", "go-live", "leiden", "--dpia", "DPIA-C-1", "--signage-confirmed"]
    # door without the acknowledgement: a clear message, exit 2, nothing written
    assert main(_cli(settings, *base, "--mode", "door")) == 2
    assert "acknowledge the legal position" in capsys.readouterr().err
    assert _publications(runtime, store_id) == []

    assert main(_cli(settings, *base, "--mode", "checkin", "--zone", "0.3,0.2,0.4,0.6")) == 0
    assert "live in checkin mode" in capsys.readouterr().out
    with runtime.sessions() as session:
        zone = session.get(StoreZone, store_id)
        mode = session.get(StoreMode, store_id)
        assert zone is not None
        assert mode is not None
        # the member zone the old CLI go-live skipped, with the check-in spot's face size
        assert (zone.zone_x, zone.zone_w, zone.min_face_size) == (0.3, 0.4, 160)
        assert mode.mode == "checkin"
        assert mode.recorded_by == "cli"
    assert _publications(runtime, store_id) == [(1, "go-live")]

    assert main(_cli(settings, *base, "--mode", "door", "--acknowledge-door-risk")) == 0
    out = capsys.readouterr().out
    assert "chosen knowingly" in out
    assert "Autoriteit Persoonsgegevens" in out
    assert _publications(runtime, store_id) == [(1, "go-live"), (2, "mode-change")]

    assert main(_cli(settings, *base, "--mode", "pass", "--zone", "0.5,0.5,0.9,0.9")) == 2
    assert "inside the camera frame" in capsys.readouterr().err
    with runtime.sessions() as session:
        assert session.get(StoreMode, store_id).mode == "door"  # type: ignore[union-attr]
