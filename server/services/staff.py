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
    """Returns a new session token. One error for unknown user and wrong password."""
    staff = session.scalar(select(Staff).where(Staff.username == username, Staff.active.is_(True)))
    try:
        _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong username or password") from None
    if staff is None:
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
