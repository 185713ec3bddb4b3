"""Membership passes on the server: issue, re-issue, revoke, look up (issue 12).

Every member gets a pass at enrolment, with or without a face: a token from
``consent.passes.new_pass_token`` shown ONCE (receipt, self-service page) as text and a QR code.
Only its digest (``consent.passes.pass_digest``) is stored, in ``member_passes``; a member has
at most one active pass. Re-issuing revokes the old digest in the same transaction and is
audited; the store galleries are published so devices drop the old digest within seconds.
A withdrawal, expiry or erasure revokes the pass with the consent (``lifecycle``), and the
gallery lists passes only of members whose consent is active (``gallery.store_passes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.audit_kinds import PassIssued, PassRevoked
from consent.passes import new_pass_token, parse_pass_token, pass_digest
from server.db.membership import Customer, MemberPass
from server.services import audit
from server.services.errors import BadInput


@dataclass(frozen=True)
class IssuedPass:
    token: str
    """Shown to the member once; never stored."""
    digest: str
    issued_at: datetime


def revoke(session: Session, *, customer: Customer, reason: str, actor: str, now: datetime) -> int:
    """Revoke the customer's active pass (if any); audited. Returns how many were revoked."""
    result = session.execute(
        update(MemberPass)
        .where(MemberPass.customer_id == customer.id, MemberPass.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason[:40])
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        audit.append(
            session, PassRevoked(reason=reason), actor=actor, subject=customer.subject_id, at=now
        )
    return count


def issue(
    session: Session, *, customer: Customer, reason: str, actor: str, now: datetime
) -> IssuedPass:
    """A new pass for ``customer``; an active old one is revoked first (in this transaction).
    The caller publishes the galleries of the member's stores when the old pass was live."""
    revoke(session, customer=customer, reason="reissued", actor=actor, now=now)
    token = new_pass_token()
    digest = pass_digest(token)
    session.add(
        MemberPass(customer_id=customer.id, digest=digest, issued_at=now, issued_by=actor[:120])
    )
    session.flush()
    audit.append(
        session, PassIssued(reason=reason), actor=actor, subject=customer.subject_id, at=now
    )
    return IssuedPass(token=token, digest=digest, issued_at=now)


def active_pass(session: Session, customer_id: str) -> MemberPass | None:
    return session.scalar(
        select(MemberPass).where(
            MemberPass.customer_id == customer_id, MemberPass.revoked_at.is_(None)
        )
    )


def check_token(session: Session, *, customer_id: str, token: str) -> str:
    """The canonical token when it is ``customer_id``'s active pass (so a page may show it);
    one ``BadInput`` for every way it is not."""
    canonical = parse_pass_token(token)
    current = active_pass(session, customer_id)
    if canonical is None or current is None or pass_digest(canonical) != current.digest:
        raise BadInput("this is not the customer's current pass")
    return canonical
