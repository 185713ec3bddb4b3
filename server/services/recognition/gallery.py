"""Galleries: which members a store's devices may recognise, versioning and sealing.

A store's gallery holds, for every customer whose consent is active, unexpired and covers the
store, that customer's templates under their pseudonymous ``subject_id``. Plaintext templates
exist only inside ``member_templates`` while a gallery is sealed to one device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from consent.audit_kinds import GalleryPublished
from consent.device import load_device_public_key
from consent.envelope import open_template
from consent.gallery import GalleryEntry, GalleryPass, GalleryPayload, seal_gallery
from consent.keys import KeyProvider
from consent.modes import DEFAULT_MODE, parse_mode, uses_face_search, uses_passes
from consent.signing import Ed25519PrivateKey
from models.calibration import Calibration
from models.exposure import expected_false_matches_per_1000
from models.types import Embedding
from server.db.membership import ConsentRecord, Customer, CustomerKey, FaceTemplate, MemberPass
from server.db.recognition import EdgeDevice, GalleryPublication, StoreMode
from server.db.session import after_commit
from server.db.stores import Store
from server.realtime import device_channel
from server.services import audit
from server.services.errors import Conflict, Forbidden
from server.services.recognition import signage

log = logging.getLogger(__name__)

Notify = Callable[[str, dict[str, Any]], None]
"""``broker.publish``: (channel, message); called only after the transaction committed."""


@dataclass(frozen=True)
class MemberTemplates:
    customer_id: str
    subject_id: str
    model_id: str
    vectors: np.ndarray


def _covers(scope: Sequence[str], store_code: str) -> bool:
    return "*" in scope or store_code in scope


def active_consents(session: Session, *, now: datetime) -> list[ConsentRecord]:
    return list(
        session.scalars(
            select(ConsentRecord).where(
                ConsentRecord.status == "active",
                ConsentRecord.expires_at > now,
                ConsentRecord.customer_id.is_not(None),
            )
        )
    )


def member_count(session: Session, *, store: Store, now: datetime) -> int:
    """Members with a face template whose active consent covers ``store``: the faces its door
    camera searches (no template is opened)."""
    scopes = session.scalars(
        select(ConsentRecord.scope).where(
            ConsentRecord.status == "active",
            ConsentRecord.expires_at > now,
            ConsentRecord.customer_id.is_not(None),
            select(FaceTemplate.id).where(FaceTemplate.consent_id == ConsentRecord.id).exists(),
        )
    )
    return sum(1 for scope in scopes if _covers(scope, store.code))


def member_templates(
    session: Session,
    *,
    kek: KeyProvider,
    now: datetime,
    store: Store | None = None,
) -> list[MemberTemplates]:
    """Decrypted templates of every member with an active consent (covering ``store``)."""
    out: list[MemberTemplates] = []
    for record in active_consents(session, now=now):
        if store is not None and not _covers(record.scope, store.code):
            continue
        assert record.customer_id is not None
        key = session.get(CustomerKey, record.customer_id)
        customer = session.get(Customer, record.customer_id)
        if key is None or customer is None:
            continue  # crypto-shredded: nothing can be opened
        rows = list(
            session.scalars(
                select(FaceTemplate)
                .where(FaceTemplate.consent_id == record.id)
                .order_by(FaceTemplate.template_version)
            )
        )
        if not rows:
            continue
        dek = kek.unwrap(key.wrapped_dek, context=customer.id.encode())
        vectors = np.stack(
            [
                np.frombuffer(
                    open_template(
                        dek,
                        row.ciphertext,
                        subject_id=customer.id,
                        template_version=row.template_version,
                    ),
                    dtype=np.float32,
                )
                for row in rows
            ]
        )
        del dek
        out.append(MemberTemplates(customer.id, customer.subject_id, rows[0].model_id, vectors))
    return out


def store_passes(session: Session, *, store: Store, now: datetime) -> list[GalleryPass]:
    """The active pass of every member whose consent is active, unexpired and covers ``store``:
    (digest, pseudonymous subject id) pairs. A revoked pass, or the pass of a withdrawn, expired
    or erased member, is not listed, so the device cannot accept it."""
    rows = session.execute(
        select(MemberPass.digest, Customer.subject_id, ConsentRecord.scope)
        .join(Customer, Customer.id == MemberPass.customer_id)
        .join(ConsentRecord, ConsentRecord.customer_id == MemberPass.customer_id)
        .where(
            MemberPass.revoked_at.is_(None),
            ConsentRecord.status == "active",
            ConsentRecord.expires_at > now,
        )
        .order_by(MemberPass.digest)
    )
    out: dict[str, str] = {}
    for digest, subject_id, scope in rows:
        if _covers(scope, store.code):
            out[digest] = subject_id
    return [GalleryPass(digest, subject_id) for digest, subject_id in out.items()]


def find_enrolled(
    session: Session,
    *,
    kek: KeyProvider,
    embeddings: Sequence[Embedding],
    threshold: float,
    now: datetime,
) -> str | None:
    """The customer id already enrolled with one of these faces, if any (duplicate check)."""
    for member in member_templates(session, kek=kek, now=now):
        for emb in embeddings:
            if emb.model_id != member.model_id:
                continue
            dists = np.linalg.norm(member.vectors - emb.vector[None, :], axis=1)
            if float(dists.min()) < threshold:
                return member.customer_id
    return None


def publish(
    session: Session,
    *,
    store: Store,
    reason: str,
    actor: str,
    now: datetime,
    notify: Notify | None = None,
) -> int:
    """Bump the store's gallery version; devices fetch it on their next poll or push.

    With ``notify`` (``rt.broker.publish``), the store's connected devices are told
    ``{"type": "gallery", "version": N}`` once the transaction has committed, and fetch it at
    once: that is how a withdrawal reaches every online device within seconds."""
    audit.lock_chain(session)  # first, as every audited writer does (see there)
    members = sum(1 for r in active_consents(session, now=now) if _covers(r.scope, store.code))
    # One atomic increment in the database: a concurrent publication for the same store (another
    # cashier, another server process) waits for this row and then counts on from this version,
    # instead of both reading N and both writing N + 1.
    version = session.execute(
        update(Store)
        .where(Store.id == store.id)
        .values(gallery_version=Store.gallery_version + 1)
        .returning(Store.gallery_version)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(store, "gallery_version", version)
    session.add(
        GalleryPublication(
            store_id=store.id,
            version=store.gallery_version,
            reason=reason,
            members=members,
            published_at=now,
        )
    )
    audit.append(
        session,
        GalleryPublished(
            store=store.code, version=store.gallery_version, reason=reason, members=members
        ),
        actor=actor,
        subject=None,
        at=now,
    )
    if notify is not None:
        message = {"type": "gallery", "version": store.gallery_version}
        after_commit(session, partial(notify, device_channel(store.id), message))
    return store.gallery_version


def publish_for_scope(
    session: Session,
    *,
    scope: Sequence[str],
    reason: str,
    actor: str,
    now: datetime,
    notify: Notify | None = None,
) -> dict[int, int]:
    stores = session.scalars(select(Store).order_by(Store.id))
    return {
        s.id: publish(session, store=s, reason=reason, actor=actor, now=now, notify=notify)
        for s in stores
        if _covers(scope, s.code)
    }


def seal_for_device(
    session: Session,
    *,
    device: EdgeDevice,
    kek: KeyProvider,
    signing_key: Ed25519PrivateKey,
    validity: timedelta,
    threshold: float | None,
    min_margin: float | None,
    now: datetime,
    calibration: Calibration,
    door_bound: float,
    model_id: str = "dlib_resnet_v1",
    dim: int = 128,
    allow_x25519: bool = False,
) -> tuple[int, bytes]:
    """The store's current gallery, sealed to ``device``. Refused while the store is not live.

    The store's member zone recorded at go-live (``signage.member_zone``) travels inside the
    sealed payload: the device applies it instead of its own zone settings (invariant 11).
    So does the store's recognition mode (``golive``; invariant 13): a ``pass`` gallery holds
    the valid pass digests and NO template at all; a ``pass+face`` gallery the digests and the
    templates of pass holders who enrolled a face (compared 1:1 only); ``door`` and ``checkin``
    the templates, as before modes existed.

    Door mode holds while it is live, not only at go-live: a door gallery whose member count
    makes the calibration expect more than ``door_bound`` false matches per 1,000 passers-by
    (``VERTROUWD_MAX_FALSE_MATCHES_PER_1000``; issue 13) ships without templates, so the door
    camera recognises nobody until the store switches mode (the console says so). Enrolments
    after go-live would otherwise carry a door store past the bound its go-live was held to."""
    store = session.get(Store, device.store_id)
    if store is None or not store.live:
        raise Forbidden(
            "recognition is off at this store until its entrance signage and DPIA "
            "reference are confirmed"
        )
    if store.gallery_version == 0:
        publish(session, store=store, reason="first", actor="system", now=now)
    mode_row = session.get(StoreMode, store.id)
    mode = parse_mode(mode_row.mode) if mode_row is not None else DEFAULT_MODE
    passes = store_passes(session, store=store, now=now) if uses_passes(mode) else []
    if uses_face_search(mode):
        members = member_templates(session, kek=kek, now=now, store=store)
    elif mode == "pass+face":
        holders = {p.subject_id for p in passes}
        members = [
            m
            for m in member_templates(session, kek=kek, now=now, store=store)
            if m.subject_id in holders
        ]
    else:  # "pass": no template is even decrypted
        members = []
    if mode == "door" and members:
        per_1000 = expected_false_matches_per_1000(calibration, len(members), mode)
        if per_1000 is not None and per_1000 > door_bound:
            log.warning(
                "door recognition paused at store %s: %.3g false matches per 1,000 expected at "
                "%d members, above the bound of %g",
                store.code,
                per_1000,
                len(members),
                door_bound,
            )
            members = []
    zone = signage.member_zone(session, store.id)
    model_ids = {m.model_id for m in members} or {model_id}
    if len(model_ids) > 1:
        raise Conflict("members enrolled with different models; re-enrol before mixing models")
    payload = GalleryPayload(
        model_id=model_ids.pop(),
        dim=int(members[0].vectors.shape[1]) if members else dim,
        entries=tuple(
            GalleryEntry(m.subject_id, np.asarray(m.vectors, "<f4").tobytes()) for m in members
        ),
        threshold=threshold,
        min_margin=min_margin,
        zone=zone,
        mode=mode,
        passes=tuple(passes),
    )
    blob = seal_gallery(
        payload,
        store_id=store.code,
        device_id=device.id,
        version=store.gallery_version,
        device_public_key=load_device_public_key(device.public_key),
        signing_key=signing_key,
        issued_at=now,
        expires_at=now + validity,
        allow_x25519=allow_x25519,
    )
    return store.gallery_version, blob
