"""What one photo may cost the server, bounded before it is decoded, and never at other stores'
expense.

* A photo over the pixel budget (16 MP; the issue's 6300x6300 black PNG is 39.7 MP) is refused
  from its header: a file that holds nothing but the header gets the same answer, so no pixel is
  decoded, and the server's peak memory does not grow.
* A large JPEG is decoded at a reduced scale (what the decoder will allocate, read from the
  opened image, is at most the analysis budget) and is still analysed correctly.
* Photo analysis runs in a bounded pool and holds no database connection meanwhile: while a
  photo waits in the pool, no connection is checked out and another store's arrival is taken;
  a full pool answers 503 with Retry-After, and a job past the time budget 503 too.
* A database pool that stays exhausted for its timeout is a 503 with Retry-After, not a 500.
"""

from __future__ import annotations

import dataclasses
import io
import resource
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from models.images import ImageError, decode_image, open_image
from server.app import create_app
from server.db.session import make_engine, make_session_factory
from server.runtime import Runtime
from server.services.membership.faces import ANALYSIS_PIXELS, MAX_PIXELS
from server.services.workpool import PoolBusy, WorkPool
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import arrival_event, device_token, make_member, make_store

# the same on any database: photo budgets before decoding; nothing is stored
pytestmark = [pytest.mark.faces, pytest.mark.db_agnostic, pytest.mark.face_analysis]

CHECK = "/api/v1/enrolments/check-photo"


def _black_png(side: int) -> bytes:
    """A black RGB PNG written by hand, row by row (no full-size image in memory): the filter
    byte and zero pixels compress to almost nothing, like the attacker's 38 KB file."""
    raw_row = b"\x00" + b"\x00" * (side * 3)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(raw_row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _black_png(6300)


def test_the_pixel_budget_is_well_below_40_mp_and_checked_from_the_header(bomb: bytes) -> None:
    assert len(bomb) < 200_000
    assert MAX_PIXELS <= 16_000_000
    with pytest.raises(ImageError, match="too many pixels"):
        decode_image(bomb, max_pixels=MAX_PIXELS)
    # The header and the first bytes of pixel data alone get the same refusal: decoding never
    # started, or it would have said "truncated".
    with pytest.raises(ImageError, match="too many pixels"):
        open_image(bomb[:64], max_pixels=MAX_PIXELS)
    # Under a 40 MP budget the same bytes would be decoded: the budget is what refuses them.
    with open_image(bomb[:64], max_pixels=40_000_000) as img:
        assert img.size == (6300, 6300)


def _big_face_jpeg(faces: Path, side: int) -> bytes:
    photo = Image.open(faces / "people" / "obama" / "obama.jpg").convert("RGB")
    scale = side / max(photo.size)
    big = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_and_still_analysed(
    runtime: Runtime, faces: Path
) -> None:
    data = _big_face_jpeg(faces, 4600)  # 3681x4600 = 16.9 MP: over the budget
    with pytest.raises(ImageError, match="too many pixels"):
        decode_image(data, max_pixels=MAX_PIXELS)
    data = _big_face_jpeg(faces, 4400)  # 3521x4400 = 15.5 MP: a 16 MP phone photo
    with Image.open(io.BytesIO(data)) as full:
        assert full.width * full.height > 15_000_000
    with open_image(data, max_pixels=MAX_PIXELS, fit_pixels=ANALYSIS_PIXELS) as img:
        # what libjpeg will allocate: at most the analysis budget, not the 15.5 MP
        assert img.width * img.height <= ANALYSIS_PIXELS
    array = decode_image(data, max_pixels=MAX_PIXELS, fit_pixels=ANALYSIS_PIXELS)
    assert array.shape[0] * array.shape[1] <= ANALYSIS_PIXELS
    check = runtime.faces.check(data)
    assert check.ok, check.reasons
    assert check.faces == 1


def test_the_huge_png_is_refused_at_once_and_memory_stays_put(
    client: TestClient, runtime: Runtime, store: StoreFixture, bomb: bytes
) -> None:
    sign_in(client, "cashier")
    # warm the path once (imports, first request), then measure the peak around the upload
    client.post(CHECK, files={"photo": ("b.png", _black_png(64))})
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for _ in range(3):
        r = client.post(CHECK, files={"photo": ("bomb.png", bomb)})
        assert r.status_code == 422, r.text
        assert "too many pixels" in r.json()["detail"]
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    # decoding it would take 119 MB for the RGB pixels alone (the issue saw 2.2 GB)
    assert grown_kib < 60_000, f"peak memory grew by {grown_kib} KiB"


@pytest.fixture
def small_pool(runtime: Runtime) -> Iterator[WorkPool]:
    """The runtime's analyser with a pool of one worker and one waiting place."""
    pool = WorkPool(name="photo analysis", workers=1, waiting=1, budget_s=120)
    saved = runtime.faces.pool
    runtime.faces.pool = pool
    try:
        yield pool
    finally:
        runtime.faces.pool = saved
        pool.shutdown()


def test_a_waiting_photo_holds_no_connection_and_a_full_pool_is_503(
    client: TestClient,
    runtime: Runtime,
    store: StoreFixture,
    faces: Path,
    small_pool: WorkPool,
) -> None:
    other = make_store(runtime, "zwolle")
    member = make_member(runtime, "Anna de Vries", stores=[other.code])
    token = device_token(runtime, client, other.code)
    sign_in(client, "cashier")
    photo = (faces / "people" / "obama" / "obama.jpg").read_bytes()

    release = threading.Event()
    blocker = small_pool.submit(release.wait, 120)  # the one worker is busy
    answer: dict[str, Any] = {}

    def check_photo() -> None:
        r = client.post(CHECK, files={"photo": ("obama.jpg", photo)})
        answer.update(status=r.status_code, body=r.json())

    waiting = threading.Thread(target=check_photo)
    waiting.start()
    try:
        assert small_pool.wait_until(lambda n: n == 2, timeout=60)  # the photo waits in the pool
        # ... and holds no database connection while it does (SQLite has only one)
        assert runtime.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        r = client.post(
            "/api/v1/device/events",
            headers={"Authorization": f"Bearer {token}"},
            json={"events": [arrival_event(member.subject_id, event_id="e-during-photo")]},
        )
        assert (r.status_code, r.json()["accepted"]) == (202, 1), r.text
        # the pool is full: a third photo is refused at once, with a time to retry
        r = client.post(CHECK, files={"photo": ("obama.jpg", photo)})
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"].isdigit()
        assert "busy" in r.json()["detail"]
        assert small_pool.refused == 1
    finally:
        release.set()
        waiting.join(120)
    assert blocker.result() is True
    assert answer["status"] == 200, answer
    assert answer["body"]["ok"] is True
    assert small_pool.in_use == 0


def test_a_job_past_the_time_budget_is_503_and_keeps_its_place_until_done() -> None:
    pool = WorkPool(name="photo analysis", workers=1, waiting=0, budget_s=0.05)
    release = threading.Event()
    try:
        with pytest.raises(PoolBusy, match="took longer") as refused:
            pool.run(release.wait, 120)
        assert refused.value.status_code == 503
        assert pool.over_budget == 1
        assert pool.in_use == 1  # still running: the pool stays bounded
        with pytest.raises(PoolBusy, match="busy"):
            pool.run(np.zeros, 3)
    finally:
        release.set()
    assert pool.wait_until(lambda n: n == 0, timeout=60)  # done: its place is free again
    assert pool.run(np.zeros, 3).shape == (3,)
    pool.shutdown()


def test_an_exhausted_database_pool_is_503_not_500(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture
) -> None:
    engine = make_engine(
        settings.resolved_database_url, pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    rt = dataclasses.replace(
        runtime, engine=engine, sessions=make_session_factory(engine, vault=runtime.vault)
    )
    try:
        with TestClient(create_app(settings, runtime=rt)) as client:
            sign_in(client, "sales")
            assert client.get("/api/v1/visits/live").status_code == 200
            with engine.connect():  # something else holds the only connection
                r = client.get("/api/v1/visits/live")
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"].isdigit()
            assert client.get("/api/v1/visits/live").status_code == 200
    finally:
        engine.dispose()
