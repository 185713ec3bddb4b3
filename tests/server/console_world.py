"""A small but complete world for the console tests, written through the real services: two
stores (one live), a privacy officer, members with consents (one renewed, one withdrawn, one
erased, one expiring soon, one expired by the retention job), two edge devices of which one
confirms the new gallery and one does not, profile openings with and without a visit, a burst
of refused attempts, and a "not this person" incident.

Times are real (``rt.now()``) except where a test moves the runtime's clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from consent.audit_kinds import AccessDenied, ProfileViewed
from server.db.membership import ConsentRecord, Customer, FaceTemplate
from server.db.recognition import EdgeDevice
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime
from server.services import audit
from server.services.clienteling import visits
from server.services.membership import lifecycle, retention
from server.services.recognition import devices
from server.services.staff import accounts as staff
from server.services.staff.accounts import StaffIdentity
from tests.server import factories
from tests.server.conftest import StoreFixture
from tests.server.factories import make_member, make_staff, make_store, make_visit

OFFICER = "officer"


@dataclass
class World:
    store: StoreFixture
    other: StoreFixture
    anna: Customer
    """active, renewed once; her profile was opened during a visit"""
    bram: Customer
    """withdrew consent: a deletion proof with one confirming and one waiting device"""
    carla_subject: str
    """erased"""
    dirk: Customer
    """consent expires in 10 days"""
    eva: Customer
    """consent ended by the retention job (templates destroyed)"""
    device_ok: str
    device_late: str
    incident_id: int
    withdrawal_version: int
    members: list[Customer] = field(default_factory=list)


def identity(rt: Runtime, username: str) -> StaffIdentity:
    with rt.sessions() as session:
        from server.db.staff import Staff

        row = session.scalars(select(Staff).where(Staff.username == username)).one()
        return StaffIdentity(row.id, row.username, row.display_name, row.role, row.store_id)


def register_device(rt: Runtime, store_code: str, name: str) -> str:
    return factories.register_device(rt, store_code, name).device_id


def add_template(rt: Runtime, customer: Customer) -> None:
    """A template row under the member's active consent (the ciphertext is not opened here)."""
    with transaction(rt.sessions) as session:
        record = session.scalars(
            select(ConsentRecord).where(
                ConsentRecord.customer_id == customer.id, ConsentRecord.status == "active"
            )
        ).one()
        session.add(
            FaceTemplate(
                customer_id=customer.id,
                consent_id=record.id,
                consent_status="active",
                ciphertext=b"\x00" * 44,
                model_id="dlib_resnet_v1",
                template_version=1,
            )
        )


def build_world(rt: Runtime, store: StoreFixture) -> World:
    now = rt.now()
    other = make_store(rt, "amsterdam", live=False)
    make_staff(rt, OFFICER, "privacy_officer", None)
    sales = identity(rt, "sales")

    anna = make_member(rt, "Anna de Vries", stores=["utrecht"], loyalty_id="L-1001")
    bram = make_member(rt, "Bram Bakker", stores=["utrecht"])
    carla = make_member(rt, "Carla Jansen", stores=["utrecht"])
    dirk = make_member(rt, "Dirk Smit", stores=["utrecht"])
    eva = make_member(rt, "Eva Visser", stores=["*"])
    add_template(rt, eva)
    with transaction(rt.sessions) as session:
        record = session.scalars(
            select(ConsentRecord).where(ConsentRecord.customer_id == dirk.id)
        ).one()
        record.expires_at = now + timedelta(days=10)
        record = session.scalars(
            select(ConsentRecord).where(ConsentRecord.customer_id == eva.id)
        ).one()
        record.expires_at = now - timedelta(minutes=5)
        lifecycle.renew(
            session,
            rt.context(),
            customer_id=anna.id,
            actor="staff:cashier",
            channel="register",
            collected_by="cashier",
            language="en",
        )

    device_ok = register_device(rt, "utrecht", "entrance left")
    device_late = register_device(rt, "utrecht", "entrance right")
    with transaction(rt.sessions) as session:
        retention.run(session, now=now, retention_years=3)  # Eva's consent expired

    # Anna walks in and her card is opened on a tablet
    visit = make_visit(rt, anna.id, store.id, device_id=device_ok)
    tablet = visits.tablet_ref("tablet-session-token", "Mozilla/5.0 (iPad; CPU OS 17_0) Safari/604")
    with transaction(rt.sessions) as session:
        visits.reveal(session, who=sales, visit_id=visit, now=rt.now(), tablet=tablet)
        # an opening with no visit behind it (as a tampered tablet might do)
        audit.append(
            session,
            ProfileViewed(visit_id=999_999, store_id=store.id, what="profile"),
            actor="staff:sales",
            subject=dirk.subject_id,
            at=rt.now(),
        )
    # a false match reported by the salesperson
    wrong = make_visit(rt, dirk.id, store.id, device_id=device_ok)
    with transaction(rt.sessions) as session:
        visits.act(session, who=sales, visit_id=wrong, action="not-this-person", now=rt.now())
    from server.db.recognition import Incident

    with rt.sessions() as session:
        incident_id = session.scalars(select(Incident.id).where(Incident.visit_id == wrong)).one()

    # five refused attempts by the salesperson within a minute
    with transaction(rt.sessions) as session:
        for _ in range(5):
            audit.append(
                session,
                AccessDenied(what="visit", role="sales", store_id=None, id=uuid.uuid4().hex[:6]),
                actor="staff:sales",
                subject=None,
                at=rt.now(),
            )

    # Bram withdraws; one device confirms the new gallery, the other does not
    with transaction(rt.sessions) as session:
        result = lifecycle.withdraw(
            session,
            rt.context(),
            customer_id=bram.id,
            actor="portal",
            channel="portal",
        )
        version = result.gallery_versions["utrecht"]
    rt_later = rt.now() + timedelta(seconds=2)
    with transaction(rt.sessions) as session:
        device = session.get(EdgeDevice, device_ok)
        assert device is not None
        devices.acknowledge(session, device=device, version=version, now=rt_later)
    # Carla is erased
    carla_subject = carla.subject_id
    with transaction(rt.sessions) as session:
        lifecycle.erase(
            session,
            rt.context(),
            customer_id=carla.id,
            actor="staff:officer",
            channel="console",
        )
    with rt.sessions() as session:
        assert session.scalars(select(Store).where(Store.code == "utrecht")).one().live
    return World(
        store=store,
        other=other,
        anna=anna,
        bram=bram,
        carla_subject=carla_subject,
        dirk=dirk,
        eva=eva,
        device_ok=device_ok,
        device_late=device_late,
        incident_id=incident_id,
        withdrawal_version=version,
    )


def sign_in_officer(rt: Runtime) -> str:
    """A session token for the officer (the services' login)."""
    from tests.server.conftest import PASSWORD

    with transaction(rt.sessions) as session:
        token, _ = staff.login(session, username=OFFICER, password=PASSWORD, now=rt.now())
    return token


def add_history(rt: Runtime, store: StoreFixture, *, days: int = 21) -> int:
    """Three weeks of ordinary life before today, so the charts have a shape: members joining
    (some on earlier days), arrivals every day, now and then a "not this person". Deterministic.
    Returns how many arrivals were written."""
    from server.db.clienteling import Visit
    from server.db.recognition import Incident

    now = rt.now()
    arrivals = 0
    members: list[Customer] = []
    for d in range(days, 0, -1):
        joined = (d * 7) % 3  # 0, 1 or 2 members join that day
        for j in range(joined):
            m = make_member(rt, f"Lid {d}-{j}", stores=["utrecht"])
            with transaction(rt.sessions) as session:
                record = session.scalars(
                    select(ConsentRecord).where(ConsentRecord.customer_id == m.id)
                ).one()
                record.given_at = now - timedelta(days=d, hours=j)
                record.expires_at = record.given_at + timedelta(days=365)
            members.append(m)
        if not members:
            continue
        with transaction(rt.sessions) as session:
            for k in range(3 + (d * 5) % 6):
                member = members[(d + k) % len(members)]
                at = now - timedelta(days=d, hours=k)
                visit = Visit(
                    customer_id=member.id,
                    store_id=store.id,
                    arrived_at=at,
                    score=0.35 + 0.01 * k,
                    margin=0.25,
                    status="greeted" if k % 3 else "dismissed",
                    ended_at=at + timedelta(minutes=20),
                    live_until=at + timedelta(minutes=30),
                )
                session.add(visit)
                arrivals += 1
                if d % 6 == 0 and k == 0:
                    session.flush()
                    visit.status = "not_this_person"
                    session.add(
                        Incident(
                            store_id=store.id,
                            visit_id=visit.id,
                            customer_id=member.id,
                            score=0.52,
                            margin=0.04,
                            reported_by="sales",
                            reported_at=at + timedelta(minutes=1),
                            outcome="rejected",
                            officer_note="It was the member (new glasses).",
                            resolved_by=OFFICER,
                            resolved_at=at + timedelta(hours=2),
                        )
                    )
    return arrivals
