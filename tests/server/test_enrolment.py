"""Enrolment through the register API: real models on real photos, real SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.db.audit import AuditEntry
from server.db.membership import ConsentRecord, Customer, CustomerKey, FaceTemplate, FaceThumbnail
from server.db.stores import Store
from server.runtime import Runtime
from tests.server.conftest import StoreFixture, sign_in

# the subject is the analysis of enrolment photos: the models run on every photo
pytestmark = pytest.mark.face_analysis

STORED = (Customer, CustomerKey, ConsentRecord, FaceTemplate, FaceThumbnail, AuditEntry)


def counts(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0 for m in STORED}


def enrol(client: TestClient, name: str, photos: list[tuple[str, bytes]], **form: str):  # type: ignore[no-untyped-def]
    data = {
        "name": name,
        "preferred_name": name.split()[0],
        "language": "en",
        "consent_confirmed": "true",
        "confirmation_name": name,
    }
    data.update(form)
    return client.post(
        "/api/v1/enrolments", data=data, files=[("photos", (n, b)) for n, b in photos]
    )


def photos_of(faces: Path, who: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((faces / "people" / who).iterdir())]


@pytest.mark.faces
def test_enrolment_stores_only_encrypted_templates_and_publishes(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    sign_in(client, "cashier")
    photos = photos_of(faces, "obama")
    r = enrol(client, "Barack Obama", photos)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["templates"] == 2
    assert "/me/" in body["self_service_url"]
    with runtime.sessions() as s:
        customer = s.get(Customer, body["customer_id"])
        assert customer is not None
        templates = list(s.scalars(select(FaceTemplate)))
        assert len(templates) == 2
        # ciphertext only: no float32 vector and no photo bytes in the row
        for t in templates:
            assert len(t.ciphertext) < 128 * 4 + 64
            assert photos[0][1][:64] not in t.ciphertext
        record = s.scalar(select(ConsentRecord))
        assert record is not None
        assert record.status == "active"
        assert record.channel == "register"
        assert record.collected_by == "cashier"
        assert len(record.text_sha256) == 64
        row = s.get(Store, store.id)
        assert row is not None
        assert row.gallery_version >= 1
        kinds = [e.kind for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert "consent.given" in kinds
        assert "template.created" in kinds
        assert "gallery.published" in kinds


@pytest.mark.faces
def test_duplicate_face_is_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    sign_in(client, "cashier")
    obama = photos_of(faces, "obama")
    assert enrol(client, "Barack Obama", obama[:1]).status_code == 201
    before = counts(runtime)
    r = enrol(client, "Someone Else", obama[1:])
    assert r.status_code == 409
    assert "already enrolled" in r.json()["detail"]
    assert counts(runtime) == before


@pytest.mark.faces
@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("not-an-image", "not an image"),
        ("no-face", "no face"),
        ("two-faces", "2 faces"),
        ("consent-missing", "consent was not confirmed"),
        ("name-mismatch", "does not match"),
    ],
)
def test_bad_enrolments_get_a_reason_and_store_nothing(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, case: str, expect: str
) -> None:
    sign_in(client, "cashier")
    obama = photos_of(faces, "obama")
    form: dict[str, str] = {}
    photos = obama
    if case == "not-an-image":
        photos = [("notes.jpg", b"this is a text file, not a JPEG\n" * 50)]
    elif case == "no-face":
        import cv2
        import numpy as np

        blank = np.full((400, 400, 3), 200, np.uint8)
        photos = [("wall.png", cv2.imencode(".png", blank)[1].tobytes())]
    elif case == "two-faces":
        photos = [("two.jpg", (faces / "scenes" / "two_people.jpg").read_bytes())]
    elif case == "consent-missing":
        form["consent_confirmed"] = "false"
    elif case == "name-mismatch":
        form["confirmation_name"] = "Somebody Else"
    before = counts(runtime)
    r = enrol(client, "Barack Obama", photos, **form)
    assert 400 <= r.status_code < 500, r.text
    assert expect in r.json()["detail"]
    assert counts(runtime) == before


def test_enrolment_needs_a_cashier(client: TestClient, store: StoreFixture) -> None:
    r = client.post("/api/v1/enrolments", data={"name": "x"})
    assert r.status_code == 401
    sign_in(client, "sales")
    r = enrol(client, "Barack Obama", [("a.jpg", b"x")])
    assert r.status_code == 403
