"""Enrolling an existing customer again (``POST /api/v1/enrolments`` with ``customer_id``): a
customer whose consent ended keeps one record, their history and their pseudonym, and gets a
new consent, a fresh data key and new templates. Real photos, real models, real database
(SQLite, and PostgreSQL with ``VERTROUWD_TEST_DB=postgres``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.db.clienteling import Sale
from server.db.membership import ConsentRecord, Customer, CustomerKey, FaceTemplate, FaceThumbnail
from server.db.recognition import GalleryPublication
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime, build_runtime
from server.services.membership import lifecycle, retention
from server.services.recognition import gallery
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.members import (
    Member,
    add_history,
    add_staff,
    add_store,
    audit_entries,
    audit_kinds,
    customer_exists,
    enrol_member,
    photos,
    row_counts,
    token,
)
from tests.server.test_crash_safety import (
    Server,
    audit_ok,
    crash,
    half_states,
    snapshot,
)
from tests.server.test_crash_safety import server as crash_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.faces


def reenrol(
    client: TestClient | httpx.Client,
    customer_id: str,
    name: str,
    shots: Sequence[bytes],
    **form: str,
) -> httpx.Response:
    data = {
        "customer_id": customer_id,
        "name": name,
        "language": "en",
        "consent_confirmed": "true",
        "confirmation_name": name,
    }
    data.update(form)
    return client.post(
        "/api/v1/enrolments",
        data=data,
        files=[("photos", (f"photo{i}.jpg", b)) for i, b in enumerate(shots)],
    )


def add_sale(rt: Runtime, member: Member, store: StoreFixture) -> int:
    with transaction(rt.sessions) as session:
        sale = Sale(
            store_id=store.id,
            ref="R-1001",
            customer_id=member.customer_id,
            sold_at=rt.now() - timedelta(days=5),
            source="pos",
            total_cents=1345,
        )
        session.add(sale)
        session.flush()
        return sale.id


def stored(rt: Runtime) -> dict[str, int]:
    """Rows in every table but the sign-in sessions (tests sign in as several people)."""
    counts = row_counts(rt)
    del counts["staff_sessions"]
    return counts


def wrapped_key(rt: Runtime, customer_id: str) -> bytes | None:
    with rt.sessions() as s:
        key = s.get(CustomerKey, customer_id)
        return None if key is None else key.wrapped_dek


def gallery_version(rt: Runtime, store: StoreFixture) -> int:
    with rt.sessions() as s:
        row = s.get(Store, store.id)
        assert row is not None
        return row.gallery_version


def state_of(rt: Runtime, customer_id: str) -> str:
    with rt.sessions() as s:
        customer = s.get(Customer, customer_id)
        assert customer is not None
        return lifecycle.recognition_state(s, customer, now=rt.now())


def decryptable_members(rt: Runtime) -> dict[str, int]:
    """subject id -> templates that open under the member's current data key."""
    with rt.sessions() as s:
        return {
            m.subject_id: len(m.vectors)
            for m in gallery.member_templates(s, kek=rt.kek, now=rt.now())
        }


@pytest.fixture
def withdrawn(client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path) -> Member:
    """Barack Obama: enrolled at the register, with a sale and history, then withdrawn there."""
    member = enrol_member(runtime, store, faces)
    add_history(runtime, member, store, live=False)
    add_sale(runtime, member, store)
    sign_in(client, "cashier")
    r = client.post(f"/api/v1/customers/{member.customer_id}/withdraw")
    assert r.status_code == 200, r.text
    assert state_of(runtime, member.customer_id) == "withdrawn"
    assert wrapped_key(runtime, member.customer_id) is None
    return member


def test_a_withdrawn_customer_enrols_again_into_the_same_record(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, withdrawn: Member
) -> None:
    version_before = gallery_version(runtime, store)
    assert withdrawn.subject_id not in decryptable_members(runtime)
    r = reenrol(
        client,
        withdrawn.customer_id,
        "barack  OBAMA",  # the name on record, spacing and case aside
        photos(faces, "obama"),
        preferred_name="Barry",
        language="nl",
        email="barry@example.org",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["customer_id"] == withdrawn.customer_id
    assert body["templates"] == 2
    assert "/me/" in body["self_service_url"]

    with runtime.sessions() as s:
        customers = list(s.scalars(select(Customer)))
        assert [c.id for c in customers] == [withdrawn.customer_id]  # one record, not two
        customer = customers[0]
        assert customer.subject_id == withdrawn.subject_id
        assert customer.name == "Barack Obama"  # kept as on record
        assert (customer.preferred_name, customer.language, customer.email) == (
            "Barry",
            "nl",
            "barry@example.org",
        )
        consents = list(
            s.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.customer_id == customer.id)
                .order_by(ConsentRecord.given_at, ConsentRecord.status.desc())
            )
        )
        assert [c.status for c in consents] == ["withdrawn", "active"]
        new = consents[1]
        assert new.id != withdrawn.consent_id
        assert (new.channel, new.collected_by, new.scope) == ("register", "cashier", ["utrecht"])
        assert new.text_language == "nl"
        templates = list(s.scalars(select(FaceTemplate)))
        assert {(t.customer_id, t.consent_id) for t in templates} == {(customer.id, new.id)}
        assert len(templates) == 2
        assert s.scalars(select(FaceThumbnail.consent_id)).all() == [new.id]
        # the purchase history is still the same customer's
        assert s.scalars(select(Sale.customer_id)).all() == [customer.id]
        publication = s.scalars(
            select(GalleryPublication).order_by(GalleryPublication.id.desc())
        ).first()
        assert publication is not None
        assert (publication.reason, publication.members) == ("enrolment", 1)
    assert gallery_version(runtime, store) == version_before + 1
    # a fresh data key that opens the new templates: the member is in the gallery again
    assert wrapped_key(runtime, withdrawn.customer_id) is not None
    assert decryptable_members(runtime) == {withdrawn.subject_id: 2}

    kinds = audit_kinds(runtime, withdrawn.subject_id)
    after_withdrawal = kinds[kinds.index("consent.withdrawn") :]
    # joining again: a new consent, new templates, a new membership pass (issue 12) and the
    # receipt's self-service link, issued with the enrolment
    assert after_withdrawal[-4:] == [
        "consent.given",
        "template.created",
        "pass.issued",
        "selfservice.link_issued",
    ]
    given = audit_entries(runtime, "consent.given")[-1]
    assert given["actor"] == "staff:cashier"
    assert given["data"]["consent_id"] == new.id
    assert given["data"]["channel"] == "register"
    assert audit_entries(runtime, "gallery.published")[-1]["data"]["reason"] == "enrolment"
    assert withdrawn.customer_id not in str(audit_entries(runtime, "consent.given"))

    # the customer sees one membership with all of it on their self-service page
    doc = client.get(f"/api/v1/me/{token(runtime, withdrawn)}").json()
    assert doc["recognition"] == "active"
    assert [c["status"] for c in doc["consents"]] == ["withdrawn", "active"]
    assert {p["product_name"] for p in doc["purchases"]} == {
        "Liquorice allsorts 250 g",
        "Sea-salt caramels",
    }
    assert doc["templates"]["count"] == 2
    found = client.get("/api/v1/customers", params={"q": "obama"}).json()
    assert [(c["id"], c["recognition"]) for c in found] == [(withdrawn.customer_id, "active")]


def test_an_empty_preferred_name_or_email_keeps_the_profile(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, withdrawn: Member
) -> None:
    r = reenrol(client, withdrawn.customer_id, "Barack Obama", photos(faces, "obama")[:1])
    assert r.status_code == 201, r.text
    with runtime.sessions() as s:
        customer = s.get(Customer, withdrawn.customer_id)
        assert customer is not None
        assert (customer.preferred_name, customer.email) == ("Barack", "barack@example.org")


@pytest.mark.parametrize("processed", [True, False], ids=["retention-ran", "not-yet-processed"])
def test_an_expired_customer_enrols_again_with_a_fresh_key(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, processed: bool
) -> None:
    """Expiry, whether or not the retention job has ended the consent yet: a consent past its
    expiry is ended as that job would (consent.expired, templates and key destroyed), and the
    old data key is never reused."""
    member = enrol_member(runtime, store, faces)
    add_sale(runtime, member, store)
    old_key = wrapped_key(runtime, member.customer_id)
    with runtime.sessions() as s:
        record = s.get(ConsentRecord, member.consent_id)
        assert record is not None
        after = record.expires_at + timedelta(days=1)
    if processed:
        with transaction(runtime.sessions) as s:
            assert retention.run(s, now=after, retention_years=3).expired == 1
    runtime.clock = lambda: after
    sign_in(client, "cashier")
    assert state_of(runtime, member.customer_id) == "expired"
    found = client.get("/api/v1/customers", params={"q": "obama"}).json()
    assert found[0]["recognition"] == "expired"

    r = reenrol(client, member.customer_id, "Barack Obama", photos(faces, "obama"))
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] == member.customer_id
    new_key = wrapped_key(runtime, member.customer_id)
    assert new_key is not None
    assert new_key != old_key
    with runtime.sessions() as s:
        old = s.get(ConsentRecord, member.consent_id)
        assert old is not None
        assert (old.status, old.withdrawn_at) == ("expired", after)
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 2
        assert s.scalar(select(func.count()).select_from(CustomerKey)) == 1
        assert s.scalars(select(Sale.customer_id)).all() == [member.customer_id]
    assert state_of(runtime, member.customer_id) == "active"
    assert decryptable_members(runtime) == {member.subject_id: 2}
    kinds = audit_kinds(runtime, member.subject_id)
    assert kinds.count("consent.expired") == 1  # ended once, by whichever came first
    assert kinds.count("key.destroyed") == 1
    assert kinds[-4:] == [
        "consent.given",
        "template.created",
        "pass.issued",
        "selfservice.link_issued",
    ]
    # the retention job finds nothing left to do
    with transaction(runtime.sessions) as s:
        assert not retention.run(s, now=after, retention_years=3).changed


def test_a_data_key_left_behind_is_destroyed_not_reused(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, withdrawn: Member
) -> None:
    with transaction(runtime.sessions) as s:  # a key that outlived its consent
        s.add(
            CustomerKey(
                customer_id=withdrawn.customer_id,
                wrapped_dek=b"left over" * 8,
                kek_id=runtime.kek.key_id,
                created_at=runtime.now(),
            )
        )
    destroyed = len(audit_entries(runtime, "key.destroyed"))
    r = reenrol(client, withdrawn.customer_id, "Barack Obama", photos(faces, "obama"))
    assert r.status_code == 201, r.text
    assert wrapped_key(runtime, withdrawn.customer_id) not in (None, b"left over" * 8)
    entries = audit_entries(runtime, "key.destroyed")[destroyed:]
    assert [(e["subject"], e["data"]) for e in entries] == [
        (withdrawn.subject_id, {"reason": "no active consent"})
    ]
    assert decryptable_members(runtime) == {withdrawn.subject_id: 2}


def test_an_active_member_is_told_to_renew_and_nothing_is_written(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    member = enrol_member(runtime, store, faces)
    sign_in(client, "cashier")
    before = row_counts(runtime)
    r = reenrol(client, member.customer_id, "Barack Obama", photos(faces, "obama"))
    assert r.status_code == 409
    assert "already a member" in r.json()["detail"]
    assert "renew instead" in r.json()["detail"]
    assert row_counts(runtime) == before


def test_another_stores_cashier_and_unknown_ids_are_refused_and_audited(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, withdrawn: Member
) -> None:
    """The same refusal as every other staff action on a customer (``customer_admin``): a
    cashier of another store gets 403, an unknown id 404, each kept as ``access.denied``."""
    elsewhere = add_store(runtime, "zwolle")
    add_staff(runtime, "kassa-zwolle", "cashier", elsewhere.id)
    before = stored(runtime)
    sign_in(client, "kassa-zwolle")
    r = reenrol(client, withdrawn.customer_id, "Barack Obama", photos(faces, "obama"))
    assert r.status_code == 403, r.text
    assert "Obama" not in r.text
    sign_in(client, "cashier")
    r = reenrol(client, "0123456789abcdef0123456789abcdef", "Barack Obama", photos(faces, "obama"))
    assert r.status_code == 404, r.text
    denied = audit_entries(runtime, "access.denied")
    assert [(d["actor"], d["subject"], d["data"]) for d in denied] == [
        (
            "staff:kassa-zwolle",
            withdrawn.subject_id,
            {
                "what": "customer",
                "role": "cashier",
                "store_id": elsewhere.id,
                "action": "reenrol",
                "found": True,
            },
        ),
        (
            "staff:cashier",
            None,
            {
                "what": "customer",
                "role": "cashier",
                "store_id": store.id,
                "action": "reenrol",
                "found": False,
            },
        ),
    ]
    after = stored(runtime)
    # the two refusals and the two sign-ins, nothing else
    assert after.pop("audit_log") == before.pop("audit_log") + 4
    assert after == before
    assert state_of(runtime, withdrawn.customer_id) == "withdrawn"


def test_an_erased_customer_cannot_be_enrolled_again(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, withdrawn: Member
) -> None:
    assert client.post(f"/api/v1/customers/{withdrawn.customer_id}/erase").status_code == 200
    before = row_counts(runtime)
    r = reenrol(client, withdrawn.customer_id, "Barack Obama", photos(faces, "obama"))
    assert r.status_code == 404, r.text
    after = row_counts(runtime)
    assert after.pop("audit_log") == before.pop("audit_log") + 1  # access.denied, anonymous
    assert after == before
    assert not customer_exists(runtime, withdrawn.customer_id)
    assert audit_entries(runtime, "access.denied")[-1]["subject"] is None


def test_someone_elses_face_is_refused(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, withdrawn: Member
) -> None:
    enrol_member(runtime, store, faces, "biden")
    before = row_counts(runtime)
    r = reenrol(client, withdrawn.customer_id, "Barack Obama", photos(faces, "biden"))
    assert r.status_code == 409
    assert "already enrolled as another customer" in r.json()["detail"]
    assert row_counts(runtime) == before
    assert state_of(runtime, withdrawn.customer_id) == "withdrawn"
    assert wrapped_key(runtime, withdrawn.customer_id) is None


def _blank_png() -> bytes:
    return bytes(cv2.imencode(".png", np.full((400, 400, 3), 200, np.uint8))[1].tobytes())


@pytest.mark.parametrize(
    ("case", "status", "expect"),
    [
        ("not-an-image", 422, "not an image"),
        ("no-face", 422, "no face"),
        ("two-faces", 422, "2 faces"),
        ("two-people", 422, "do not show the same person"),
        ("another-name", 422, "does not match this customer's record"),
        ("confirmation-mismatch", 422, "typed confirmation name does not match"),
        ("consent-missing", 422, "consent was not confirmed"),
        ("no-photos", 422, ""),
    ],
)
def test_bad_input_gets_a_reason_and_leaves_the_withdrawn_state_intact(
    client: TestClient,
    runtime: Runtime,
    store: StoreFixture,
    faces: Path,
    withdrawn: Member,
    case: str,
    status: int,
    expect: str,
) -> None:
    name = "Barack Obama"
    shots: list[bytes] = list(photos(faces, "obama"))
    form: dict[str, str] = {}
    if case == "not-an-image":
        shots = [b"this is a text file, not a JPEG\n" * 50]
    elif case == "no-face":
        shots = [_blank_png()]
    elif case == "two-faces":
        shots = [(faces / "scenes" / "two_people.jpg").read_bytes()]
    elif case == "two-people":
        shots = [shots[0], photos(faces, "biden")[0]]
    elif case == "another-name":
        name = "Barry Smith"
    elif case == "confirmation-mismatch":
        form["confirmation_name"] = "Somebody Else"
    elif case == "consent-missing":
        form["consent_confirmed"] = "false"
    elif case == "no-photos":
        shots = []
    before = row_counts(runtime)
    r = reenrol(client, withdrawn.customer_id, name, shots, **form)
    assert r.status_code == status, r.text
    assert expect in str(r.json()["detail"])
    assert row_counts(runtime) == before
    assert state_of(runtime, withdrawn.customer_id) == "withdrawn"
    with runtime.sessions() as s:
        customer = s.get(Customer, withdrawn.customer_id)
        assert customer is not None
        assert (customer.name, customer.preferred_name, customer.language) == (
            "Barack Obama",
            "Barack",
            "en",
        )


def test_only_a_cashier_or_admin_enrols_again(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path, withdrawn: Member
) -> None:
    add_staff(runtime, "privacy", "privacy_officer", None)
    before = stored(runtime)
    for username in ("sales", "privacy"):
        sign_in(client, username)
        r = reenrol(client, withdrawn.customer_id, "Barack Obama", photos(faces, "obama"))
        assert r.status_code == 403, (username, r.text)
    after = stored(runtime)
    # Nothing but the audit entries: two sign-ins and the two refusals (every denial audited).
    assert after.pop("audit_log") == before.pop("audit_log") + 4
    assert after == before
    denied = audit_entries(runtime, "access.denied")
    assert [(d["actor"], d["data"]["what"]) for d in denied] == [
        ("staff:sales", "enrol customers"),
        ("staff:privacy", "enrol customers"),
    ]


# -- a crash half-way leaves the withdrawn state as it was -------------------------------------


@pytest.fixture
def reader(settings: ServerSettings) -> Iterator[Runtime]:
    rt = build_runtime(settings, migrate=False)
    yield rt
    rt.close()


def test_a_crash_in_the_middle_of_reenrolment_leaves_no_half_state(
    crash_server: Server,  # noqa: F811
    reader: Runtime,
    faces: Path,
) -> None:
    srv = crash_server
    srv.start()
    shots = photos(faces, "obama")
    with srv.client() as c:
        r = c.post(
            "/api/v1/enrolments",
            data={
                "name": "Barack Obama",
                "consent_confirmed": "true",
                "confirmation_name": "Barack Obama",
            },
            files=[("photos", (f"p{i}.jpg", b)) for i, b in enumerate(shots)],
        )
        assert r.status_code == 201, r.text
        customer_id = r.json()["customer_id"]
        assert c.post(f"/api/v1/customers/{customer_id}/withdraw").status_code == 200
    srv.stop()
    withdrawn_state = snapshot(reader)
    assert withdrawn_state == (1, 0, 0, ["withdrawn"])

    srv.start(fault="enrol.after_templates")  # dies with key, consent and templates flushed
    with srv.client() as c:
        crash(srv, partial(reenrol, c, customer_id, "Barack Obama", shots))
    assert snapshot(reader) == withdrawn_state
    assert half_states(reader) == dict.fromkeys(half_states(reader), 0)
    assert audit_ok(reader)

    srv.start()
    with srv.client() as c:
        r = reenrol(c, customer_id, "Barack Obama", shots)
        assert r.status_code == 201, r.text
        assert r.json()["customer_id"] == customer_id
    srv.stop()
    assert snapshot(reader) == (1, 2, 1, ["withdrawn", "active"])
    assert half_states(reader) == dict.fromkeys(half_states(reader), 0)
