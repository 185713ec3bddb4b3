"""Signed, expiring self-service links for customers (``/me/<token>``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from consent.errors import InvalidSeal
from consent.tokens import issue_token, read_token
from server.db.models import Customer
from server.services.errors import NotFound, Unauthorized

if TYPE_CHECKING:
    from server.runtime import Runtime

PURPOSE = "self-service"
BAD_LINK = "this link is not valid or has expired; ask in the store for a new one"
NOTHING_HELD = "nothing is held under this link"


def token_for(rt: Runtime, customer_id: str) -> str:
    return issue_token(
        customer_id,
        key=rt.secret_key,
        now=rt.now(),
        ttl=timedelta(days=rt.settings.self_service_ttl_days),
        purpose=PURPOSE,
    )


def link(rt: Runtime, customer_id: str) -> str:
    return f"{rt.settings.public_url.rstrip('/')}/me/{token_for(rt, customer_id)}"


def resolve(session: Session, *, token: str, key: bytes, now: datetime) -> Customer:
    """The customer a link names. A tampered, truncated, foreign or expired token is one opaque
    401; a valid token whose customer is gone (erased) is a 404 ``nothing is held``."""
    try:
        customer_id = read_token(token, key=key, now=now, purpose=PURPOSE)
    except InvalidSeal:
        raise Unauthorized(BAD_LINK) from None
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(NOTHING_HELD)
    return customer
