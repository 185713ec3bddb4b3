"""Staff accounts and sessions: argon2 password hashes, server-side sessions with idle timeout."""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.staff import STAFF_ROLES, Staff, StaffSession
from server.services.errors import BadInput, Conflict, Unauthorized
from server.services.ids import new_token, token_digest

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the username is unknown, so both paths cost the same (no user
    oracle). Made by the hasher in use on the first password check of the process, not at
    import: every process that imports the app (each server start, each CLI command) paid
    ~0.3 s of Argon2 for it, signing in or not."""
    return hasher.hash("vertrouwd-dummy-password")


@dataclass(frozen=True)
class StaffIdentity:
    """Who is signed in, as routes see it (no password hash, no token)."""

    id: int
    username: str
    display_name: str
    role: str
    store_id: int | None


def _identity(staff: Staff) -> StaffIdentity:
    return StaffIdentity(staff.id, staff.username, staff.display_name, staff.role, staff.store_id)


def create_staff(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    store_id: int | None,
    display_name: str | None = None,
) -> StaffIdentity:
    if role not in STAFF_ROLES:
        raise BadInput(f"unknown role {role!r}; one of {', '.join(STAFF_ROLES)}")
    if len(password) < 10:
        raise BadInput("password must be at least 10 characters")
    if role in ("sales", "cashier") and store_id is None:
        raise BadInput(f"a {role} account belongs to one store")
    if session.scalar(select(Staff).where(Staff.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken")
    staff = Staff(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        role=role,
        store_id=store_id,
    )
    session.add(staff)
    session.flush()
    return _identity(staff)


def login(
    session: Session, *, username: str, password: str, now: datetime
) -> tuple[str, StaffIdentity]:
    """Returns a new session token. One error for unknown user and wrong password. (The web
    sign-in goes through ``signin.sign_in``: throttled, audited, and the password checked
    without holding a database connection.)"""
    staff = active_account(session, username)
    if not password_matches(staff.password_hash if staff else None, password) or staff is None:
        raise Unauthorized("wrong username or password")
    return open_session(session, staff_id=staff.id, now=now)


def active_account(session: Session, username: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.username == username, Staff.active.is_(True)))


def password_matches(password_hash: str | None, password: str) -> bool:
    """Argon2 verification (slow on purpose: call it without holding a database connection).
    An unknown account (``None``) is checked against a dummy hash, so both cost the same."""
    # made before the account is looked at: the first check costs the same for both
    dummy = _dummy_hash(_hasher)
    try:
        return bool(_hasher.verify(password_hash or dummy, password)) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def open_session(session: Session, *, staff_id: int, now: datetime) -> tuple[str, StaffIdentity]:
    """A new sign-in session for an active account: its token (kept only as a digest)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise Unauthorized("wrong username or password")
    token = new_token()
    session.add(
        StaffSession(
            token_hash=token_digest(token), staff_id=staff.id, created_at=now, last_seen_at=now
        )
    )
    return token, _identity(staff)


def authenticate(
    session: Session, *, token: str, now: datetime, idle: timedelta, refresh: bool = True
) -> StaffIdentity:
    """The staff member behind a session token. Any use refreshes the idle timer unless
    ``refresh`` is false (a tablet's open WebSocket checks its session without keeping it
    alive: an unattended tablet signs itself out after ``idle``)."""
    row = session.get(StaffSession, token_digest(token))
    if row is None or row.ended_at is not None or now - row.last_seen_at > idle:
        raise Unauthorized("not signed in or session expired")
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        raise Unauthorized("not signed in or session expired")
    if refresh:
        row.last_seen_at = now
    return _identity(staff)


def open_sessions(
    session: Session, *, digests: Collection[str], idle: timedelta
) -> dict[str, datetime]:
    """For each session among ``digests`` (token digests) that is still open (not signed out,
    its staff member still active): when it runs out unless it is used again (its last use +
    ``idle``). A digest not in the answer is over. One query for any number of sessions: the
    tablet sockets of a server process are re-checked together, not one ping at a time."""
    out: dict[str, datetime] = {}
    wanted = sorted(digests)
    for start in range(0, len(wanted), 500):  # bounded IN lists
        rows = session.execute(
            select(StaffSession.token_hash, StaffSession.last_seen_at)
            .join(Staff, Staff.id == StaffSession.staff_id)
            .where(
                StaffSession.token_hash.in_(wanted[start : start + 500]),
                StaffSession.ended_at.is_(None),
                Staff.active.is_(True),
            )
        )
        for digest, last_seen_at in rows:
            out[digest] = last_seen_at + idle
    return out


def logout(session: Session, *, token: str, now: datetime) -> StaffIdentity | None:
    """Ends the session; returns who was signed out (their store's tablet sockets are told,
    so one on this session closes at once), or None when it was not open."""
    row = session.get(StaffSession, token_digest(token))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        staff = session.get(Staff, row.staff_id)
        return _identity(staff) if staff is not None else None
    return None


def signed_in_at(session: Session, token: str) -> datetime | None:
    """When the sign-in session behind ``token`` started."""
    row = session.get(StaffSession, token_digest(token))
    return row.created_at if row is not None else None
