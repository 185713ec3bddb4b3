"""Signed, expiring self-service links for customers (``/me/<token>``)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from consent.tokens import issue_token

if TYPE_CHECKING:
    from server.runtime import Runtime

PURPOSE = "self-service"


def link(rt: Runtime, customer_id: str) -> str:
    token = issue_token(
        customer_id,
        key=rt.secret_key,
        now=rt.now(),
        ttl=timedelta(days=rt.settings.self_service_ttl_days),
        purpose=PURPOSE,
    )
    return f"{rt.settings.public_url.rstrip('/')}/me/{token}"
