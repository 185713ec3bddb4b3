"""Random identifiers and token digests."""

from __future__ import annotations

import hashlib
import secrets
import uuid


def new_id() -> str:
    return uuid.uuid4().hex


def new_subject_id() -> str:
    """A pseudonym for galleries and the audit log: unlinkable to the customer once erased."""
    return "s_" + secrets.token_hex(16)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens are stored only as SHA-256 digests (they are high-entropy, so no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()
