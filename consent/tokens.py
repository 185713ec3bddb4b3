"""Signed, encrypted, expiring tokens for the customer's self-service link (``/me/<token>``).

Built on ``cryptography``'s Fernet (AES-128-CBC + HMAC-SHA256, with ``encrypt_at_time`` /
``decrypt_at_time`` so time is injectable). Fernet *encrypts* as well as authenticates, so the
customer id is not readable from a link printed on a receipt. The Fernet key is derived from the
server's token secret with HKDF-SHA256, so the same secret is never used directly.

Plaintext: ``canonical_json({"v": 1, "p": purpose, "s": subject_id, "exp": unix seconds})``.
The token is Fernet's URL-safe base64 without ``=`` padding. Every way a token can be bad
(tampered, truncated, wrong key, wrong purpose, expired, issued in the future) raises the one
opaque :class:`~consent.errors.InvalidSeal`.

Tokens are bearer credentials and are not single-use; to revoke outstanding links the server
rotates the secret or keeps a per-customer "not before" time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consent.audit import canonical_json, format_timestamp, parse_timestamp
from consent.errors import InvalidSeal

__all__ = [
    "MAX_TOKEN_TTL",
    "MIN_KEY_BYTES",
    "PURPOSE_SELF_SERVICE",
    "issue_token",
    "read_token",
]

PURPOSE_SELF_SERVICE = "self-service"
MIN_KEY_BYTES = 32
MAX_TOKEN_TTL = timedelta(days=400)
_MAX_TOKEN_CHARS = 4096
_HKDF_INFO = b"vertrouwd/self-service-token/v1"


def _fernet(key: bytes) -> Fernet:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_KEY_BYTES} random bytes")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def _unix(now: datetime) -> int:
    return int(parse_timestamp(format_timestamp(now)).timestamp())


def issue_token(
    subject_id: str,
    *,
    key: bytes,
    now: datetime,
    ttl: timedelta,
    purpose: str = PURPOSE_SELF_SERVICE,
) -> str:
    """A URL-safe token naming ``subject_id`` for ``purpose``, valid for ``ttl`` from ``now``."""
    if not subject_id:
        raise ValueError("subject_id must not be empty")
    if not purpose:
        raise ValueError("purpose must not be empty")
    if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
        raise ValueError(f"ttl must be positive and at most {MAX_TOKEN_TTL}")
    issued = _unix(now)
    expires = issued + max(1, int(ttl.total_seconds()))
    plaintext = canonical_json({"v": 1, "p": purpose, "s": subject_id, "exp": expires})
    token = _fernet(key).encrypt_at_time(plaintext, issued)
    return token.decode("ascii").rstrip("=")


def read_token(
    token: str, *, key: bytes, now: datetime, purpose: str = PURPOSE_SELF_SERVICE
) -> str:
    """The subject id in a valid token; :class:`InvalidSeal` if it is bad in any way."""
    fernet = _fernet(key)
    current = _unix(now)
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_CHARS:
        raise InvalidSeal
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidSeal from None
    # Only the canonical encoding is accepted, so a token has exactly one spelling.
    canonical = base64.urlsafe_b64encode(raw)
    if not hmac.compare_digest(canonical.rstrip(b"="), token.encode("ascii")):
        raise InvalidSeal
    try:
        plaintext = fernet.decrypt_at_time(
            canonical, ttl=int(MAX_TOKEN_TTL.total_seconds()), current_time=current
        )
        doc: Any = json.loads(plaintext)
    except (InvalidToken, ValueError):
        raise InvalidSeal from None
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise InvalidSeal
    subject, token_purpose, expires = doc.get("s"), doc.get("p"), doc.get("exp")
    if not isinstance(subject, str) or not isinstance(token_purpose, str):
        raise InvalidSeal
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise InvalidSeal
    if not hmac.compare_digest(token_purpose.encode(), purpose.encode()):
        raise InvalidSeal
    if current >= expires:
        raise InvalidSeal
    return subject
