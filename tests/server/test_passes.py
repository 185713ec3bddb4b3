"""Membership without a face and the pass (issue 12), on the server: enrolment with no photo,
its own consent text, a pass whose digest alone is stored, the gallery a pass-mode store ships,
pass arrivals and every way one is refused, switching face -> pass-only and back, re-issuing.

Privacy invariants proven here (each a test below):
* a no-face member has zero template (and thumbnail) rows;
* a pass-mode gallery contains zero templates;
* a pass of a withdrawn or erased member is refused;
* a pass replayed after a re-issue, a forged pass and another store's pass are refused;
* a face arrival at a pass store, a pass arrival at a door store are refused.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.gallery import MemberZone, OpenedGallery, open_gallery
from consent.passes import parse_pass_token, pass_digest
from consent.records import (
    CURRENT_PASS_CONSENT_VERSION,
    LANGUAGES,
    consent_text,
    current_pass_consent_text,
)
from consent.signing import load_public_key, public_key_bytes
from server.db.base import Base
from server.db.clienteling import Visit
from server.db.membership import (
    ConsentRecord,
    ConsentRenewal,
    CustomerKey,
    FaceTemplate,
    FaceThumbnail,
    MemberPass,
)
from server.db.recognition import GalleryPublication
from server.db.session import transaction
from server.runtime import Runtime
from server.services.errors import BadInput
from server.services.membership import enrolment, lifecycle
from server.services.recognition import devices, golive
from tests.server.conftest import PASSWORD, StoreFixture, sign_in
from tests.server.members import (
    PEOPLE,
    audit_entries,
    enrol_member,
    new_link,
    photos,
    register_device,
)

pytestmark = pytest.mark.faces


# -- helpers -----------------------------------------------------------------------------------


def set_mode(rt: Runtime, store: StoreFixture, mode: str) -> int:
    with transaction(rt.sessions) as session:
        return golive.go_live(
            session,
            rt.context(),
            store=devices.store_by_code(session, store.code),
            dpia_reference="DPIA-P-1",
            signage_confirmed=True,
            zone=MemberZone(0.25, 0.2, 0.5, 0.7, 160),
            mode=mode,
            door_acknowledged=mode == "door",
            actor="test",
        )


def enrol_pass_member(
    rt: Runtime, store: StoreFixture, name: str = "Fenna Visser", *, language: str = "en"
) -> enrolment.EnrolmentResult:
    with transaction(rt.sessions) as session:
        return enrolment.enrol(
            session,
            rt.context(),
            request=enrolment.EnrolmentRequest(
                name=name,
                preferred_name=name.split()[0],
                language=language,
                photos=(),
                consent_confirmed=True,
                confirmation_name=name,
                channel="register",
                collected_by="cashier",
                membership="pass",
            ),
            store=devices.store_by_code(session, store.code),
            analyser=rt.faces,
            threshold=rt.threshold,
        )


def count(rt: Runtime, model: type[Base], **where: Any) -> int:
    with rt.sessions() as s:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return int(s.scalar(stmt) or 0)


def fetch(client: TestClient, rt: Runtime, device: tuple[str, str, Any]) -> OpenedGallery:
    device_id, token, keys = device
    r = client.get("/api/v1/device/gallery", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return open_gallery(
        r.content,
        device_keys=keys,
        device_id=device_id,
        server_public_key=load_public_key(public_key_bytes(rt.signing_key)),
        min_version=0,
        now=rt.now(),
    )


def pass_event(
    subject_id: str, token: str, *, face_verified: bool | None = None, event_id: str = ""
) -> dict[str, Any]:
    return {
        "id": event_id or f"p-{secrets.token_hex(8)}",
        "kind": "arrival",
        "subject_id": subject_id,
        "at": datetime.now(UTC).isoformat(),
        "score": 0.0,
        "margin": None,
        "frames": 2,
        "method": "pass",
        "pass_digest": pass_digest(token),
        "face_verified": face_verified,
    }


def face_event(subject_id: str) -> dict[str, Any]:
    return {
        "id": f"f-{secrets.token_hex(8)}",
        "kind": "arrival",
        "subject_id": subject_id,
        "at": datetime.now(UTC).isoformat(),
        "score": 0.38,
        "margin": 0.2,
        "frames": 3,
    }


def post(client: TestClient, device_token: str, *events: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/device/events",
        headers={"Authorization": f"Bearer {device_token}"},
        json={"events": list(events)},
    )


def visits(rt: Runtime, customer_id: str) -> list[Visit]:
    with rt.sessions() as s:
        return list(s.scalars(select(Visit).where(Visit.customer_id == customer_id)))


def all_text(rt: Runtime) -> str:
    """Every value of every row of every table, as text (to prove a token is stored nowhere)."""
    out: list[str] = []
    with rt.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                out.extend(str(v) for v in row)
    return "\n".join(out)


# -- membership without a face -----------------------------------------------------------------


def test_the_pass_consent_text_is_versioned_hashed_and_says_nothing_biometric() -> None:
    for lang in LANGUAGES:
        text = current_pass_consent_text(lang)
        assert text.version == CURRENT_PASS_CONSENT_VERSION
        assert consent_text(text.version, lang) == text
        raw = (Path("consent/texts") / f"{text.version}.{lang}.md").read_bytes()
        assert text.sha256 == hashlib.sha256(raw).hexdigest()
        words = f"{text.title}\n{text.body}".lower()
        for forbidden in ("face", "gezicht", "biometr", "template", "fingerprint"):
            assert forbidden not in words, (lang, forbidden)
        assert "pas" in words


def test_a_member_without_a_face_has_no_template_rows_and_only_the_pass_digest_is_stored(
    runtime: Runtime, store: StoreFixture
) -> None:
    result = enrol_pass_member(runtime, store)
    assert result.templates == 0
    assert result.membership == "pass"
    assert count(runtime, FaceTemplate, customer_id=result.customer_id) == 0
    assert count(runtime, FaceThumbnail, customer_id=result.customer_id) == 0
    token = parse_pass_token(result.pass_token)
    assert token is not None
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, result.consent_id)
        assert record is not None
        assert record.text_version == CURRENT_PASS_CONSENT_VERSION
        assert record.text_sha256 == current_pass_consent_text("en").sha256
        assert "no biometric" in record.purpose
        rows = list(s.scalars(select(MemberPass)))
        assert [(r.customer_id, r.digest) for r in rows] == [
            (result.customer_id, pass_digest(token))
        ]
        assert s.get(CustomerKey, result.customer_id) is not None  # the same rights and keys
    dump = all_text(runtime)
    assert token not in dump
    assert token.replace("-", "") not in dump
    given = [
        e for e in audit_entries(runtime, "consent.given") if e["subject"] == result.subject_id
    ]
    assert given[0]["data"]["membership"] == "pass"
    assert not [
        e for e in audit_entries(runtime, "template.created") if e["subject"] == result.subject_id
    ]
    assert [e["data"] for e in audit_entries(runtime, "pass.issued")] == [{"reason": "enrolment"}]


def test_photos_are_refused_for_a_membership_without_a_face(
    runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    with (
        pytest.raises(BadInput, match="takes no photos"),
        transaction(runtime.sessions) as session,
    ):
        enrolment.enrol(
            session,
            runtime.context(),
            request=enrolment.EnrolmentRequest(
                name="Fenna Visser",
                preferred_name="Fenna",
                language="nl",
                photos=photos(faces, "obama")[:1],
                consent_confirmed=True,
                confirmation_name="Fenna Visser",
                channel="register",
                collected_by="cashier",
                membership="pass",
            ),
            store=devices.store_by_code(session, store.code),
            analyser=runtime.faces,
            threshold=runtime.threshold,
        )
    assert count(runtime, ConsentRecord) == 0


def test_the_register_api_enrols_without_photos_and_answers_the_pass_once(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    sign_in(client, "cashier")
    r = client.post(
        "/api/v1/enrolments",
        data={
            "name": "Fenna Visser",
            "confirmation_name": "Fenna Visser",
            "consent_confirmed": "true",
            "membership": "pass",
            "language": "nl",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["membership"] == "pass"
    assert body["templates"] == 0
    assert parse_pass_token(body["pass_token"]) == body["pass_token"]
    assert count(runtime, FaceTemplate) == 0
    # a face membership without photos is still refused, as before
    r = client.post(
        "/api/v1/enrolments",
        data={"name": "Gert Jansen", "confirmation_name": "Gert Jansen", "consent_confirmed": "1"},
    )
    assert r.status_code == 422
    assert "photo" in r.text


# -- galleries per mode ------------------------------------------------------------------------


def test_a_pass_mode_gallery_contains_zero_templates_and_the_active_passes(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    face = enrol_member(runtime, store, faces, "obama")
    plain = enrol_pass_member(runtime, store)
    device = register_device(client, runtime, store)
    with runtime.sessions() as s:
        digests = {
            r.customer_id: r.digest
            for r in s.scalars(select(MemberPass).where(MemberPass.revoked_at.is_(None)))
        }

    set_mode(runtime, store, "pass")
    opened = fetch(client, runtime, device).payload
    assert opened.mode == "pass"
    assert opened.entries == ()
    assert {(p.digest, p.subject_id) for p in opened.passes} == {
        (digests[face.customer_id], face.subject_id),
        (digests[plain.customer_id], plain.subject_id),
    }

    set_mode(runtime, store, "pass+face")
    opened = fetch(client, runtime, device).payload
    assert opened.mode == "pass+face"
    assert [e.subject_id for e in opened.entries] == [face.subject_id]  # only the face member
    assert len(opened.passes) == 2

    set_mode(runtime, store, "checkin")
    opened = fetch(client, runtime, device).payload
    assert opened.mode == "checkin"
    assert opened.passes == ()
    assert [e.subject_id for e in opened.entries] == [face.subject_id]


def test_switching_mode_publishes_a_gallery_version_the_device_sees(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    device = register_device(client, runtime, store)
    before = fetch(client, runtime, device).manifest.version
    version = set_mode(runtime, store, "pass")
    assert version == before + 1
    assert fetch(client, runtime, device).manifest.version == version
    with runtime.sessions() as s:
        reasons = list(
            s.scalars(select(GalleryPublication.reason).order_by(GalleryPublication.version))
        )
    assert reasons[-1] == "go-live"  # first recorded mode of the store
    assert set_mode(runtime, store, "checkin") == version + 1
    with runtime.sessions() as s:
        assert (
            s.scalars(
                select(GalleryPublication.reason).order_by(GalleryPublication.version.desc())
            ).first()
            == "mode-change"
        )


# -- pass arrivals -----------------------------------------------------------------------------


def test_a_pass_arrival_makes_a_visit_and_a_card_marked_pass_without_a_photo(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    set_mode(runtime, store, "pass+face")
    face = enrol_member(runtime, store, faces, "obama")
    plain = enrol_pass_member(runtime, store)
    _, token, _ = register_device(client, runtime, store)
    with transaction(runtime.sessions) as session:  # the face member's pass, re-issued
        from server.services.membership import kinds as membership

        face_token = membership.reissue_pass(
            session,
            runtime.context(),
            customer_id=face.customer_id,
            actor="test",
        ).token
    r = post(
        client,
        token,
        pass_event(plain.subject_id, plain.pass_token),
        pass_event(face.subject_id, face_token, face_verified=False),
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2, "duplicates": 0, "refused": 0}
    [v1] = visits(runtime, plain.customer_id)
    [v2] = visits(runtime, face.customer_id)
    assert (v1.method, v1.face_verified) == ("pass", None)
    assert (v2.method, v2.face_verified) == ("pass", False)

    sign_in(client, "sales")
    cards = {c["visit_id"]: c for c in client.get("/api/v1/visits/live").json()}
    assert cards[v1.id]["method"] == "pass"
    assert cards[v1.id]["thumbnail"] is None
    assert cards[v2.id]["method"] == "pass"
    assert cards[v2.id]["face_verified"] is False
    assert cards[v2.id]["thumbnail"] is None  # no face photo on a pass card, even with a face


def refused(r: Any, reason: str) -> None:
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"], r.text


def test_forged_replayed_and_other_store_passes_are_refused_and_make_no_visit(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    set_mode(runtime, store, "pass")
    member = enrol_pass_member(runtime, store)
    _, token, _ = register_device(client, runtime, store)

    # forged: a well-formed token that was never issued
    from consent.passes import new_pass_token

    refused(post(client, token, pass_event(member.subject_id, new_pass_token())), "unknown pass")

    # replayed after a re-issue: the old pass is revoked, the new one works
    link = new_link(runtime, member.customer_id)
    r = client.post(f"/api/v1/me/{link}/pass")
    assert r.status_code == 200, r.text
    new_token = r.json()["pass_token"]
    assert "<svg" in r.json()["qr_svg"]
    refused(post(client, token, pass_event(member.subject_id, member.pass_token)), "revoked pass")
    assert visits(runtime, member.customer_id) == []
    assert [e["data"]["reason"] for e in audit_entries(runtime, "pass.revoked")] == ["reissued"]

    # another member's subject id with this pass
    refused(post(client, token, pass_event("s_" + "1" * 32, new_token)), "another member")

    # another store's pass: a member of "elsewhere" shows their pass here
    with transaction(runtime.sessions) as session:
        other = devices.create_store(session, code="elsewhere", name="Elsewhere", now=runtime.now())
        other_fixture = StoreFixture(other.id, other.code)
    set_mode(runtime, other_fixture, "pass")
    stranger = enrol_pass_member(runtime, other_fixture, "Hanna Smit")
    refused(
        post(client, token, pass_event(stranger.subject_id, stranger.pass_token)),
        "not an active member of this store",
    )
    assert visits(runtime, stranger.customer_id) == []

    # in pass mode no face is checked
    refused(
        post(client, token, pass_event(member.subject_id, new_token, face_verified=True)),
        "no face is checked",
    )
    # the current pass works; one bad event in the same request does not fail it
    r = post(
        client,
        token,
        pass_event(member.subject_id, new_token),
        pass_event(member.subject_id, new_pass_token()),
    )
    refused(r, "1 of 2 events refused (1 accepted)")
    assert len(visits(runtime, member.customer_id)) == 1


def test_a_pass_of_a_withdrawn_or_erased_member_is_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    set_mode(runtime, store, "pass")
    withdrawn = enrol_pass_member(runtime, store, "Ida Bos")
    erased = enrol_pass_member(runtime, store, "Jan Mulder")
    _, token, _ = register_device(client, runtime, store)
    with transaction(runtime.sessions) as session:
        lifecycle.withdraw(
            session,
            runtime.context(),
            customer_id=withdrawn.customer_id,
            actor="t",
            channel="register",
        )
    with transaction(runtime.sessions) as session:
        lifecycle.erase(
            session,
            runtime.context(),
            customer_id=erased.customer_id,
            actor="t",
            channel="register",
        )
    assert count(runtime, MemberPass) == 1  # erasure deleted Jan's; Ida's is kept, revoked
    refused(
        post(client, token, pass_event(withdrawn.subject_id, withdrawn.pass_token)), "revoked pass"
    )
    refused(post(client, token, pass_event(erased.subject_id, erased.pass_token)), "unknown pass")
    assert count(runtime, Visit) == 0


def test_the_method_must_be_one_the_stores_mode_takes(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    face = enrol_member(runtime, store, faces, "obama")
    _, token, _ = register_device(client, runtime, store)
    with runtime.sessions() as s:
        digest = s.scalars(select(MemberPass.digest)).one()
    from consent.passes import new_pass_token

    event = {**pass_event(face.subject_id, new_pass_token()), "pass_digest": digest}
    set_mode(runtime, store, "checkin")
    refused(post(client, token, event), "does not take passes")
    set_mode(runtime, store, "pass")
    refused(post(client, token, face_event(face.subject_id)), "by pass only")
    assert count(runtime, Visit) == 0
    set_mode(runtime, store, "pass+face")
    refused(post(client, token, face_event(face.subject_id)), "by pass only")
    r = post(client, token, {**event, "face_verified": True, "id": "p-ok-000001"})
    assert r.status_code == 202, r.text
    assert [v.face_verified for v in visits(runtime, face.customer_id)] == [True]


def test_face_verified_for_a_member_without_a_face_is_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    set_mode(runtime, store, "pass+face")
    member = enrol_pass_member(runtime, store)
    _, token, _ = register_device(client, runtime, store)
    refused(
        post(client, token, pass_event(member.subject_id, member.pass_token, face_verified=True)),
        "without a face",
    )
    r = post(client, token, pass_event(member.subject_id, member.pass_token))
    assert r.status_code == 202, r.text


# -- switching kind of membership --------------------------------------------------------------


def test_switching_to_pass_only_from_me_destroys_the_face_and_publishes(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces, "obama")
    assert count(runtime, FaceTemplate, customer_id=member.customer_id) > 0
    device = register_device(client, runtime, store)
    before = fetch(client, runtime, device)
    assert [e.subject_id for e in before.payload.entries] == [member.subject_id]
    link = new_link(runtime, member.customer_id)

    r = client.post(f"/api/v1/me/{link}/membership/pass")
    assert r.status_code == 200, r.text
    assert r.json()["gallery_versions"] == {store.code: before.manifest.version + 1}
    assert count(runtime, FaceTemplate, customer_id=member.customer_id) == 0
    assert count(runtime, FaceThumbnail, customer_id=member.customer_id) == 0
    after = fetch(client, runtime, device)
    assert after.payload.entries == ()
    with runtime.sessions() as s:
        records = {
            r.status: r
            for r in s.scalars(
                select(ConsentRecord).where(ConsentRecord.customer_id == member.customer_id)
            )
        }
        assert records["withdrawn"].id == member.consent_id
        assert records["active"].text_version == CURRENT_PASS_CONSENT_VERSION
        link_row = s.get(ConsentRenewal, member.consent_id)
        assert link_row is not None
        assert link_row.renewed_by == records["active"].id
        assert s.get(CustomerKey, member.customer_id) is not None  # profile stays readable
    destroyed = audit_entries(runtime, "template.destroyed")[-1]
    assert destroyed["subject"] == member.subject_id
    assert destroyed["data"]["reason"] == "switched to membership without a face"
    # twice: a clear refusal, nothing changes
    r = client.post(f"/api/v1/me/{link}/membership/pass")
    assert r.status_code == 409


def test_a_pass_only_member_adds_a_face_at_the_register(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    plain = enrol_pass_member(runtime, store, PEOPLE["biden"][0])
    with runtime.sessions() as s:
        key_before = s.get(CustomerKey, plain.customer_id)
        assert key_before is not None
        wrapped = key_before.wrapped_dek
    sign_in(client, "cashier")
    name = PEOPLE["biden"][0]
    files = [
        ("photos", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos(faces, "biden"))
    ]
    r = client.post(
        "/api/v1/enrolments",
        data={
            "name": name,
            "confirmation_name": name,
            "consent_confirmed": "true",
            "customer_id": plain.customer_id,
            "membership": "face",
            "language": "en",
        },
        files=files,
    )
    assert r.status_code == 201, r.text
    assert r.json()["templates"] > 0
    new_token = r.json()["pass_token"]
    assert new_token != plain.pass_token
    assert count(runtime, FaceTemplate, customer_id=plain.customer_id) > 0
    with runtime.sessions() as s:
        statuses = sorted(
            (r.status, r.text_version)
            for r in s.scalars(
                select(ConsentRecord).where(ConsentRecord.customer_id == plain.customer_id)
            )
        )
        assert statuses == [("active", "2026-11-v1"), ("expired", CURRENT_PASS_CONSENT_VERSION)]
        key = s.get(CustomerKey, plain.customer_id)
        assert key is not None
        assert key.wrapped_dek == wrapped
        active = s.scalars(
            select(MemberPass).where(
                MemberPass.customer_id == plain.customer_id, MemberPass.revoked_at.is_(None)
            )
        ).one()
        assert active.digest == pass_digest(new_token)
    # an active face member is still told to renew
    r = client.post(
        "/api/v1/enrolments",
        data={"name": name, "confirmation_name": name, "consent_confirmed": "true",
              "customer_id": plain.customer_id, "membership": "face"},
        files=files,
    )  # fmt: skip
    assert r.status_code == 409


def test_renewing_a_pass_membership_keeps_it_without_a_face(
    runtime: Runtime, store: StoreFixture
) -> None:
    plain = enrol_pass_member(runtime, store)
    with transaction(runtime.sessions) as session:
        result = lifecycle.renew(
            session,
            runtime.context(),
            customer_id=plain.customer_id,
            actor="t",
            channel="register",
            collected_by="cashier",
        )
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, result.consent_id)
        assert record is not None
        assert record.text_version == CURRENT_PASS_CONSENT_VERSION
        assert "no biometric" in record.purpose


def test_cli_enrol_without_photos_is_a_membership_without_a_face(
    runtime: Runtime, store: StoreFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli import main

    settings = runtime.settings
    args = ["--data-dir", str(settings.data_dir), "--store", store.code, "--consent-confirmed"]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    assert main(["enrol", "--name", "Kees de Boer", "--language", "en", *args]) == 0
    out = capsys.readouterr().out
    assert "0 templates" in out
    token = out.split("membership pass (pass): ")[1].split()[0]
    assert parse_pass_token(token) == token
    assert count(runtime, FaceTemplate) == 0
    with runtime.sessions() as s:
        assert s.scalars(select(MemberPass.digest)).one() == pass_digest(token)
        assert s.scalars(select(ConsentRecord.text_version)).one() == CURRENT_PASS_CONSENT_VERSION


def test_the_register_switches_a_face_member_to_pass_only_for_its_own_store_only(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces, "obama")
    with transaction(runtime.sessions) as session:
        other = devices.create_store(session, code="zwolle", name="Zwolle", now=runtime.now())
        from server.services.staff import accounts as staff

        staff.create_staff(
            session, username="kassa2", password=PASSWORD, role="cashier", store_id=other.id
        )
    sign_in(client, "kassa2")
    r = client.post(f"/api/v1/customers/{member.customer_id}/membership/pass")
    assert r.status_code == 403
    assert count(runtime, FaceTemplate, customer_id=member.customer_id) > 0
    sign_in(client, "cashier")
    found = client.get("/api/v1/customers", params={"q": "obama"}).json()
    assert [c["membership"] for c in found] == ["face"]
    r = client.post(f"/api/v1/customers/{member.customer_id}/membership/pass")
    assert r.status_code == 200, r.text
    assert count(runtime, FaceTemplate, customer_id=member.customer_id) == 0
    assert count(runtime, FaceThumbnail, customer_id=member.customer_id) == 0
    found = client.get("/api/v1/customers", params={"q": "obama"}).json()
    assert [(c["membership"], c["recognition"]) for c in found] == [("pass", "active")]
