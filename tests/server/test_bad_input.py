"""Bad input at enrolment and self-service, through the API: each a clear 4xx with a reason, and
nothing stored (every table's row count, the audit log included, is the same afterwards).
RGBA and 16-bit PNGs made from a real photo are not bad input: they enrol correctly."""

from __future__ import annotations

import io
import select
import socket
from datetime import timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server.runtime import Runtime
from server.serve import ServerThread
from server.services.recognition import gallery
from tests.server.conftest import PASSWORD, StoreFixture, sign_in
from tests.server.members import audit_kinds, enrol_member, row_counts, token
from tests.waiting import HANG_S

pytestmark = [pytest.mark.faces, pytest.mark.face_analysis]

NAME = "Barack Obama"


def enrol(client: TestClient, photos: list[tuple[str, bytes]], **form: str) -> httpx.Response:
    data = {
        "name": NAME,
        "preferred_name": "Barack",
        "language": "en",
        "consent_confirmed": "true",
        "confirmation_name": NAME,
    }
    data.update(form)
    response: httpx.Response = client.post(
        "/api/v1/enrolments", data=data, files=[("photos", (n, b)) for n, b in photos]
    )
    return response


def obama(faces: Path) -> bytes:
    return (faces / "people" / "obama" / "obama.jpg").read_bytes()


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def png(array: np.ndarray) -> bytes:
    """PNG via OpenCV (BGR order in, any depth/channels)."""
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return bytes(buf.tobytes())


def bad_photo(case: str, faces: Path) -> tuple[str, bytes]:
    photo = obama(faces)
    if case == "not-an-image":
        return "notes.jpg", b"%PDF-1.7 this is a document, not a photo\n" * 100
    if case == "truncated-jpeg":
        return "cut.jpg", photo[: len(photo) // 2]
    if case == "1x1":
        return "dot.png", png(np.zeros((1, 1, 3), np.uint8))
    if case == "no-face":
        wall = cv2.GaussianBlur(
            np.random.default_rng(7).integers(0, 255, (480, 640, 3), np.uint8), (31, 31), 0
        )
        return "wall.png", png(wall)
    if case == "two-faces":
        return "two.jpg", (faces / "scenes" / "two_people.jpg").read_bytes()
    if case == "tiny-face":  # the 268-px face becomes ~59 px, below min_face_size (80)
        small = cv2.resize(rgb(photo), None, fx=0.22, fy=0.22, interpolation=cv2.INTER_AREA)
        return "small.jpg", bytes(cv2.imencode(".jpg", small[:, :, ::-1])[1].tobytes())
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("not-an-image", "not an image"),
        ("truncated-jpeg", "truncated"),
        ("1x1", "too small (1x1 pixels"),
        ("no-face", "no face found"),
        ("two-faces", "2 faces found"),
        ("tiny-face", "face too small"),
    ],
)
def test_bad_photo_is_refused_with_a_reason_and_nothing_is_stored(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, case: str, reason: str
) -> None:
    sign_in(client, "cashier")
    before = row_counts(runtime)
    r = enrol(client, [bad_photo(case, faces)])
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
    assert r.json()["detail"].startswith("photo 1:")
    assert row_counts(runtime) == before


def test_one_bad_photo_among_good_ones_stores_nothing(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    sign_in(client, "cashier")
    before = row_counts(runtime)
    good = ("obama.jpg", obama(faces))
    r = enrol(client, [good, good, bad_photo("truncated-jpeg", faces)])
    assert r.status_code == 422
    assert r.json()["detail"].startswith("photo 3:")
    assert row_counts(runtime) == before


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"consent_confirmed": "false"}, "consent was not confirmed"),
        ({"confirmation_name": "Somebody Else"}, "does not match"),
    ],
)
def test_consent_not_confirmed_stores_nothing(
    client: TestClient,
    runtime: Runtime,
    store: StoreFixture,
    faces: Path,
    form: dict[str, str],
    reason: str,
) -> None:
    sign_in(client, "cashier")
    before = row_counts(runtime)
    r = enrol(client, [("obama.jpg", obama(faces))], **form)
    assert r.status_code == 422
    assert reason in r.json()["detail"]
    assert row_counts(runtime) == before


@pytest.mark.parametrize("variant", ["rgba", "16-bit"])
def test_rgba_and_16_bit_png_of_a_real_photo_enrol_correctly(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, variant: str
) -> None:
    photo = obama(faces)
    bgr = rgb(photo)[:, :, ::-1]
    if variant == "rgba":
        alpha = np.full(bgr.shape[:2], 255, np.uint8)
        alpha[:40, :] = 0  # a transparent strip, composited on white
        data = png(np.dstack([bgr, alpha]))
        assert Image.open(io.BytesIO(data)).mode == "RGBA"
    else:
        data = png(bgr.astype(np.uint16) * 257)
        assert data[24] == 16  # the PNG header's bit depth byte: 16 bits per sample
    sign_in(client, "cashier")
    r = enrol(client, [(f"obama-{variant}.png", data)])
    assert r.status_code == 201, r.text
    assert r.json()["templates"] == 1
    # The stored template is the face of the original JPEG (same person, same pixels).
    reference = runtime.faces.analyse(photo).embedding.vector
    with runtime.sessions() as s:
        members = gallery.member_templates(s, kek=runtime.kek, now=runtime.now())
    assert len(members) == 1
    distance = float(np.linalg.norm(members[0].vectors[0] - reference))
    assert distance < 0.1, distance


def test_expired_or_tampered_self_service_link_changes_nothing(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    good = token(runtime, member)
    before = row_counts(runtime)
    flipped = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    for bad in (flipped, good + "x", good[:-8]):
        for method, path in (("post", "/withdraw"), ("post", "/forget"), ("get", "/export")):
            r = client.request(method.upper(), f"/api/v1/me/{bad}{path}")
            assert r.status_code == 401, (bad, path)
    later = runtime.now() + timedelta(days=runtime.settings.self_service_ttl_days)
    runtime.clock = lambda: later
    assert client.post(f"/api/v1/me/{good}/forget").status_code == 401
    assert row_counts(runtime) == before


def test_withdrawal_twice_is_idempotent(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    link = token(runtime, member)
    first = client.post(f"/api/v1/me/{link}/withdraw")
    after_first = row_counts(runtime)
    second = client.post(f"/api/v1/me/{link}/withdraw")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert row_counts(runtime) == after_first  # not even an audit entry
    assert audit_kinds(runtime, member.subject_id).count("consent.withdrawn") == 1


# -- a 50 MB upload is refused before it is read ----------------------------------------------


def upload(live: ServerThread, cookie: str, size: int, *, declare: bool) -> tuple[int, int]:
    """Stream ``size`` bytes of multipart body over a raw socket, reading the answer as soon as
    there is one; (status, bytes sent when it arrived). With a declared length the
    client first waits (bounded) for an answer to the headers alone."""
    boundary = "vtboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
        'filename="huge.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    lines = [
        "POST /api/v1/enrolments HTTP/1.1",
        f"Host: 127.0.0.1:{live.port}",
        f"Cookie: vt_session={cookie}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
    ]
    lines.append(f"Content-Length: {size}" if declare else "Transfer-Encoding: chunked")
    chunk = b"\xff" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        if declare:  # the headers alone must be enough for the server to answer
            select.select([sock], [], [], 5)
        while sent < size:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            piece = head if sent == 0 else chunk[: min(len(chunk), size - sent)]
            frame = piece if declare else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        sock.settimeout(30)
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0
    return status, sent


def test_a_50_mb_upload_is_refused_before_it_is_read(
    live: ServerThread, runtime: Runtime, store: StoreFixture
) -> None:
    login = httpx.post(
        f"{live.base_url}/api/v1/auth/login",
        json={"username": "cashier", "password": PASSWORD},
        timeout=HANG_S,
    )
    cookie = login.cookies["vt_session"]
    before = row_counts(runtime)
    size = 50 * 1024 * 1024
    status, sent = upload(live, cookie, size, declare=True)
    assert status == 413
    assert sent == 0, f"{sent:,} of {size:,} bytes were sent before the refusal"
    # Without a declared length the body is cut off at the limit, not read to the end.
    limit = runtime.settings.max_upload_bytes * 3 + 1_000_000
    status, sent = upload(live, cookie, size, declare=False)
    assert status == 413
    assert sent < size
    assert sent <= limit + 8 * 1024 * 1024  # the limit plus what socket buffers absorbed
    assert row_counts(runtime) == before
