"""The one way a request is refused: :func:`deny` writes the ``access.denied`` audit entry and
returns the refusal to raise (privacy invariant 15: every denial is audited).

Every refusal of a signed-in staff member (wrong role, wrong store, another store's customer, a
visit that is not live), every request refused for its origin (cross-site request forgery, see
``server.security``) and every sign-in lockout goes through here, so the entries share one
payload: ``what`` was refused, the ``role`` and ``store_id`` of whoever asked (``None`` for a
request nobody is signed in to), and whatever the caller adds (a path, an id, an action). A
customer is named only by pseudonym (``subject``); an unknown customer id is never written (it
may be an erased customer's, which must not reappear in the append-only log).

The entry survives the refused request: the error carries ``keep_writes`` so the request's
transaction is committed before the refusal is answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict, Unpack

from sqlalchemy.orm import Session

from consent.audit_kinds import AccessDenied
from server.services import audit
from server.services.errors import Forbidden, ServiceError
from server.services.staff.accounts import StaffIdentity


def actor_of(who: StaffIdentity | None) -> str:
    return f"staff:{who.username}" if who is not None else "anonymous"


class Details(TypedDict, total=False):
    """What a caller may add to an ``access.denied`` entry (``consent.audit_kinds.AccessDenied``;
    ``None`` is left out)."""

    action: str
    found: bool
    id: str | None
    path: str | None
    origin: str | None


def record_denial(
    session: Session,
    who: StaffIdentity | None,
    *,
    what: str,
    now: datetime,
    subject: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
    **extra: Unpack[Details],
) -> None:
    """Append the ``access.denied`` entry in the caller's transaction (without raising)."""
    denied = AccessDenied(
        what=what,
        role=who.role if who is not None else None,
        store_id=who.store_id if who is not None else None,
        reason=reason,
        **extra,
    )
    audit.append(session, denied, actor=actor or actor_of(who), subject=subject, at=now)


def deny(
    session: Session,
    who: StaffIdentity | None,
    *,
    what: str,
    reason: str,
    now: datetime,
    error: type[ServiceError] = Forbidden,
    subject: str | None = None,
    **extra: Unpack[Details],
) -> ServiceError:
    """Audit the refusal and return the error to raise (``raise access.deny(...)``): ``error``
    (403 by default; 404 where the answer must not tell whether the thing exists) with
    ``reason``, marked so that the audit entry is kept."""
    record_denial(session, who, what=what, now=now, subject=subject, **extra)
    return error(reason, keep_writes=True)


def require_role(
    session: Session,
    who: StaffIdentity,
    roles: tuple[str, ...],
    *,
    what: str,
    now: datetime,
    reason: str | None = None,
    **extra: Unpack[Details],
) -> None:
    """``who`` has one of ``roles``; otherwise an audited 403 saying ``reason`` (``{role}`` is
    filled in; default: "the ROLE role may not WHAT"), with ``extra`` in the audit entry."""
    if who.role not in roles:
        said = (reason or "the {role} role may not " + what).format(role=who.role)
        raise deny(session, who, what=what, reason=said, now=now, **extra)
