"""Enrolment: consent + templates + thumbnail + audit + gallery publication in one transaction.

Every photo is analysed (and every check passed) before anything is written; the photos
themselves are dropped once their embeddings and the one thumbnail exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.envelope import new_data_key, seal_blob, seal_template
from consent.keys import KeyProvider
from consent.records import PURPOSE, consent_expiry, consent_text, current_consent_text
from server import faults
from server.db.models import (
    ConsentRecord,
    Customer,
    CustomerKey,
    FaceTemplate,
    FaceThumbnail,
    Store,
)
from server.services import audit, gallery
from server.services.errors import BadInput, Conflict
from server.services.faces import AnalysedPhoto, FaceAnalyser
from server.services.ids import new_id, new_subject_id

CHANNELS = ("register", "portal", "console", "cli")
THUMBNAIL_PURPOSE = "enrolment-thumbnail"
MAX_PHOTOS = 5


@dataclass(frozen=True)
class EnrolmentRequest:
    name: str
    preferred_name: str
    language: str
    photos: Sequence[bytes]
    consent_confirmed: bool
    confirmation_name: str
    channel: str
    collected_by: str
    email: str | None = None
    loyalty_id: str | None = None
    text_version: str | None = None


@dataclass(frozen=True)
class EnrolmentResult:
    customer_id: str
    subject_id: str
    consent_id: str
    templates: int
    gallery_versions: dict[int, int]


def _validate(req: EnrolmentRequest) -> None:
    if not req.name.strip():
        raise BadInput("the customer's name is required")
    if not req.consent_confirmed:
        raise BadInput("consent was not confirmed: the customer must tick the consent box")
    if " ".join(req.confirmation_name.split()).casefold() != " ".join(req.name.split()).casefold():
        raise BadInput("the typed confirmation name does not match the customer's name")
    if req.channel not in CHANNELS:
        raise BadInput(f"unknown channel {req.channel!r}")
    if not req.photos:
        raise BadInput("at least one photo is required (three recommended)")
    if len(req.photos) > MAX_PHOTOS:
        raise BadInput(f"at most {MAX_PHOTOS} photos")


def _same_person(photos: list[AnalysedPhoto], threshold: float) -> None:
    vecs = np.stack([p.embedding.vector for p in photos])
    for i in range(len(vecs)):
        for j in range(i + 1, len(vecs)):
            if float(np.linalg.norm(vecs[i] - vecs[j])) > threshold:
                raise BadInput(f"photos {i + 1} and {j + 1} do not show the same person")


def enrol(
    session: Session,
    *,
    request: EnrolmentRequest,
    store: Store,
    analyser: FaceAnalyser,
    kek: KeyProvider,
    threshold: float,
    consent_months: int,
    now: datetime,
    notify: gallery.Notify | None = None,
) -> EnrolmentResult:
    """Enrol a new member at ``store``. Raises ``BadInput``/``Conflict``; writes nothing then.
    ``notify`` (``rt.broker.publish``) tells the store's devices about the new gallery."""
    _validate(request)
    try:
        text = (
            consent_text(request.text_version, request.language)
            if request.text_version
            else current_consent_text(request.language)
        )
    except (KeyError, ValueError, LookupError) as exc:
        raise BadInput(f"no consent text for language {request.language!r}") from exc
    analysed = [
        analyser.analyse(data, label=f"photo {i + 1}") for i, data in enumerate(request.photos)
    ]
    _same_person(analysed, threshold)
    match = gallery.find_enrolled(
        session,
        kek=kek,
        embeddings=[a.embedding for a in analysed],
        threshold=threshold,
        now=now,
    )
    if match is not None:
        raise Conflict(
            "this face is already enrolled as another customer; "
            "look the customer up instead of enrolling again"
        )
    if request.loyalty_id and session.scalar(
        select(Customer.id).where(Customer.loyalty_id == request.loyalty_id)
    ):
        raise Conflict("this loyalty id already belongs to a customer")

    customer = Customer(
        id=new_id(),
        subject_id=new_subject_id(),
        name=" ".join(request.name.split()),
        preferred_name=" ".join(request.preferred_name.split()) or request.name.split()[0],
        language=request.language,
        email=request.email,
        loyalty_id=request.loyalty_id,
        home_store_id=store.id,
        created_at=now,
        last_interaction_at=now,
    )
    session.add(customer)
    session.flush()
    dek = new_data_key()
    session.add(
        CustomerKey(
            customer_id=customer.id,
            wrapped_dek=kek.wrap(dek, context=customer.id.encode()),
            kek_id=kek.key_id,
            created_at=now,
        )
    )
    record = ConsentRecord(
        id=new_id(),
        customer_id=customer.id,
        purpose=PURPOSE,
        scope=[store.code],
        text_version=text.version,
        text_language=text.language,
        text_sha256=text.sha256,
        channel=request.channel,
        collected_by=request.collected_by,
        given_at=now,
        expires_at=consent_expiry(now, months=consent_months),
        status="active",
    )
    session.add(record)
    session.flush()
    for version, photo in enumerate(analysed, start=1):
        session.add(
            FaceTemplate(
                customer_id=customer.id,
                consent_id=record.id,
                model_id=photo.embedding.model_id,
                template_version=version,
                ciphertext=seal_template(
                    dek,
                    photo.embedding.vector.astype(np.float32).tobytes(),
                    subject_id=customer.id,
                    template_version=version,
                ),
                created_at=now,
            )
        )
    best = max(analysed, key=lambda a: len(a.thumbnail_jpeg))
    session.add(
        FaceThumbnail(
            customer_id=customer.id,
            consent_id=record.id,
            ciphertext=seal_blob(
                dek, best.thumbnail_jpeg, subject_id=customer.id, purpose=THUMBNAIL_PURPOSE
            ),
            created_at=now,
        )
    )
    del dek
    actor = f"staff:{request.collected_by}"
    audit.append(
        session,
        kind="consent.given",
        actor=actor,
        subject=customer.subject_id,
        data={
            "consent_id": record.id,
            "purpose": PURPOSE,
            "scope": record.scope,
            "text_version": text.version,
            "text_sha256": text.sha256,
            "channel": request.channel,
            "expires_at": record.expires_at.isoformat(),
        },
        at=now,
    )
    audit.append(
        session,
        kind="template.created",
        actor=actor,
        subject=customer.subject_id,
        data={"count": len(analysed), "model_id": analysed[0].embedding.model_id},
        at=now,
    )
    session.flush()
    faults.point("enrol.after_templates")  # crash-safety tests: die with the rows flushed
    versions = gallery.publish_for_scope(
        session, scope=record.scope, reason="enrolment", actor=actor, now=now, notify=notify
    )
    return EnrolmentResult(
        customer_id=customer.id,
        subject_id=customer.subject_id,
        consent_id=record.id,
        templates=len(analysed),
        gallery_versions=versions,
    )
