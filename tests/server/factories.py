"""Small builders for clienteling tests: stores, staff, members with consent, visits, devices.

They write real rows through the services or the models (no mocks); members made here have an
active consent record but no face template (the card side does not need one).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from consent.device import DeviceKeyPair
from server.db.clienteling import Visit
from server.db.membership import ConsentRecord, Customer
from server.db.session import transaction
from server.runtime import Runtime
from server.services.ids import new_id, new_subject_id
from server.services.recognition import devices
from server.services.staff import accounts as staff
from tests.server.conftest import PASSWORD, StoreFixture


def make_store(rt: Runtime, code: str, *, live: bool = True) -> StoreFixture:
    with transaction(rt.sessions) as session:
        s = devices.create_store(session, code=code, name=code.title(), now=rt.now())
        if live:
            devices.go_live(
                session,
                store=s,
                dpia_reference=f"DPIA-{code}",
                signage_confirmed=True,
                actor="test",
                now=rt.now(),
            )
        return StoreFixture(s.id, s.code)


def make_staff(rt: Runtime, username: str, role: str, store_id: int | None) -> None:
    with transaction(rt.sessions) as session:
        staff.create_staff(
            session,
            username=username,
            password=PASSWORD,
            role=role,
            store_id=store_id,
            display_name=username.title(),
        )


def make_member(
    rt: Runtime,
    name: str,
    *,
    stores: list[str],
    loyalty_id: str | None = None,
    created_at: datetime | None = None,
) -> Customer:
    """A member with an active consent that covers ``stores`` (no template: not matched by any
    camera, but arrival events naming their subject id make visits)."""
    now = rt.now()
    with transaction(rt.sessions) as session:
        customer = Customer(
            id=new_id(),
            subject_id=new_subject_id(),
            name=name,
            preferred_name=name.split()[0],
            language="en",
            loyalty_id=loyalty_id,
            created_at=created_at or now,
            last_interaction_at=now,
        )
        session.add(customer)
        session.flush()
        session.add(
            ConsentRecord(
                id=new_id(),
                customer_id=customer.id,
                purpose="recognition at the entrance for personal service",
                scope=stores,
                text_version="test",
                text_language="en",
                text_sha256="0" * 64,
                channel="register",
                given_at=now,
                expires_at=now + timedelta(days=365),
                status="active",
            )
        )
    return customer


def make_visit(
    rt: Runtime,
    customer_id: str,
    store_id: int,
    *,
    ago: timedelta = timedelta(minutes=1),
    live_for: timedelta = timedelta(minutes=30),
    status: str = "live",
    device_id: str | None = None,
) -> int:
    now = rt.now()
    with transaction(rt.sessions) as session:
        visit = Visit(
            customer_id=customer_id,
            store_id=store_id,
            device_id=device_id,
            arrived_at=now - ago,
            score=0.41,
            margin=0.3,
            status=status,
            live_until=now - ago + live_for,
        )
        session.add(visit)
        session.flush()
        return visit.id


def register_device(rt: Runtime, store_code: str, name: str) -> devices.Registration:
    """A registered edge device (through the service, with a fresh key pair)."""
    with transaction(rt.sessions) as session:
        store = devices.store_by_code(session, store_code)
        code = devices.create_enrolment_code(session, store=store, now=rt.now())
        return devices.register_device(
            session,
            code=code,
            name=name,
            public_key=DeviceKeyPair.generate().public_bytes(),
            now=rt.now(),
        )


def device_token(rt: Runtime, client: TestClient, store_code: str, name: str = "entrance") -> str:
    """A registered edge device's bearer token, through the real registration API."""
    with transaction(rt.sessions) as session:
        code = devices.create_enrolment_code(
            session, store=devices.store_by_code(session, store_code), now=rt.now()
        )
    keys = DeviceKeyPair.generate()
    r = client.post(
        "/api/v1/devices/register",
        json={
            "enrolment_code": code,
            "name": name,
            "public_key": base64.b64encode(keys.public_bytes()).decode(),
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def arrival_event(
    subject_id: str, *, event_id: str, at: datetime | None = None
) -> dict[str, object]:

    return {
        "id": event_id,
        "kind": "arrival",
        "subject_id": subject_id,
        "at": (at or datetime.now(UTC)).isoformat(),
        "score": 0.41,
        "margin": 0.3,
        "frames": 3,
    }
