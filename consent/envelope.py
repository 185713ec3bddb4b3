"""Envelope encryption of a customer's templates and thumbnail under their data key (DEK).

Each customer has one 256-bit DEK, stored only wrapped by the server KEK (``consent.keys``).
Deleting the wrapped DEK crypto-shreds every blob sealed under it, including copies in backups.

Sealed format (all sealed blobs)::

    b"VEN1" | nonce (12 random bytes) | AES-256-GCM ciphertext + 16-byte tag

The associated data binds the blob to its owner and use, so a blob copied to another customer's
row, to another template version or to another purpose does not open::

    b"vertrouwd/envelope/v1\\0" | lp(kind) | lp(subject_id) | lp(purpose) | u64(template_version)

(``lp`` = u32 big-endian length prefix; ``kind`` is ``template`` or ``blob``.) Any failure to
open raises the opaque :class:`~consent.errors.InvalidSeal`.

Random 96-bit nonces are safe here: one DEK seals a handful of blobs per customer, far below the
2**32 messages per key limit for random GCM nonces.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent._encoding import lp, u64
from consent.errors import InvalidSeal

__all__ = [
    "DATA_KEY_BYTES",
    "PURPOSE_TEMPLATE",
    "PURPOSE_THUMBNAIL",
    "new_data_key",
    "open_blob",
    "open_template",
    "seal_blob",
    "seal_template",
]

DATA_KEY_BYTES = 32
PURPOSE_TEMPLATE = "template"
PURPOSE_THUMBNAIL = "thumbnail"

_MAGIC = b"VEN1"
_NONCE_BYTES = 12
_AD_LABEL = b"vertrouwd/envelope/v1\x00"
_MAX_VERSION = (1 << 63) - 1


def new_data_key() -> bytes:
    """A fresh random 256-bit data key (DEK) for one customer."""
    return AESGCM.generate_key(bit_length=256)


def _check_key(dek: bytes) -> AESGCM:
    if not isinstance(dek, bytes) or len(dek) != DATA_KEY_BYTES:
        raise ValueError("a data key must be exactly 32 bytes")
    return AESGCM(dek)


def _associated_data(kind: str, subject_id: str, purpose: str, version: int) -> bytes:
    if not subject_id:
        raise ValueError("subject_id must not be empty")
    if not purpose:
        raise ValueError("purpose must not be empty")
    if isinstance(version, bool) or not 0 <= version <= _MAX_VERSION:
        raise ValueError("template_version must be a non-negative integer")
    return (
        _AD_LABEL
        + lp(kind.encode())
        + lp(subject_id.encode("utf-8"))
        + lp(purpose.encode("utf-8"))
        + u64(version)
    )


def _seal(dek: bytes, data: bytes, ad: bytes) -> bytes:
    aead = _check_key(dek)
    nonce = os.urandom(_NONCE_BYTES)
    return _MAGIC + nonce + aead.encrypt(nonce, bytes(data), ad)


def _open(dek: bytes, sealed: bytes, ad: bytes) -> bytes:
    aead = _check_key(dek)
    if len(sealed) < len(_MAGIC) + _NONCE_BYTES + 16 or sealed[: len(_MAGIC)] != _MAGIC:
        raise InvalidSeal
    nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
    try:
        return aead.decrypt(nonce, sealed[len(_MAGIC) + _NONCE_BYTES :], ad)
    except InvalidTag:
        raise InvalidSeal from None


def seal_template(dek: bytes, vector: bytes, *, subject_id: str, template_version: int) -> bytes:
    """Encrypt one face template (float32 bytes) for ``subject_id`` at ``template_version``."""
    ad = _associated_data("template", subject_id, PURPOSE_TEMPLATE, template_version)
    return _seal(dek, vector, ad)


def open_template(dek: bytes, sealed: bytes, *, subject_id: str, template_version: int) -> bytes:
    """Decrypt a template sealed by :func:`seal_template`; ``InvalidSeal`` on any mismatch."""
    ad = _associated_data("template", subject_id, PURPOSE_TEMPLATE, template_version)
    return _open(dek, sealed, ad)


def seal_blob(dek: bytes, data: bytes, *, subject_id: str, purpose: str) -> bytes:
    """Encrypt another per-customer blob (e.g. ``PURPOSE_THUMBNAIL``) bound to subject + purpose."""
    return _seal(dek, data, _associated_data("blob", subject_id, purpose, 0))


def open_blob(dek: bytes, sealed: bytes, *, subject_id: str, purpose: str) -> bytes:
    """Decrypt a blob sealed by :func:`seal_blob`; ``InvalidSeal`` on any mismatch."""
    return _open(dek, sealed, _associated_data("blob", subject_id, purpose, 0))
