"""Go-live is refused until the controller and the privacy contact are configured (issue 16,
item 10): through the console's API and the command line; nothing is written by a refusal, and
with both set the store goes live."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.cli import main
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services.recognition import devices
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.console_world import OFFICER, build_world

ZONE = {"x": 0.2, "y": 0.1, "w": 0.6, "h": 0.8, "min_face_size": 90}
BODY = {"signage_confirmed": True, "dpia_reference": "DPIA-9", "zone": ZONE, "mode": "checkin"}


@pytest.fixture
def unset(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"controller_name": "the store operator",
                                       "privacy_contact": None})  # fmt: skip


def is_live(rt: Runtime, code: str) -> bool:
    with rt.sessions() as s:
        store = s.query(Store).filter_by(code=code).one()
        return bool(store.live)


@pytest.fixture
def officer(unset: ServerSettings, runtime: Runtime, store: StoreFixture) -> Iterator[TestClient]:
    build_world(runtime, store)
    configured, runtime.settings = runtime.settings, unset  # the running server's settings
    try:
        with TestClient(create_app(unset, runtime=runtime)) as c:
            sign_in(c, OFFICER)
            yield c
    finally:
        runtime.settings = configured


def test_the_console_refuses_go_live_without_controller_and_contact(
    officer: TestClient, runtime: Runtime, settings: ServerSettings
) -> None:
    assert not is_live(runtime, "amsterdam")
    r = officer.post("/api/v1/console/stores/amsterdam/go-live", json=BODY)
    assert r.status_code == 422, r.text
    assert "VERTROUWD_CONTROLLER_NAME" in r.json()["detail"]
    assert "VERTROUWD_PRIVACY_CONTACT" in r.json()["detail"]
    assert not is_live(runtime, "amsterdam")
    # configured: the same request takes the store live
    runtime.settings = settings
    with TestClient(create_app(settings, runtime=runtime)) as c:
        sign_in(c, OFFICER)
        r = c.post("/api/v1/console/stores/amsterdam/go-live", json=BODY)
        assert r.status_code == 200, r.text
    assert is_live(runtime, "amsterdam")


def test_the_command_line_refuses_go_live_without_them(
    runtime: Runtime,
    settings: ServerSettings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with transaction(runtime.sessions) as session:
        devices.create_store(session, code="delft", name="Delft", now=runtime.now())
    args = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    go = ["store", "go-live", "delft", "--dpia", "DPIA-1", "--signage-confirmed", *args,
          "--mode", "checkin", "--zone", "0.3,0.2,0.4,0.6"]  # fmt: skip
    monkeypatch.delenv("VERTROUWD_CONTROLLER_NAME", raising=False)
    monkeypatch.delenv("VERTROUWD_PRIVACY_CONTACT", raising=False)
    assert main(go) == 2
    err = capsys.readouterr().err
    assert "go-live refused" in err
    assert "VERTROUWD_PRIVACY_CONTACT" in err
    assert not is_live(runtime, "delft")
    monkeypatch.setenv("VERTROUWD_CONTROLLER_NAME", "Winkel B.V.")
    monkeypatch.setenv("VERTROUWD_PRIVACY_CONTACT", "privacy@winkel.example")
    assert main(go) == 0
    assert is_live(runtime, "delft")
