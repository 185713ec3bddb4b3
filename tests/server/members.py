"""Factories for the lifecycle tests: real members enrolled from real photos, a history,
registered devices and self-service tokens."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.device import DeviceKeyPair
from consent.gallery import OpenedGallery, open_gallery
from consent.signing import load_public_key, public_key_bytes
from server.db.audit import AuditEntry
from server.db.base import Base
from server.db.clienteling import Allergy, Preference, Purchase, Visit
from server.db.membership import Customer
from server.db.session import transaction
from server.runtime import Runtime
from server.services.membership import enrolment, selfservice
from server.services.recognition import devices
from server.services.staff import accounts as staff
from tests.server.conftest import PASSWORD, StoreFixture

PEOPLE = {
    "obama": ("Barack Obama", "barack@example.org"),
    "biden": ("Joe Biden", "joe@example.org"),
    "rose_leslie": ("Rose Leslie", "rose@example.org"),
    "kit_harington": ("Kit Harington", "kit@example.org"),
}


@dataclass(frozen=True)
class Member:
    customer_id: str
    subject_id: str
    consent_id: str
    name: str
    email: str
    photos: tuple[bytes, ...]


def photos(faces: Path, who: str) -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted((faces / "people" / who).iterdir()))


def enrol_member(
    rt: Runtime,
    store: StoreFixture,
    faces: Path,
    who: str = "obama",
    *,
    now: datetime | None = None,
    consent_months: int = 12,
) -> Member:
    name, email = PEOPLE[who]
    data = photos(faces, who)
    with transaction(rt.sessions) as session:
        result = enrolment.enrol(
            session,
            rt.context().at(now or rt.now()).with_settings(consent_months=consent_months),
            request=enrolment.EnrolmentRequest(
                name=name,
                preferred_name=name.split()[0],
                language="en",
                photos=data,
                consent_confirmed=True,
                confirmation_name=name,
                channel="register",
                collected_by="cashier",
                email=email,
            ),
            store=devices.store_by_code(session, store.code),
            analyser=rt.faces,
            threshold=rt.threshold,
        )
    return Member(result.customer_id, result.subject_id, result.consent_id, name, email, data)


def add_history(rt: Runtime, member: Member, store: StoreFixture, *, live: bool = True) -> int:
    """Purchases, a preference, an allergy and a visit (live unless told otherwise)."""
    now = rt.now()
    with transaction(rt.sessions) as session:
        session.add_all(
            [
                Purchase(
                    customer_id=member.customer_id,
                    store_id=store.id,
                    purchased_at=now - timedelta(days=20),
                    product_name="Liquorice allsorts 250 g",
                    category="liquorice",
                    brand="Venco",
                    amount_cents=495,
                ),
                Purchase(
                    customer_id=member.customer_id,
                    store_id=store.id,
                    purchased_at=now - timedelta(days=3),
                    product_name="Sea-salt caramels",
                    category="caramel",
                    amount_cents=850,
                ),
                Preference(customer_id=member.customer_id, kind="brand", value="Venco"),
                Allergy(customer_id=member.customer_id, allergen="hazelnut", note="severe"),
            ]
        )
        visit = Visit(
            customer_id=member.customer_id,
            store_id=store.id,
            arrived_at=now,
            score=0.4,
            margin=0.3,
            status="live" if live else "greeted",
            live_until=now + (timedelta(minutes=30) if live else timedelta(minutes=-1)),
        )
        session.add(visit)
        session.flush()
        return visit.id


def add_staff(rt: Runtime, username: str, role: str, store_id: int | None) -> None:
    with transaction(rt.sessions) as session:
        staff.create_staff(
            session, username=username, password=PASSWORD, role=role, store_id=store_id
        )


def add_store(rt: Runtime, code: str) -> StoreFixture:
    with transaction(rt.sessions) as session:
        s = devices.create_store(session, code=code, name=code.title(), now=rt.now())
        devices.go_live(
            session,
            store=s,
            dpia_reference="DPIA-T-2",
            signage_confirmed=True,
            actor="test",
            now=rt.now(),
        )
        return StoreFixture(s.id, s.code)


def register_device(
    client: TestClient, rt: Runtime, store: StoreFixture
) -> tuple[str, str, DeviceKeyPair]:
    """(device id, bearer token, key pair) of a device registered through the API."""
    with transaction(rt.sessions) as session:
        code = devices.create_enrolment_code(
            session, store=devices.store_by_code(session, store.code), now=rt.now()
        )
    keys = DeviceKeyPair.generate()
    r = client.post(
        "/api/v1/devices/register",
        json={
            "enrolment_code": code,
            "name": "entrance",
            "public_key": base64.b64encode(keys.public_bytes()).decode(),
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return str(body["device_id"]), str(body["token"]), keys


def token(rt: Runtime, member: Member) -> str:
    """A new self-service link id for the member (the previous one is revoked)."""
    return new_link(rt, member.customer_id)


def new_link(rt: Runtime, customer_id: str) -> str:
    """A self-service link id for the customer, as enrolment issues one (audited)."""
    with transaction(rt.sessions) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return selfservice.issue(
            session,
            customer=customer,
            actor="staff:cashier",
            channel="register",
            ttl=timedelta(days=rt.settings.self_service_ttl_days),
            now=rt.now(),
        )


def row_counts(rt: Runtime) -> dict[str, int]:
    """Rows in every table (the 'nothing stored' checks compare these before and after)."""
    with rt.engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in Base.metadata.sorted_tables
        }


def audit_kinds(rt: Runtime, subject: str | None = None) -> list[str]:
    with rt.sessions() as session:
        stmt = select(AuditEntry.kind).order_by(AuditEntry.seq)
        if subject is not None:
            stmt = stmt.where(AuditEntry.subject == subject)
        return list(session.scalars(stmt))


def audit_entries(rt: Runtime, kind: str) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [
            {"seq": e.seq, "actor": e.actor, "subject": e.subject, "data": dict(e.data)}
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.kind == kind).order_by(AuditEntry.seq)
            )
        ]


def customer_exists(rt: Runtime, customer_id: str) -> bool:
    with rt.sessions() as session:
        return session.get(Customer, customer_id) is not None


def fetch_gallery(client: TestClient, rt: Runtime, store: StoreFixture) -> OpenedGallery:
    """The store's gallery as a newly registered device fetches and opens it."""
    device_id, token, keys = register_device(client, rt, store)
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
