"""Vertrouwd consent: the recipe layer for everything secret or legally significant.

Modules (import them directly; nothing heavy happens at import time):

- ``consent.errors``: ``InvalidSeal`` (the one opaque error) and ``GalleryRejected``.
- ``consent.envelope``: per-customer data keys; seal/open templates and thumbnails.
- ``consent.keys``: the ``KeyProvider`` protocol, the local 0600 keyring, ``rewrap``.
- ``consent.signing``: the server's Ed25519 key.
- ``consent.device``: an edge device's HPKE key pair (hybrid ML-KEM-768 + X25519 by default).
- ``consent.gallery``: the sealed, signed gallery format.
- ``consent.files``: crash-safe atomic writes and 0600 key files (``models`` uses it too).
- ``consent.audit``: canonical JSON, the hash-chained audit log and its verifier.
- ``consent.records``: consent texts, ISO/IEC TS 27560-style records, retention rules.
- ``consent.tokens``: expiring self-service link tokens.
- ``consent.modes``: the store's recognition modes and what each may do.
- ``consent.passes``: membership pass tokens (QR) and their digests.

Rule: ``consent`` imports no other Vertrouwd package, and it is the only package that imports
``cryptography.hazmat``.
"""

from consent.errors import GalleryRejected, InvalidSeal

__all__ = ["GalleryRejected", "InvalidSeal"]
