"""Stores and edge devices: go-live gate, enrolment codes, registration, credentials, acks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from consent.audit_kinds import DeviceAcknowledged, DeviceRegistered, DeviceRevoked, StoreLive
from consent.device import load_device_public_key
from server.db.recognition import DeviceEnrolmentCode, EdgeDevice, StoreMode
from server.db.session import after_commit
from server.db.stores import Store
from server.realtime import device_channel, revoked
from server.services import audit
from server.services.context import ServiceContext
from server.services.errors import BadInput, Conflict, NotFound, Unauthorized
from server.services.ids import new_id, new_token, token_digest


def create_store(session: Session, *, code: str, name: str, now: datetime) -> Store:
    code = code.strip().lower()
    if not code or not code.replace("-", "").isalnum() or len(code) > 32:
        raise BadInput("store code: letters, digits and dashes, at most 32")
    if session.scalar(select(Store).where(Store.code == code)) is not None:
        raise Conflict(f"store {code!r} exists")
    store = Store(code=code, name=name, created_at=now)
    session.add(store)
    session.flush()
    return store


def store_by_code(session: Session, code: str) -> Store:
    store = session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise NotFound(f"no store {code!r}")
    return store


def go_live(
    session: Session,
    *,
    store: Store,
    dpia_reference: str,
    signage_confirmed: bool,
    actor: str,
    now: datetime,
) -> None:
    """Recognition at a store stays off until signage is confirmed and a DPIA is on record."""
    if not signage_confirmed:
        raise BadInput("confirm that the entrance signage is up before going live")
    if not dpia_reference.strip():
        raise BadInput("record the store's DPIA reference before going live")
    store.signage_confirmed_at = now
    store.dpia_reference = dpia_reference.strip()
    store.live = True
    audit.append(
        session,
        StoreLive(store=store.code, dpia_reference=store.dpia_reference),
        actor=actor,
        subject=None,
        at=now,
    )


def create_enrolment_code(
    session: Session, *, store: Store, now: datetime, ttl: timedelta = timedelta(hours=24)
) -> str:
    """A one-time code a store device registers with; only its digest is stored."""
    code = new_token()
    # Typed after `vertrouwd-edge --enrol-code`: one starting with "-" reads as an option there
    # (1 in 64 codes; it failed a test run), so draw again.
    while code.startswith("-"):
        code = new_token()
    session.add(
        DeviceEnrolmentCode(
            code_hash=token_digest(code), store_id=store.id, created_at=now, expires_at=now + ttl
        )
    )
    return code


@dataclass(frozen=True)
class Registration:
    device_id: str
    store_code: str
    token: str


def register_device(
    session: Session, *, code: str, name: str, public_key: bytes, now: datetime
) -> Registration:
    row = session.get(DeviceEnrolmentCode, token_digest(code))
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise Unauthorized("unknown, used or expired enrolment code")
    try:
        load_device_public_key(public_key)
    except Exception as exc:  # consent raises one opaque error; anything else is also bad input
        raise BadInput("the device public key is not valid") from exc
    store = session.get(Store, row.store_id)
    assert store is not None
    row.used_at = now
    token = new_token()
    device = EdgeDevice(
        id=new_id(),
        store_id=store.id,
        name=name.strip()[:120] or "edge",
        public_key=public_key,
        token_hash=token_digest(token),
        created_at=now,
        last_seen_at=now,
    )
    session.add(device)
    session.flush()
    audit.append(
        session,
        DeviceRegistered(store=store.code, name=device.name),
        actor=f"device:{device.id}",
        subject=None,
        at=now,
    )
    return Registration(device.id, store.code, token)


LAST_SEEN_GRANULARITY = timedelta(seconds=30)


@dataclass(frozen=True)
class DeviceRef:
    """What the arrival hot path needs to know about the calling device and its store."""

    id: str
    store_id: int
    store_code: str
    store_live: bool
    store_mode: str = "door"
    """The store's recognition mode (``door`` when none was recorded; issue 12)."""


_DEVICES = cast(Table, EdgeDevice.__table__)
_DEVICES_BY_TOKEN = (
    select(
        EdgeDevice.token_hash,
        EdgeDevice.id,
        EdgeDevice.store_id,
        EdgeDevice.revoked_at,
        EdgeDevice.last_seen_at,
        Store.code,
        Store.live,
        StoreMode.mode,
    )
    .join(Store, Store.id == EdgeDevice.store_id)
    .outerjoin(StoreMode, StoreMode.store_id == EdgeDevice.store_id)
    .where(EdgeDevice.token_hash.in_(bindparam("token_hashes", expanding=True)))
)
_DEVICES_SEEN = (
    update(_DEVICES)
    .where(_DEVICES.c.id.in_(bindparam("device_ids", expanding=True)))
    .values(last_seen_at=bindparam("now"))
)


def authenticate_devices(
    session: Session, *, tokens: Iterable[str], now: datetime
) -> dict[str, DeviceRef]:
    """:func:`authenticate_device` for the arrival hot path, for every request in a batch at
    once: one prebuilt query, no ORM. Unknown and revoked credentials are left out."""
    by_hash = {token_digest(token): token for token in set(tokens)}
    out: dict[str, DeviceRef] = {}
    seen: list[str] = []
    db = session.connection()  # Core rows on the connection: no ORM layer on the hot path
    for row in db.execute(_DEVICES_BY_TOKEN, {"token_hashes": list(by_hash)}):
        if row.revoked_at is not None:
            continue
        if row.last_seen_at is None or now - row.last_seen_at >= LAST_SEEN_GRANULARITY:
            seen.append(row.id)
        out[by_hash[row.token_hash]] = DeviceRef(
            row.id, row.store_id, row.code, bool(row.live), row.mode or "door"
        )
    if seen:
        db.execute(_DEVICES_SEEN, {"device_ids": seen, "now": now})
    return out


def authenticate_device(session: Session, *, token: str, now: datetime) -> EdgeDevice:
    device = session.scalar(select(EdgeDevice).where(EdgeDevice.token_hash == token_digest(token)))
    if device is None or device.revoked_at is not None:
        raise Unauthorized("device credential unknown or revoked")
    # "Last contact" to the nearest half minute: a busy device does not rewrite its row on
    # every event.
    if device.last_seen_at is None or now - device.last_seen_at >= LAST_SEEN_GRANULARITY:
        device.last_seen_at = now
    return device


def revoke_device(session: Session, ctx: ServiceContext, *, device_id: str, actor: str) -> None:
    """The credential stops working at once (401 on every call). Through ``ctx.notify`` the
    device's push socket is closed as soon as the revocation commits, in whichever server
    process holds it (from the CLI: only with Redis); the device then polls, gets 401, stops
    matching and deletes its gallery. A server the notice does not reach closes the socket at
    its next credential check."""
    device = session.get(EdgeDevice, device_id)
    if device is None:
        raise NotFound("no such device")
    if device.revoked_at is None:
        now = ctx.now()
        device.revoked_at = now
        after_commit(
            session, partial(ctx.notify, device_channel(device.store_id), revoked(device.id))
        )
        audit.append(session, DeviceRevoked(device=device.id), actor=actor, subject=None, at=now)


def acknowledge(session: Session, *, device: EdgeDevice, version: int, now: datetime) -> None:
    """A device confirms it installed gallery ``version``: the proof that erasure propagated."""
    store = session.get(Store, device.store_id)
    assert store is not None
    if version < 1 or version > store.gallery_version:
        raise BadInput(f"version {version} was never published for this store")
    if version <= device.acked_version:
        return
    device.acked_version = version
    device.acked_at = now
    audit.append(
        session,
        DeviceAcknowledged(store=store.code, version=version),
        actor=f"device:{device.id}",
        subject=None,
        at=now,
    )
