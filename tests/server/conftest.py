"""Server fixtures: a real runtime (SQLite file, keys on disk, real models) and an HTTP client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.db.session import transaction
from server.runtime import Runtime, build_runtime
from server.serve import ServerThread, bound_socket
from server.services.membership.faces import FaceAnalyser
from server.services.recognition import devices
from server.services.staff import accounts as staff
from server.settings import ServerSettings
from tests.databases import database_url_for_tests
from tests.server.facememo import MemoFaceAnalyser

PASSWORD = "correct horse battery"
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``db`` every server test that runs on the test database (it uses ``settings``),
    unless it is a browser test or marked ``db_agnostic`` (pages, words, pure logic: the same on
    any database). ``make test`` runs the ``db`` tests a second time on PostgreSQL; a module
    that makes its own databases (tests/databases.py) carries the mark itself."""
    for item in items:
        if HERE not in item.path.parents or item.get_closest_marker("db"):
            continue
        if item.get_closest_marker("browser") or item.get_closest_marker("db_agnostic"):
            continue
        if "settings" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def shared_analyser() -> FaceAnalyser:
    """dlib models load once per test session; the runtime of a test marked ``face_analysis``
    gets this analyser, which runs the models on every photo."""
    return FaceAnalyser(
        detector="dlib_hog", embedder="dlib_resnet", min_face_size=80, max_bytes=12_000_000
    )


@pytest.fixture(scope="session")
def memo_analyser() -> MemoFaceAnalyser:
    """The same models, their answers memoised per image in this process
    (tests/server/facememo.py): every other test's runtime gets this analyser."""
    return MemoFaceAnalyser(
        detector="dlib_hog", embedder="dlib_resnet", min_face_size=80, max_bytes=12_000_000
    )


@dataclass
class StoreFixture:
    id: int
    code: str


@pytest.fixture
def live_socket() -> Iterator[socket.socket]:
    """The live server's listening socket, bound before the settings are made (they name its
    address) and kept open until uvicorn listens on it, so no other process takes the port."""
    with bound_socket() as sock:
        yield sock


@pytest.fixture
def settings(data_dir: Path, request: pytest.FixtureRequest) -> Iterator[ServerSettings]:
    """SQLite by default; a fresh PostgreSQL database with ``VERTROUWD_TEST_DB=postgres``.
    A test that uses ``live`` gets the live server's own address as ``public_url``, so a link
    on a receipt opens in the same test and its pages come from the configured origin."""
    # PostgreSQL: this process's database, emptied after each test; a test marked
    # ``fresh_database`` (it reads the database's own files) gets one nobody used before.
    fresh = request.node.get_closest_marker("fresh_database") is not None
    with database_url_for_tests(data_dir, migrated=True, reuse=not fresh) as url:
        settings = ServerSettings(
            data_dir=data_dir,
            environment="test",
            database_url=url,
            # go-live is refused without them (issue 16)
            controller_name="Vertrouwd Test B.V.",
            privacy_contact="privacy@test.example",
            staff_language="en",  # the page tests read the register's English words
        )
        bound = request.node.get_closest_marker("door_bound")
        if bound is not None:
            settings = settings.model_copy(update={"max_false_matches_per_1000": bound.args[0]})
        if "live" in request.fixturenames:
            port = request.getfixturevalue("live_socket").getsockname()[1]
            settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
        yield settings


@pytest.fixture
def runtime(settings: ServerSettings, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    # The database is a copy of the migrated template (``settings``): Alembic would load and
    # compile its scripts only to find the schema at head (~50 ms of CPU, every server test,
    # twice a run). Tests of the migrations call build_runtime or upgrade themselves.
    rt = build_runtime(settings, migrate=False)
    uncached = request.node.get_closest_marker("face_analysis") is not None
    rt.faces = request.getfixturevalue("shared_analyser" if uncached else "memo_analyser")
    yield rt
    rt.close()


@pytest.fixture
def store(runtime: Runtime) -> StoreFixture:
    with transaction(runtime.sessions) as session:
        s = devices.create_store(session, code="utrecht", name="Utrecht", now=runtime.now())
        devices.go_live(
            session,
            store=s,
            dpia_reference="DPIA-T-1",
            signage_confirmed=True,
            actor="test",
            now=runtime.now(),
        )
        for username, role in (("cashier", "cashier"), ("sales", "sales")):
            staff.create_staff(
                session, username=username, password=PASSWORD, role=role, store_id=s.id
            )
        return StoreFixture(s.id, s.code)


@pytest.fixture
def live(
    settings: ServerSettings, runtime: Runtime, live_socket: socket.socket
) -> Iterator[ServerThread]:
    """The app served by uvicorn in a thread on ``settings.public_url`` (browser tests, devices,
    raw sockets); each test its own server on its own runtime and database."""
    srv = ServerThread(create_app(settings, runtime=runtime), sock=live_socket)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(settings: ServerSettings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c


def sign_in(client: TestClient, username: str) -> None:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
