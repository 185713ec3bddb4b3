"""Staff accounts and sessions: argon2 password hashes, server-side sessions with idle timeout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import STAFF_ROLES, Staff, StaffSession
from server.services.errors import BadInput, Conflict, Unauthorized
from server.services.ids import new_token, token_digest

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same (no user oracle).
_DUMMY_HASH = _hasher.hash("vertrouwd-dummy-password")


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
    try:
        return bool(_hasher.verify(password_hash or _DUMMY_HASH, password)) and (
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


def logout(session: Session, *, token: str, now: datetime) -> None:
    row = session.get(StaffSession, token_digest(token))
    if row is not None and row.ended_at is None:
        row.ended_at = now


def signed_in_at(session: Session, token: str) -> datetime | None:
    """When the sign-in session behind ``token`` started."""
    row = session.get(StaffSession, token_digest(token))
    return row.created_at if row is not None else None
