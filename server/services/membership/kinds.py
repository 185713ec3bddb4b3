"""Changing a membership's kind, and re-issuing a pass (issue 12).

A member with a face can switch to a membership without one at any time (``/me``, the register):
their face templates and thumbnail are destroyed at once, the face consent ends (``withdrawn``:
it IS the withdrawal of the biometric consent, Art. 7(3)), a consent on the pass text takes its
place (linked in ``consent_renewals``), and the store galleries are published so devices drop
the templates within seconds. The profile, history, data key, pass and self-service link stay.
Going back (adding a face) is an enrolment at the register (``enrolment.reenrol``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consent.audit_kinds import ConsentGiven, ConsentWithdrawn, TemplateDestroyed
from consent.records import PASS_PURPOSE, consent_expiry, current_pass_consent_text, is_pass_text
from server.db.membership import (
    ConsentRecord,
    ConsentRenewal,
    Customer,
    FaceTemplate,
    FaceThumbnail,
)
from server.services import audit
from server.services.context import ServiceContext
from server.services.errors import BadInput, Conflict
from server.services.ids import new_id
from server.services.membership import lifecycle, passes

SWITCH_REASON = "switched to membership without a face"


@dataclass(frozen=True)
class SwitchResult:
    consent_id: str
    templates_destroyed: int
    thumbnails_destroyed: int
    gallery_versions: dict[str, int]


def _active(session: Session, customer: Customer, now: datetime) -> list[ConsentRecord]:
    return [
        r
        for r in session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.customer_id == customer.id, ConsentRecord.status == "active")
            .with_for_update()
        )
        if r.expires_at > now
    ]


def has_face(session: Session, customer_id: str) -> bool:
    return (
        session.scalar(select(FaceTemplate.id).where(FaceTemplate.customer_id == customer_id))
        is not None
    )


def switch_to_pass(
    session: Session,
    ctx: ServiceContext,
    *,
    customer_id: str,
    actor: str,
    channel: str,
    language: str | None = None,
) -> SwitchResult:
    """Face -> pass-only (module docstring). ``Conflict`` when there is no active face
    membership (already pass-only, or no active consent)."""
    now, notify, consent_months = ctx.now(), ctx.notify, ctx.settings.consent_months
    customer = lifecycle.get_customer(session, customer_id)
    active = _active(session, customer, now)
    if not active:
        raise Conflict("there is no active membership to change; enrol instead")
    if all(is_pass_text(r.text_version) for r in active):
        raise Conflict("this membership already works without a face")
    try:
        text = current_pass_consent_text(language or customer.language)
    except LookupError as exc:
        raise BadInput(f"no consent text for language {language!r}") from exc
    # templates first: they hold the old record's (id, customer, 'active') key (invariant 10)
    templates = session.execute(delete(FaceTemplate).where(FaceTemplate.customer_id == customer.id))
    thumbnails = session.execute(
        delete(FaceThumbnail).where(FaceThumbnail.customer_id == customer.id)
    )
    n_templates = int(getattr(templates, "rowcount", 0) or 0)
    n_thumbnails = int(getattr(thumbnails, "rowcount", 0) or 0)
    session.flush()
    scope = sorted({s for r in active for s in r.scope})
    record = ConsentRecord(
        id=new_id(),
        customer_id=customer.id,
        purpose=PASS_PURPOSE,
        scope=scope,
        text_version=text.version,
        text_language=text.language,
        text_sha256=text.sha256,
        channel=channel,
        collected_by=None if channel == "portal" else actor,
        given_at=now,
        expires_at=consent_expiry(now, months=consent_months),
        status="active",
    )
    session.add(record)
    session.flush()
    for old in active:
        old.status = "withdrawn"
        old.withdrawn_at = now
        session.add(ConsentRenewal(consent_id=old.id, renewed_by=record.id, renewed_at=now))
    customer.last_interaction_at = now
    session.flush()
    for old in active:
        audit.append(
            session,
            ConsentWithdrawn(consent_id=old.id, reason=SWITCH_REASON, channel=channel),
            actor=actor,
            subject=customer.subject_id,
            at=now,
        )
    audit.append(
        session,
        TemplateDestroyed(templates=n_templates, thumbnails=n_thumbnails, reason=SWITCH_REASON),
        actor=actor,
        subject=customer.subject_id,
        at=now,
    )
    audit.append(
        session,
        ConsentGiven(
            consent_id=record.id,
            purpose=PASS_PURPOSE,
            scope=scope,
            text_version=text.version,
            text_sha256=text.sha256,
            channel=channel,
            expires_at=record.expires_at.isoformat(),
            membership="pass",
        ),
        actor=actor,
        subject=customer.subject_id,
        at=now,
    )
    if passes.active_pass(session, customer.id) is None:  # e.g. enrolled before passes existed
        passes.issue(session, customer=customer, reason="membership change", actor=actor, now=now)
    versions = lifecycle.publish_scope(
        session, scope=scope, reason="membership-change", actor=actor, now=now, notify=notify
    )
    return SwitchResult(record.id, n_templates, n_thumbnails, versions)


def reissue_pass(
    session: Session, ctx: ServiceContext, *, customer_id: str, actor: str
) -> passes.IssuedPass:
    """A new pass for a member with an active consent; the old one stops working (its digest is
    revoked, audited, and the galleries of the member's stores are published so devices drop
    it within seconds)."""
    now, notify = ctx.now(), ctx.notify
    customer = lifecycle.get_customer(session, customer_id)
    active = _active(session, customer, now)
    if not active:
        raise Conflict("a pass is issued only to a member with an active consent")
    issued = passes.issue(session, customer=customer, reason="reissued", actor=actor, now=now)
    lifecycle.publish_scope(
        session,
        scope={s for r in active for s in r.scope},
        reason="pass-reissued",
        actor=actor,
        now=now,
        notify=notify,
    )
    return issued
