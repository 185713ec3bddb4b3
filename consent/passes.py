"""Membership passes: a compact, typeable, pseudonymous bearer token shown as a QR code.

A pass is ``VP1-`` followed by seven groups of four RFC 4648 base32 characters
(e.g. ``VP1-ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23``): 16 bytes from :mod:`secrets` (128 bits, so it
cannot be guessed or forged) and one check byte (the first byte of a SHA-256 over them), so a
mistyped pass is refused without a lookup. Every character is in the QR alphanumeric set, so the
code is a sparse version-2 QR that a phone screen or a receipt printer renders reliably.

The token names nobody: the server stores only :func:`pass_digest` (hex SHA-256 of the
canonical token) beside the member, and the sealed gallery carries ``[digest, subject_id]``
pairs (``consent.gallery``), so the device learns neither the token nor a name. Revoking a pass
(withdrawal, erasure, a lost card, switching back) is deleting its digest and publishing a new
gallery. A pass is deliberately different from the self-service link (``consent.tokens``): the
link opens the member's data, the pass only says "this member is here" to one store's devices.

:func:`parse_pass_token` is the single gate for untrusted text (a QR decoder's output, a typed
code): it returns the canonical token or ``None``, the same for every way the text can be wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from typing import Final

from consent.errors import InvalidSeal

__all__ = ["PASS_PREFIX", "new_pass_token", "parse_pass_token", "pass_digest"]

PASS_PREFIX: Final = "VP1"  # noqa: S105 - a format tag, not a secret
_RANDOM_BYTES = 16
_GROUP = 4
_BODY_CHARS = 28  # base32 of 17 bytes (16 random + 1 check) without padding
_MAX_INPUT_CHARS = 128  # far above the longest acceptable spelling; bounds the work per frame
_CHECK_LABEL = b"vertrouwd/pass/v1\x00"
# Typing aids: base32 has no 0, 1 or 8, so read them as the letters they are mistaken for.
_TYPO_MAP = str.maketrans({"0": "O", "1": "I", "8": "B"})
_BODY_RE = re.compile(r"^[A-Z2-7]{28}$")
_SEPARATORS_RE = re.compile(r"[\s\-]+")


def _check_byte(random_part: bytes) -> int:
    return hashlib.sha256(_CHECK_LABEL + random_part).digest()[0]


def _format(body: str) -> str:
    groups = [body[i : i + _GROUP] for i in range(0, len(body), _GROUP)]
    return "-".join([PASS_PREFIX, *groups])


def new_pass_token() -> str:
    """A fresh pass token in its canonical spelling."""
    random_part = secrets.token_bytes(_RANDOM_BYTES)
    raw = random_part + bytes([_check_byte(random_part)])
    body = base64.b32encode(raw).decode("ascii").rstrip("=")
    return _format(body)


def parse_pass_token(text: object) -> str | None:
    """The canonical token in ``text`` (what a QR decoder read, or a typed code), or ``None``.

    Accepts any case, spaces or dashes between groups, and ``0``/``1``/``8`` typed for
    ``O``/``I``/``B``. Anything else (a self-service link, a URL, another QR, a mistyped or
    truncated pass, non-canonical base32) is ``None``, without saying why.
    """
    if not isinstance(text, str) or len(text) > _MAX_INPUT_CHARS:
        return None
    compact = _SEPARATORS_RE.sub("", text).upper()
    if not compact.startswith(PASS_PREFIX):
        return None
    body = compact[len(PASS_PREFIX) :].translate(_TYPO_MAP)
    if not _BODY_RE.match(body):
        return None
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        return None
    # One spelling per pass: the unused low bits of the last character must be zero.
    if base64.b32encode(raw).decode("ascii").rstrip("=") != body:
        return None
    random_part, check = raw[:_RANDOM_BYTES], raw[_RANDOM_BYTES:]
    if len(check) != 1 or not hmac.compare_digest(check, bytes([_check_byte(random_part)])):
        return None
    return _format(body)


def pass_digest(token: str) -> str:
    """Hex SHA-256 of the canonical token: what the server stores and the gallery carries.

    ``token`` may be in any spelling :func:`parse_pass_token` accepts; anything else raises the
    opaque :class:`~consent.errors.InvalidSeal`.
    """
    canonical = parse_pass_token(token)
    if canonical is None:
        raise InvalidSeal
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
