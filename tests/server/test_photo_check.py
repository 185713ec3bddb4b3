"""The register's live photo check: real models on real photos; nothing is ever stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.db.audit import AuditEntry
from server.db.membership import ConsentRecord, Customer, FaceTemplate, FaceThumbnail
from server.runtime import Runtime
from server.services.errors import BadInput
from server.services.membership.faces import FaceAnalyser
from tests.server.conftest import StoreFixture, sign_in

# the same on any database: the models on photos; nothing is stored
pytestmark = [pytest.mark.faces, pytest.mark.db_agnostic, pytest.mark.face_analysis]
CHECK = "/api/v1/enrolments/check-photo"


def jpeg(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return bytes(buf.tobytes())


def rows(rt: Runtime) -> dict[str, int]:
    tables = (Customer, ConsentRecord, FaceTemplate, FaceThumbnail, AuditEntry)
    with rt.sessions() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in tables}


def check(client: TestClient, data: bytes, name: str = "photo.jpg") -> dict[str, Any]:
    r = client.post(CHECK, files={"photo": (name, data)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_good_photo_is_ok_with_measurements(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    sign_in(client, "cashier")
    before = rows(runtime)
    body = check(client, (faces / "people" / "obama" / "obama.jpg").read_bytes())
    assert body["ok"] is True
    assert body["reasons"] == []
    assert body["faces"] == 1
    assert body["face_size"] >= 80
    assert body["sharpness"] >= 30
    assert body["frontalness"] >= 0.5
    assert body["problems"] == []
    # A check never stores anything: no customer, template, thumbnail or audit entry.
    assert rows(runtime) == before


def test_two_people_no_face_blur_and_tiny_face_are_refused_with_reasons(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    sign_in(client, "cashier")
    before = rows(runtime)

    two = check(client, (faces / "scenes" / "two_people.jpg").read_bytes())
    assert two["ok"] is False
    assert two["faces"] == 2
    assert any("2 faces" in r for r in two["reasons"])
    assert any("step aside" in h for h in two["hints"])
    # the same as codes, for a page to say in its own language
    assert two["problems"] == [{"code": "several_faces", "value": 2, "need": 1}]

    blank = np.full((400, 400, 3), 200, np.uint8)
    none = check(client, jpeg(blank))
    assert none["ok"] is False
    assert none["faces"] == 0
    assert any("no face" in r for r in none["reasons"])
    assert [p["code"] for p in none["problems"]] == ["no_face"]

    obama = cv2.imread(str(faces / "people" / "obama" / "obama.jpg"))
    assert obama is not None
    sigma = 8.0
    blurred = check(client, jpeg(cv2.GaussianBlur(obama, (0, 0), sigma)))
    assert blurred["ok"] is False
    assert any("blurred" in r for r in blurred["reasons"])
    codes = [p["code"] for p in blurred["problems"]]
    assert "too_blurred" in codes
    assert len(codes) == len(blurred["reasons"])
    blur = next(p for p in blurred["problems"] if p["code"] == "too_blurred")
    assert blur["value"] < blur["need"]

    small = cv2.resize(obama, None, fx=0.22, fy=0.22, interpolation=cv2.INTER_AREA)
    tiny = check(client, jpeg(small))
    assert tiny["ok"] is False
    assert any("too small" in r for r in tiny["reasons"])
    assert any("closer" in h for h in tiny["hints"])
    small_face = next(p for p in tiny["problems"] if p["code"] == "too_small")
    assert small_face["value"] == tiny["face_size"] < small_face["need"]

    assert rows(runtime) == before


def test_not_an_image_and_too_large_are_4xx(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    sign_in(client, "cashier")
    r = client.post(CHECK, files={"photo": ("x.jpg", b"this is not a photo")})
    assert r.status_code == 422
    assert "not an image" in r.json()["detail"]
    big = b"\xff\xd8" + b"\0" * (runtime.settings.max_upload_bytes + 10)
    r = client.post(CHECK, files={"photo": ("big.jpg", big)})
    assert r.status_code == 413


def test_only_signed_in_cashiers_may_check(
    client: TestClient, store: StoreFixture, faces: Path
) -> None:
    photo = (faces / "people" / "obama" / "obama.jpg").read_bytes()
    assert client.post(CHECK, files={"photo": ("p.jpg", photo)}).status_code == 401
    sign_in(client, "sales")
    r = client.post(CHECK, files={"photo": ("p.jpg", photo)})
    assert r.status_code == 403
    assert "sales" in r.json()["detail"]


def test_check_agrees_with_analyse(shared_analyser: FaceAnalyser, faces: Path) -> None:
    """``check`` and ``analyse`` share one inspection: an ok photo analyses, a refused one
    raises with the same reasons."""
    good = (faces / "people" / "lin_manuel_miranda" / "img1.png").read_bytes()
    assert shared_analyser.check(good).ok
    assert shared_analyser.analyse(good).embedding.vector.shape == (128,)
    two = (faces / "scenes" / "two_people.jpg").read_bytes()
    verdict = shared_analyser.check(two)
    assert not verdict.ok
    with pytest.raises(BadInput) as err:
        shared_analyser.analyse(two, label="photo 3")
    assert err.value.reason == "photo 3: " + verdict.reasons[0]
    with pytest.raises(BadInput, match="not an image"):
        shared_analyser.check(b"GIF89a broken")
