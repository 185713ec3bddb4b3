"""Staff sign-in from the web: throttled per account and per client address, audited, and with
the password checked while no database connection is held.

Throttling: every failed sign-in counts against the account (keyed by a digest of the name
typed, whether such an account exists or not, so the answer tells nothing about it) and against
the client address. From the ``account_failures``-th failure of an account (``address_failures``
for an address, higher: a store's tills may share one address) sign-in for it is refused for
``lockout_s`` seconds, doubling with each further failure up to ``lockout_max_s``. While refused,
even the right password gets 429 with ``Retry-After``, and no password is checked. Failures
older than ``window_s`` are forgotten; a successful sign-in clears the account's count.

Audit (privacy invariant 15): ``staff.signed_in``, ``staff.sign_in_failed`` and
``staff.locked_out`` (when a lockout starts). A failure for a name that is no account is written
as ``anonymous`` without the name typed (it may be a password typed into the wrong field).
Attempts refused during a lockout are logged, not audited: the lockout entry covers them, and
nobody can grow the append-only log at will.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from consent.audit_kinds import AuditKind, StaffLockedOut, StaffSignedIn, StaffSignInFailed
from server.db.session import transaction
from server.db.staff import LoginThrottle
from server.services import audit
from server.services.errors import Unauthorized
from server.services.staff import accounts as staff
from server.services.staff.accounts import StaffIdentity
from server.services.workpool import WorkPool

log = logging.getLogger(__name__)

KINDS = (AuditKind.STAFF_SIGNED_IN, AuditKind.STAFF_SIGN_IN_FAILED, AuditKind.STAFF_LOCKED_OUT)


@dataclass(frozen=True)
class Policy:
    account_failures: int = 5
    address_failures: int = 20
    lockout_s: int = 30
    lockout_max_s: int = 3600
    window_s: int = 900


class Throttled(Exception):
    """Sign-in refused for now; try again after ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()[:40]
    return f"account:{digest}"


def address_key(address: str) -> str:
    return f"address:{address[:64]}"


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def _locked(session: Session, keys: list[str], now: datetime) -> datetime | None:
    until = [
        row.locked_until
        for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
        if row.locked_until is not None and row.locked_until > now
    ]
    return max(until) if until else None


def sign_in(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    address: str,
    now: datetime,
    policy: Policy,
    pool: WorkPool | None = None,
) -> tuple[str, StaffIdentity]:
    """A new session token for the account, or :class:`Throttled` (429) or ``Unauthorized``.
    ``pool``: the bounded pool the password check runs in (a flood of sign-ins waits there or
    gets 503, never more Argon2 at once than it has workers); ``None`` runs it in this thread."""
    keys = [account_key(username), address_key(address)]
    # 1. Refused outright while locked; otherwise look the account up (short transaction).
    with transaction(sessions) as session:
        until = _locked(session, keys, now)
        account = staff.active_account(session, username) if until is None else None
        staff_id = account.id if account is not None else None
        password_hash = account.password_hash if account is not None else None
    if until is not None:
        log.warning("sign-in refused during a lockout (address %s)", address)
        raise Throttled(_retry_after(until, now))
    # 2. Argon2, with no connection held (it takes tens of milliseconds of CPU on purpose).
    if pool is not None:
        matches = pool.run(staff.password_matches, password_hash, password)
    else:
        matches = staff.password_matches(password_hash, password)
    ok = matches and staff_id is not None
    # 3. Record the outcome (one transaction: the audit chain first, then the counters).
    failed_locked: datetime | None = None
    with transaction(sessions) as session:
        audit.lock_chain(session)
        if ok and staff_id is not None:
            token, who = staff.open_session(session, staff_id=staff_id, now=now)
            row = session.get(LoginThrottle, keys[0])
            if row is not None:
                session.delete(row)
            audit.append(
                session,
                StaffSignedIn(role=who.role, store_id=who.store_id, address=address[:64]),
                actor=f"staff:{who.username}",
                subject=None,
                at=now,
            )
            return token, who
        actor = f"staff:{username}" if staff_id is not None else "anonymous"
        audit.append(
            session,
            StaffSignInFailed(address=address[:64], account="known" if staff_id else "unknown"),
            actor=actor,
            subject=None,
            at=now,
        )
        for key, limit, scope in (
            (keys[0], policy.account_failures, "account"),
            (keys[1], policy.address_failures, "address"),
        ):
            row = _count_failure(session, key, now, policy)
            if row.failures >= limit:
                step = min(row.failures - limit, 20)
                length = min(policy.lockout_max_s, policy.lockout_s * 2**step)
                row.locked_until = now + timedelta(seconds=length)
                failed_locked = max(failed_locked or row.locked_until, row.locked_until)
                audit.append(
                    session,
                    StaffLockedOut(
                        scope=scope, address=address[:64], failures=row.failures, seconds=length
                    ),
                    actor=actor,
                    subject=None,
                    at=now,
                )
    if failed_locked is not None:
        raise Throttled(_retry_after(failed_locked, now))
    raise Unauthorized("wrong username or password")


def _count_failure(session: Session, key: str, now: datetime, policy: Policy) -> LoginThrottle:
    """The key's row with this failure counted (created if new; reset if its failures are older
    than the window). Row-locked, so concurrent failures all count."""
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():
                row = LoginThrottle(key=key, failures=0, first_failure_at=now, last_failure_at=now)
                session.add(row)
        except IntegrityError:  # another request created it first
            row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
            assert row is not None
    if now - row.last_failure_at > timedelta(seconds=policy.window_s):
        row.failures = 0
        row.first_failure_at = now
    row.failures += 1
    row.last_failure_at = now
    return row
