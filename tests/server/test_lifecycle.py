"""Consent lifecycle through the JSON API: see, export, withdraw, forget, renew; staff actions
and their permissions. Real members enrolled from real photos, real database."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, update

from server.app import create_app
from server.cli import main
from server.db.clienteling import Visit
from server.db.membership import (
    ConsentRecord,
    ConsentRenewal,
    CustomerKey,
    Erasure,
    FaceTemplate,
    FaceThumbnail,
)
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services.membership import retention
from server.services.recognition import gallery
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.members import (
    add_history,
    add_staff,
    add_store,
    audit_entries,
    audit_kinds,
    customer_exists,
    enrol_member,
    token,
)

pytestmark = pytest.mark.faces

CONTRACT_KEYS = {
    "profile",
    "consents",
    "purchases",
    "preferences",
    "allergies",
    "visits",
    "templates",
    "recognition",
}


def test_self_service_shows_everything_held_and_no_secret(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    add_history(runtime, member, store)
    r = client.get(f"/api/v1/me/{token(runtime, member)}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    doc = r.json()
    assert set(doc) >= CONTRACT_KEYS
    assert doc["profile"]["name"] == "Barack Obama"
    assert doc["profile"]["email"] == "barack@example.org"
    assert doc["profile"]["home_store"]["code"] == store.code
    assert doc["recognition"] == "active"
    assert [c["status"] for c in doc["consents"]] == ["active"]
    assert len(doc["consents"][0]["text_sha256"]) == 64
    assert {p["product_name"] for p in doc["purchases"]} == {
        "Liquorice allsorts 250 g",
        "Sea-salt caramels",
    }
    assert doc["allergies"][0]["allergen"] == "hazelnut"
    assert doc["preferences"][0]["value"] == "Venco"
    assert len(doc["visits"]) == 1
    assert doc["templates"]["count"] == 2
    assert doc["templates"]["model_id"] == "dlib_resnet_v1"
    assert doc["templates"]["note"] == "stored encrypted; never shown"
    assert doc["thumbnail"]["held"] is True
    assert doc["thumbnail"]["jpeg_base64"].startswith("/9j/")  # a JPEG, the customer's own
    # Nothing internal: no pseudonym, no key material, no ciphertext, no embedding.
    text = r.text
    assert member.subject_id not in text
    with runtime.sessions() as s:
        key = s.get(CustomerKey, member.customer_id)
        assert key is not None
        wrapped = key.wrapped_dek
        ciphertexts = [t.ciphertext for t in s.scalars(select(FaceTemplate))]
    import base64

    for secret in [wrapped, *ciphertexts]:
        assert base64.b64encode(secret).decode()[:24] not in text
        assert secret.hex()[:24] not in text
    vector = runtime.faces.analyse(member.photos[0]).embedding.vector
    assert f"{float(vector[0]):.6f}"[:8] not in text


def test_export_is_a_download_and_audited(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    r = client.get(f"/api/v1/me/{token(runtime, member)}/export")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert r.headers["content-disposition"].endswith('.json"')
    doc = json.loads(r.content)
    assert doc["format"] == "vertrouwd-export/1"
    assert doc["profile"]["name"] == "Barack Obama"
    exported = audit_entries(runtime, "customer.exported")
    assert [e["subject"] for e in exported] == [member.subject_id]
    assert exported[0]["actor"] == "customer:self-service"


def test_withdrawal_destroys_templates_and_key_publishes_and_ends_the_visit(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    other = enrol_member(runtime, store, faces, "biden")
    visit_id = add_history(runtime, member, store)
    with runtime.sessions() as s:
        store_row = s.get(Store, store.id)
        assert store_row is not None
        version_before = store_row.gallery_version
    sign_in(client, "sales")
    with client.websocket_connect("/ws/tablet") as ws:
        assert ws.receive_json()["type"] == "hello"
        r = client.post(f"/api/v1/me/{token(runtime, member)}/withdraw")
        assert r.status_code == 200, r.text
        assert ws.receive_json() == {"type": "visit", "visit_id": visit_id, "status": "expired"}
    body = r.json()
    assert body["status"] == "withdrawn"
    assert body["gallery_versions"] == {store.code: version_before + 1}
    with runtime.sessions() as s:
        assert s.get(CustomerKey, member.customer_id) is None
        assert s.get(CustomerKey, other.customer_id) is not None
        left = s.scalars(
            select(FaceTemplate.customer_id).where(FaceTemplate.customer_id == member.customer_id)
        ).all()
        assert left == []
        assert (
            s.scalars(
                select(FaceThumbnail).where(FaceThumbnail.customer_id == member.customer_id)
            ).all()
            == []
        )
        record = s.get(ConsentRecord, member.consent_id)
        assert record is not None
        assert record.status == "withdrawn"
        assert record.withdrawn_at is not None
        visit = s.get(Visit, visit_id)
        assert visit is not None
        assert visit.status == "expired"
        # The store's gallery now holds the other member only.
        row = s.get(Store, store.id)
        assert row is not None
        members = gallery.member_templates(s, kek=runtime.kek, now=runtime.now(), store=row)
        assert [m.subject_id for m in members] == [other.subject_id]
    kinds = audit_kinds(runtime, member.subject_id)
    assert kinds.count("consent.withdrawn") == 1
    assert "template.destroyed" in kinds
    assert "key.destroyed" in kinds
    published = audit_entries(runtime, "gallery.published")
    assert published[-1]["data"]["reason"] == "withdrawal"
    assert published[-1]["data"]["members"] == 1

    # Twice: same answer, same state, still one audit entry.
    again = client.post(f"/api/v1/me/{token(runtime, member)}/withdraw")
    assert again.status_code == 200
    assert again.json() == body
    assert audit_kinds(runtime, member.subject_id).count("consent.withdrawn") == 1
    view = client.get(f"/api/v1/me/{token(runtime, member)}").json()
    assert view["recognition"] == "withdrawn"
    assert view["templates"]["count"] == 0
    assert view["thumbnail"]["held"] is False
    assert view["purchases"]  # withdrawal keeps the profile; only "forget me" erases it


def test_forget_me_erases_and_the_link_then_finds_nothing(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    add_history(runtime, member, store)
    link = token(runtime, member)
    r = client.post(f"/api/v1/me/{link}/forget")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "erased"}
    assert not customer_exists(runtime, member.customer_id)
    for path in ("", "/export"):
        gone = client.get(f"/api/v1/me/{link}{path}")
        assert gone.status_code == 404
        assert gone.json()["detail"] == "nothing is held under this link"
    assert client.post(f"/api/v1/me/{link}/forget").status_code == 404
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, member.consent_id)
        assert record is not None  # the proof that a consent existed and ended...
        assert record.status == "erased"
        assert record.customer_id is None  # ...naming nobody
        erasure = s.scalars(select(Erasure)).one()
        assert erasure.counts["customers"] == 1
        assert erasure.counts["purchases"] == 2
        assert erasure.counts["face_templates"] == 2
        assert erasure.counts["customer_keys"] == 1
        assert erasure.counts["visits"] == 1
        assert erasure.channel == "portal"
    erased = audit_entries(runtime, "customer.erased")
    assert [e["subject"] for e in erased] == [member.subject_id]


def test_bad_or_expired_link_is_one_opaque_401(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    good = token(runtime, member)
    tampered = good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB")
    reasons = set()
    for bad in (tampered, good[: len(good) // 2], "not-a-token"):
        r = client.get(f"/api/v1/me/{bad}")
        assert r.status_code == 401
        reasons.add(r.json()["detail"])
    expired_at = runtime.now() + timedelta(days=runtime.settings.self_service_ttl_days, seconds=1)
    runtime.clock = lambda: expired_at
    r = client.get(f"/api/v1/me/{good}")
    assert r.status_code == 401
    reasons.add(r.json()["detail"])
    assert len(reasons) == 1


def test_renewal_moves_templates_to_a_new_consent(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    later = runtime.now() + timedelta(days=300)
    runtime.clock = lambda: later
    sign_in(client, "cashier")
    r = client.post(f"/api/v1/customers/{member.customer_id}/renew")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["previous_consent_id"] == member.consent_id
    with runtime.sessions() as s:
        new = s.get(ConsentRecord, body["consent_id"])
        old = s.get(ConsentRecord, member.consent_id)
        assert new is not None
        assert old is not None
        assert new.status == "active"
        assert new.expires_at > old.expires_at
        assert new.given_at == later
        assert old.status == "expired"
        assert old.withdrawn_at == later
        assert s.get(ConsentRenewal, old.id) is not None
        consent_ids = set(s.scalars(select(FaceTemplate.consent_id)))
        assert consent_ids == {new.id}
        thumbs = set(s.scalars(select(FaceThumbnail.consent_id)))
        assert thumbs == {new.id}
        members = gallery.member_templates(s, kek=runtime.kek, now=later)
        assert [m.subject_id for m in members] == [member.subject_id]
        assert members[0].vectors.shape == (2, 128)
        assert np.isfinite(members[0].vectors).all()
    assert "consent.renewed" in audit_kinds(runtime, member.subject_id)
    doc = client.get(f"/api/v1/me/{token(runtime, member)}").json()
    assert [c["status"] for c in doc["consents"]] == ["expired", "active"]
    assert doc["consents"][0]["renewed_by"] == body["consent_id"]
    # After the consent has ended there is nothing to renew: enrol again.
    client.post(f"/api/v1/customers/{member.customer_id}/withdraw")
    r = client.post(f"/api/v1/customers/{member.customer_id}/renew")
    assert r.status_code == 409
    assert "enrol again" in r.json()["detail"]


def test_staff_actions_need_the_right_role_and_store_and_refusals_are_audited(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    elsewhere = add_store(runtime, "zwolle")
    add_staff(runtime, "kassa-zwolle", "cashier", elsewhere.id)
    add_staff(runtime, "privacy", "privacy_officer", None)
    for username, action, expect in (
        ("sales", "withdraw", 403),
        ("sales", "erase", 403),
        ("kassa-zwolle", "erase", 403),
        ("kassa-zwolle", "renew", 403),
    ):
        sign_in(client, username)
        r = client.post(f"/api/v1/customers/{member.customer_id}/{action}")
        assert r.status_code == expect, (username, action, r.text)
    sign_in(client, "cashier")
    r = client.post("/api/v1/customers/0123456789abcdef0123456789abcdef/erase")
    assert r.status_code == 404
    denied = audit_entries(runtime, "access.denied")
    assert len(denied) == 5
    assert [d["actor"] for d in denied[:4]] == [
        "staff:sales",
        "staff:sales",
        "staff:kassa-zwolle",
        "staff:kassa-zwolle",
    ]
    assert {d["subject"] for d in denied[:4]} == {member.subject_id}
    assert denied[4]["subject"] is None
    assert denied[4]["data"] == {
        "what": "customer",
        "role": "cashier",
        "store_id": store.id,
        "action": "erase",
        "found": False,
    }
    assert customer_exists(runtime, member.customer_id)
    assert "consent.withdrawn" not in audit_kinds(runtime, member.subject_id)

    sign_in(client, "privacy")
    r = client.post(f"/api/v1/customers/{member.customer_id}/withdraw")
    assert r.status_code == 200
    assert r.json()["status"] == "withdrawn"
    sign_in(client, "cashier")
    r = client.post(f"/api/v1/customers/{member.customer_id}/erase")
    assert r.status_code == 200
    assert r.json()["status"] == "erased"
    assert not customer_exists(runtime, member.customer_id)


def test_search_finds_customers_of_the_own_store_with_public_fields_only(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    obama = enrol_member(runtime, store, faces)
    elsewhere = add_store(runtime, "zwolle")
    biden = enrol_member(runtime, elsewhere, faces, "biden")
    sign_in(client, "cashier")
    r = client.get("/api/v1/customers", params={"q": "obam"})
    assert r.status_code == 200, r.text
    found = r.json()
    assert [c["id"] for c in found] == [obama.customer_id]
    assert set(found[0]) == {
        "id",
        "name",
        "preferred_name",
        "email",
        "loyalty_id",
        "language",
        "home_store",
        "recognition",
        "membership",
        "consent_expires_at",  # face or pass (issue 12)
    }
    assert found[0]["recognition"] == "active"
    assert found[0]["membership"] == "face"
    assert obama.subject_id not in r.text
    assert client.get("/api/v1/customers", params={"q": "joe@example"}).json() == []
    assert client.get("/api/v1/customers", params={"q": "%"}).status_code == 422
    assert client.get("/api/v1/customers", params={"q": "%_"}).json() == []
    sign_in(client, "sales")
    assert client.get("/api/v1/customers", params={"q": "obama"}).status_code == 403
    add_staff(runtime, "kassa-zwolle", "cashier", elsewhere.id)
    sign_in(client, "kassa-zwolle")
    found = client.get("/api/v1/customers", params={"q": "BIDEN"}).json()
    assert [c["id"] for c in found] == [biden.customer_id]


# -- expiry and the retention limit (injected clock) ------------------------------------------


def test_retention_job_expires_consents_and_destroys_their_templates(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    other = enrol_member(runtime, store, faces, "biden", consent_months=24)
    add_history(runtime, member, store)
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, member.consent_id)
        assert record is not None
        expires_at = record.expires_at
    # The day before: nothing happens.
    with transaction(runtime.sessions) as s:
        report = retention.run(s, now=expires_at - timedelta(seconds=1), retention_years=3)
    assert not report.changed
    assert report.gallery_versions == {}
    # At expiry: data key, templates and thumbnail go, the consent ends, galleries move on.
    after = expires_at + timedelta(seconds=1)
    with transaction(runtime.sessions) as s:
        report = retention.run(s, now=after, retention_years=3)
    assert (report.expired, report.purged, report.templates_destroyed) == (1, 0, 2)
    assert list(report.gallery_versions) == [store.code]
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, member.consent_id)
        assert record is not None
        assert (record.status, record.withdrawn_at) == ("expired", after)
        assert s.get(CustomerKey, member.customer_id) is None
        assert s.get(CustomerKey, other.customer_id) is not None
        assert s.scalars(select(FaceTemplate.customer_id)).all() == [other.customer_id] * 2
        assert s.scalars(select(FaceThumbnail.customer_id)).all() == [other.customer_id]
    kinds = audit_kinds(runtime, member.subject_id)
    assert "consent.expired" in kinds
    assert "template.destroyed" in kinds
    assert audit_entries(runtime, "gallery.published")[-1]["data"]["reason"] == "expiry"
    # Idempotent: a second pass finds nothing to do.
    with transaction(runtime.sessions) as s:
        assert not retention.run(s, now=after, retention_years=3).changed
    runtime.clock = lambda: after
    doc = client.get(f"/api/v1/me/{token(runtime, member)}").json()
    assert doc["recognition"] == "expired"
    assert doc["templates"]["count"] == 0
    assert doc["profile"]["name"] == member.name  # expiry ends recognition, not the membership


def test_no_template_outlives_the_retention_limit_whatever_the_consent_says(
    runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    """36-month consent, 1-year retention: 13 months without a visit ends recognition."""
    start = runtime.now()
    member = enrol_member(runtime, store, faces, consent_months=36, now=start)
    month_12 = start + timedelta(days=364)
    with transaction(runtime.sessions) as s:
        assert not retention.run(s, now=month_12, retention_years=1).changed
    month_13 = start + timedelta(days=396)
    with transaction(runtime.sessions) as s:
        report = retention.run(s, now=month_13, retention_years=1)
    assert (report.expired, report.purged, report.templates_destroyed) == (0, 1, 2)
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, member.consent_id)
        assert record is not None
        assert record.status == "expired"
        assert record.expires_at > month_13  # the consent had not run out: the limit did it
        assert s.get(CustomerKey, member.customer_id) is None
    purged = audit_entries(runtime, "retention.purged")
    assert [(p["subject"], p["data"]["retention_years"]) for p in purged] == [
        (member.subject_id, 1)
    ]


def test_a_data_key_without_an_active_consent_is_destroyed(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    assert client.post(f"/api/v1/me/{token(runtime, member)}/withdraw").status_code == 200
    with transaction(runtime.sessions) as s:  # e.g. restored from an old backup
        s.add(CustomerKey(customer_id=member.customer_id, wrapped_dek=b"x" * 60, kek_id="old"))
    with transaction(runtime.sessions) as s:
        report = retention.run(s, now=runtime.now(), retention_years=3)
    assert report.orphan_keys == 1
    with runtime.sessions() as s:
        assert s.get(CustomerKey, member.customer_id) is None


def test_retention_can_be_configured_down_never_up(data_dir: Path) -> None:
    assert ServerSettings(data_dir=data_dir, retention_years=1).retention_years == 1
    assert ServerSettings(data_dir=data_dir).retention_years == 3
    with pytest.raises(ValidationError, match="less than or equal to 3"):
        ServerSettings(data_dir=data_dir, retention_years=4)
    with pytest.raises(ValidationError):
        ServerSettings(data_dir=data_dir, retention_interval_s=10)  # bounded: not a busy loop


def test_the_server_runs_the_retention_job_itself(
    settings: ServerSettings, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, member.consent_id)
        assert record is not None
        later = record.expires_at + timedelta(minutes=1)
    runtime.clock = lambda: later
    with TestClient(create_app(settings, runtime=runtime)):
        deadline = time.monotonic() + 30
        while True:  # the job's first pass runs at start-up; poll its visible effect
            with runtime.sessions() as s:
                record = s.get(ConsentRecord, member.consent_id)
                assert record is not None
                if record.status == "expired":
                    break
            assert time.monotonic() < deadline, "the retention job did not run"
            time.sleep(0.05)
    assert "consent.expired" in audit_kinds(runtime, member.subject_id)


def test_retention_run_command(
    runtime: Runtime,
    settings: ServerSettings,
    store: StoreFixture,
    faces: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    member = enrol_member(runtime, store, faces)
    with transaction(runtime.sessions) as s:  # a consent that ran out yesterday
        s.execute(
            update(ConsentRecord)
            .where(ConsentRecord.id == member.consent_id)
            .values(expires_at=runtime.now() - timedelta(days=1))
        )
    args = ["retention", "run", "--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    assert main(args) == 0
    assert "1 consents expired" in capsys.readouterr().out
    with runtime.sessions() as s:
        assert s.get(CustomerKey, member.customer_id) is None
