"""Self-service links (``server.services.membership.selfservice``): short opaque ids kept
server-side as
digests, within 80 characters with the public URL (a sparse QR code); revoked by a re-issue
(audited, flagged in the console), ended by withdrawal (after a short grace) and by erasure;
and the register's receipt mints one only right after that customer's enrolment, by the
cashier who enrolled them, in that sign-in session, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import qrcode
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from server.db.audit import AuditEntry
from server.db.membership import ConsentRecord, SelfServiceLink
from server.runtime import Runtime
from server.services.membership import selfservice
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import make_member, make_staff
from tests.server.members import new_link, photos


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    c = Clock()
    runtime.clock = c
    return c


def kinds(rt: Runtime) -> list[str]:
    with rt.sessions() as s:
        return list(s.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


@pytest.mark.faces
def test_the_enrolment_link_is_short_opaque_and_kept_only_as_a_digest(
    client: TestClient, runtime: Runtime, store: StoreFixture, faces: Path
) -> None:
    sign_in(client, "cashier")
    r = client.post(
        "/api/v1/enrolments",
        data={
            "name": "Barack Obama",
            "consent_confirmed": "true",
            "confirmation_name": "Barack Obama",
        },
        files=[
            ("photos", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos(faces, "obama"))
        ],
    )
    assert r.status_code == 201, r.text
    url = r.json()["self_service_url"]
    link_id = url.rsplit("/", 1)[1]
    assert url == f"{runtime.settings.public_url}/me/{link_id}"
    assert len(url) <= 80
    assert len(link_id) == 22
    # A sparse QR code: version 4 (33x33 modules) at most, at the receipt's error correction.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    assert code.version <= 4
    # Only its digest is stored.
    with runtime.sessions() as s:
        rows = list(s.scalars(select(SelfServiceLink)))
    assert [(row.digest, row.channel) for row in rows] == [
        (selfservice.digest(link_id), "register")
    ]
    assert link_id not in str([vars(row) for row in rows])
    assert client.get(f"/api/v1/me/{link_id}").json()["profile"]["name"] == "Barack Obama"


def test_a_reissue_revokes_the_old_link_is_audited_and_flagged(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    anna = make_member(runtime, "Anna de Vries", stores=[store.code])
    with runtime.sessions() as s, s.begin():
        s.execute(update(type(anna)).where(type(anna).id == anna.id).values(home_store_id=store.id))
    old = new_link(runtime, anna.id)
    assert client.get(f"/api/v1/me/{old}").status_code == 200

    sign_in(client, "sales")  # not the salesperson's to do: an audited 403
    r = client.post(f"/api/v1/customers/{anna.id}/self-service-link")
    assert r.status_code == 403
    assert kinds(runtime)[-1] == "access.denied"

    sign_in(client, "cashier")
    r = client.post(f"/api/v1/customers/{anna.id}/self-service-link")
    assert r.status_code == 201, r.text
    body = r.json()
    assert "<svg" in body["qr_svg"]
    new = body["self_service_url"].rsplit("/", 1)[1]
    assert client.get(f"/api/v1/me/{old}").status_code == 401  # revoked
    assert client.get(f"/api/v1/me/{new}").status_code == 200
    with runtime.sessions() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.kind == "selfservice.link_reissued")
        ).one()
    assert (entry.actor, entry.subject, entry.data["revoked"]) == (
        "staff:cashier",
        anna.subject_id,
        1,
    )

    make_staff(runtime, "officer", "privacy_officer", None)
    sign_in(client, "officer")
    flags = client.get("/api/v1/console/access").json()["flags"]
    assert [(f["kind"], f["staff"]) for f in flags] == [("reissue", "cashier")]
    assert "Anna de Vries" in flags[0]["text"]
    page = client.get("/console/access").text
    assert "Link re-issued" in page


def test_withdrawal_ends_the_link_after_a_short_grace(
    client: TestClient, runtime: Runtime, store: StoreFixture, clock: Clock
) -> None:
    anna = make_member(runtime, "Anna de Vries", stores=[store.code])
    link = new_link(runtime, anna.id)
    assert client.post(f"/api/v1/me/{link}/withdraw").status_code == 200
    # The page that confirmed the withdrawal still works for a few minutes ("forget me")...
    clock.at += timedelta(minutes=10)
    assert client.get(f"/api/v1/me/{link}").status_code == 200
    assert client.get(f"/me/{link}").status_code == 200
    # ... then the link is over, for the page and every action.
    clock.at += timedelta(minutes=6)
    for method, path in (
        ("GET", ""),
        ("GET", "/export"),
        ("POST", "/withdraw"),
        ("POST", "/forget"),
    ):
        assert client.request(method, f"/api/v1/me/{link}{path}").status_code == 401
    assert client.get(f"/me/{link}").status_code == 401


def test_erasure_ends_every_link_and_leaves_nothing_that_names_the_customer(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    anna = make_member(runtime, "Anna de Vries", stores=[store.code])
    old = new_link(runtime, anna.id)
    link = new_link(runtime, anna.id)
    assert client.post(f"/api/v1/me/{link}/forget").status_code == 200
    assert client.get(f"/api/v1/me/{link}").status_code == 404  # "nothing is held"
    assert client.get(f"/api/v1/me/{old}").status_code == 401
    with runtime.sessions() as s:
        rows = list(s.scalars(select(SelfServiceLink)))
    assert len(rows) == 2
    assert {r.customer_id for r in rows} == {None}
    assert sorted(str(r.revoked_reason) for r in rows) == ["erased", "reissued"]


def test_a_link_expires(
    client: TestClient, runtime: Runtime, store: StoreFixture, clock: Clock
) -> None:
    anna = make_member(runtime, "Anna de Vries", stores=[store.code])
    link = new_link(runtime, anna.id)
    clock.at += timedelta(days=runtime.settings.self_service_ttl_days, seconds=1)
    assert client.get(f"/api/v1/me/{link}").status_code == 401


def test_the_receipt_mints_a_link_only_right_after_enrolment_in_that_session(
    client: TestClient, runtime: Runtime, store: StoreFixture, clock: Clock
) -> None:
    make_staff(runtime, "kassa-2", "cashier", store.id)
    sign_in(client, "cashier")
    clock.at += timedelta(minutes=1)
    anna = make_member(runtime, "Anna de Vries", stores=[store.code])
    with runtime.sessions() as s, s.begin():
        s.execute(update(type(anna)).where(type(anna).id == anna.id).values(home_store_id=store.id))
        s.execute(
            update(ConsentRecord)
            .where(ConsentRecord.customer_id == anna.id)
            .values(collected_by="cashier", given_at=clock.at)
        )
    receipt = f"/register/receipt/{anna.id}"

    # Another cashier of the store: no link.
    sign_in(client, "kassa-2")
    assert "/me/" not in client.get(receipt).text
    # The cashier who enrolled her, but in a newer sign-in session: no link.
    clock.at += timedelta(minutes=1)
    sign_in(client, "cashier")
    assert "/me/" not in client.get(receipt).text
    assert "selfservice.link_issued" not in kinds(runtime)

    # Her enrolment in this session, right after: the receipt carries a link, once.
    clock.at -= timedelta(minutes=2)
    sign_in(client, "cashier")
    clock.at += timedelta(minutes=3)
    first = client.get(receipt)
    assert 'id="self-service-link" href="http' in first.text
    assert kinds(runtime)[-1] == "selfservice.link_issued"
    second = client.get(receipt)
    assert "/me/" not in second.text
    assert 'id="reissue-button"' in second.text  # an explicit re-issue only
    with runtime.sessions() as s:
        channels = list(s.scalars(select(SelfServiceLink.channel)))
    assert channels == ["receipt"]

    # Too late (past the window) even in the same session.
    with runtime.sessions() as s, s.begin():
        s.execute(update(SelfServiceLink).values(channel="register"))
    clock.at += selfservice.RECEIPT_WINDOW
    assert "/me/" not in client.get(receipt).text
