"""Customers' self-service links (``/me/<id>``): short, opaque, server-side and revocable.

A link is the public URL, ``/me/`` and a random 128-bit id (22 characters): the whole link
stays within :data:`MAX_LINK_CHARS` so its QR code is small and sparse. The server keeps only
the id's SHA-256 (``self_service_links``), so a copy of the database opens nobody's page.

A link is issued at enrolment (register, CLI) and otherwise only by an explicit re-issue by
staff, which revokes the customer's previous link and is written to the audit log as
``selfservice.link_reissued`` (flagged in the console's staff access view): staff cannot quietly
get a working link to read a member's profile. Withdrawal ends the customer's links after a
short grace (:data:`AFTER_WITHDRAWAL`: the page that confirmed the withdrawal can still offer
"forget me"); erasure ends them at once (the row keeps only its digest and dates, and the link
then answers "nothing is held"). Expired, revoked, unknown or malformed ids are one opaque 401.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from consent.audit_kinds import LinkIssued, LinkReissued
from server.db.membership import ConsentRecord, Customer, SelfServiceLink
from server.services import audit
from server.services.context import ServiceContext
from server.services.errors import NotFound, Unauthorized

BAD_LINK = "this link is not valid or has expired; ask in the store for a new one"
NOTHING_HELD = "nothing is held under this link"
MAX_LINK_CHARS = 80
ID_BYTES = 16  # 128 bits: 22 URL-safe characters
AFTER_WITHDRAWAL = timedelta(minutes=15)
RECEIPT_WINDOW = timedelta(minutes=10)


def digest(link_id: str) -> str:
    return hashlib.sha256(link_id.encode("ascii", "replace")).hexdigest()


def url(public_url: str, link_id: str) -> str:
    return f"{public_url.rstrip('/')}/me/{link_id}"


def issue(
    session: Session,
    *,
    customer: Customer,
    actor: str,
    channel: str,
    ttl: timedelta,
    now: datetime,
    reissue: bool = False,
) -> str:
    """A new link id for ``customer``; any link they had stops working. Audited: at enrolment
    as ``selfservice.link_issued``, otherwise (``reissue``) as ``selfservice.link_reissued``."""
    revoked = session.execute(
        update(SelfServiceLink)
        .where(SelfServiceLink.customer_id == customer.id, SelfServiceLink.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="reissued")
    )
    link_id = secrets.token_urlsafe(ID_BYTES)
    session.add(
        SelfServiceLink(
            digest=digest(link_id),
            customer_id=customer.id,
            issued_at=now,
            issued_by=actor[:120],
            channel=channel[:20],
            expires_at=now + ttl,
        )
    )
    issued = LinkReissued if reissue else LinkIssued
    audit.append(
        session,
        issued(channel=channel, revoked=int(getattr(revoked, "rowcount", 0) or 0)),
        actor=actor,
        subject=customer.subject_id,
        at=now,
    )
    return link_id


def issue_link(
    session: Session,
    ctx: ServiceContext,
    *,
    customer: Customer,
    actor: str,
    channel: str,
    reissue: bool = False,
) -> str:
    """:func:`issue` with the server's settings; the whole URL."""
    link_id = issue(
        session,
        customer=customer,
        actor=actor,
        channel=channel,
        ttl=timedelta(days=ctx.settings.self_service_ttl_days),
        now=ctx.now(),
        reissue=reissue,
    )
    return url(ctx.settings.public_url, link_id)


def end_links(session: Session, *, customer_id: str, reason: str, until: datetime) -> None:
    """The customer's links stop working at ``until`` at the latest (withdrawal: a short
    grace)."""
    session.execute(
        update(SelfServiceLink)
        .where(
            SelfServiceLink.customer_id == customer_id,
            SelfServiceLink.revoked_at.is_(None),
            SelfServiceLink.expires_at > until,
        )
        .values(expires_at=until, revoked_reason=reason)
    )


def erase_links(session: Session, customer: Customer, now: datetime) -> int:
    """Erasure: the links end and no longer name the customer (digest and dates stay, so the
    link answers "nothing is held" rather than "not valid")."""
    live = session.execute(
        update(SelfServiceLink)
        .where(SelfServiceLink.customer_id == customer.id, SelfServiceLink.revoked_at.is_(None))
        .values(customer_id=None, revoked_at=now, revoked_reason="erased")
    )
    revoked = session.execute(  # revoked before (re-issued): stays "not valid"
        update(SelfServiceLink)
        .where(SelfServiceLink.customer_id == customer.id)
        .values(customer_id=None)
    )
    return sum(int(getattr(r, "rowcount", 0) or 0) for r in (live, revoked))


def resolve(session: Session, *, token: str, now: datetime) -> Customer:
    """The customer a link names. Unknown, malformed, revoked or expired: one opaque 401; the
    link of an erased customer: 404 ``nothing is held``."""
    if not 16 <= len(token) <= 64:
        raise Unauthorized(BAD_LINK)
    row = session.scalar(select(SelfServiceLink).where(SelfServiceLink.digest == digest(token)))
    if row is None:
        raise Unauthorized(BAD_LINK)
    if row.revoked_reason == "erased":
        if row.expires_at <= now:
            raise Unauthorized(BAD_LINK)
        raise NotFound(NOTHING_HELD)
    if row.revoked_at is not None or row.expires_at <= now or row.customer_id is None:
        raise Unauthorized(BAD_LINK)
    customer = session.get(Customer, row.customer_id)
    if customer is None:
        raise NotFound(NOTHING_HELD)
    return customer


def latest_link(session: Session, customer_id: str) -> SelfServiceLink | None:
    return session.scalar(
        select(SelfServiceLink)
        .where(SelfServiceLink.customer_id == customer_id)
        .order_by(SelfServiceLink.issued_at.desc())
        .limit(1)
    )


def receipt_allowed(
    session: Session, *, customer: Customer, username: str, signed_in_at: datetime, now: datetime
) -> bool:
    """A receipt may carry a new link only right after this customer's enrolment, by the staff
    member who enrolled them, in the same sign-in session (within :data:`RECEIPT_WINDOW`),
    and only once; otherwise only an explicit, audited re-issue gives one."""
    given = session.scalar(
        select(ConsentRecord.given_at)
        .where(ConsentRecord.customer_id == customer.id, ConsentRecord.collected_by == username)
        .order_by(ConsentRecord.given_at.desc())
        .limit(1)
    )
    if given is None or given < signed_in_at or not now - RECEIPT_WINDOW <= given <= now:
        return False
    printed = session.scalar(
        select(func.count())
        .select_from(SelfServiceLink)
        .where(
            SelfServiceLink.customer_id == customer.id,
            SelfServiceLink.channel == "receipt",
            SelfServiceLink.issued_at >= given,
        )
    )
    return not printed
