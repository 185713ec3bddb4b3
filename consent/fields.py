"""Personal fields sealed under a customer's profile data key, and blind indexes to find them.

Why: a database page, a WAL segment or a dump keeps what it was given, long after a row is
deleted (PostgreSQL's dead tuples and WAL, issue 18). If a name, e-mail, allergy or note only
ever reaches the database as ciphertext under a key that erasure destroys, no copy of the
database can give it back once that key (and, for backups, the epoch's KEK) is gone.

Sealed field format::

    b"\\x00VF1" | nonce (12 random bytes) | AES-256-GCM(UTF-8 text) + 16-byte tag

The leading NUL tells a sealed value from legacy plaintext (a PostgreSQL text value never holds
a NUL), so a database part-way through ``vertrouwd keys encrypt-fields`` reads both. The
associated data binds the ciphertext to its place, so a value copied to another customer,
table, column or row does not open::

    b"vertrouwd/field/v1\\0" | lp(table) | lp(column) | lp(row id) | lp(customer id)

Blind index: ``HMAC-SHA256(index key, b"vertrouwd/bidx/v1\\0" | lp(kind) | lp(normalised))``,
truncated to 16 bytes, under a server key that is not a KEK and never stored in the database.
It answers "equal?" for exact e-mail, loyalty and external ids, and "starts with?" for name
words (each word's prefixes are indexed), and nothing else: no ordering, no substring.
Equal inputs give equal digests, so the index shows how often a value (or a name prefix) recurs;
it never gives the value back without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent._encoding import lp
from consent.envelope import DATA_KEY_BYTES
from consent.errors import InvalidSeal

__all__ = [
    "BLIND_INDEX_BYTES",
    "FIELD_MAGIC",
    "MAX_PREFIX",
    "MIN_PREFIX",
    "blind_index",
    "is_sealed_field",
    "name_terms",
    "name_words",
    "normalise_email",
    "normalise_id",
    "open_field",
    "query_words",
    "seal_field",
]

FIELD_MAGIC = b"\x00VF1"
BLIND_INDEX_BYTES = 16
MIN_PREFIX = 2
"""The shortest name prefix indexed (and searched): one letter would match a tenth of a chain."""
MAX_PREFIX = 16
"""Prefixes longer than this are not indexed; a longer query word is cut to it."""

_NONCE = 12
_AD_LABEL = b"vertrouwd/field/v1\x00"
_BIDX_LABEL = b"vertrouwd/bidx/v1\x00"
_WORD = re.compile(r"[^\W_]+")


def _aead(dek: bytes) -> AESGCM:
    if not isinstance(dek, bytes) or len(dek) != DATA_KEY_BYTES:
        raise ValueError("a data key must be exactly 32 bytes")
    return AESGCM(dek)


def _ad(table: str, column: str, row_id: str, customer_id: str) -> bytes:
    if not (table and column and row_id and customer_id):
        raise ValueError("table, column, row id and customer id must not be empty")
    return (
        _AD_LABEL
        + lp(table.encode())
        + lp(column.encode())
        + lp(row_id.encode())
        + lp(customer_id.encode())
    )


def seal_field(
    dek: bytes, text: str, *, table: str, column: str, row_id: str, customer_id: str
) -> bytes:
    """Encrypt one text field of one row under the customer's profile data key."""
    nonce = os.urandom(_NONCE)
    ad = _ad(table, column, row_id, customer_id)
    return FIELD_MAGIC + nonce + _aead(dek).encrypt(nonce, text.encode("utf-8"), ad)


def open_field(
    dek: bytes, sealed: bytes, *, table: str, column: str, row_id: str, customer_id: str
) -> str:
    """Decrypt a value made by :func:`seal_field`; :class:`InvalidSeal` on any mismatch."""
    aead = _aead(dek)
    if not is_sealed_field(sealed) or len(sealed) < len(FIELD_MAGIC) + _NONCE + 16:
        raise InvalidSeal
    nonce = sealed[len(FIELD_MAGIC) : len(FIELD_MAGIC) + _NONCE]
    try:
        raw = aead.decrypt(
            nonce, sealed[len(FIELD_MAGIC) + _NONCE :], _ad(table, column, row_id, customer_id)
        )
    except InvalidTag:
        raise InvalidSeal from None
    return raw.decode("utf-8")


def is_sealed_field(value: bytes) -> bool:
    return bytes(value[: len(FIELD_MAGIC)]) == FIELD_MAGIC


def blind_index(key: bytes, kind: str, normalised: str) -> bytes:
    """The 16-byte keyed digest of an already normalised value of ``kind``."""
    if len(key) < 32:
        raise ValueError("a blind-index key must be at least 32 bytes")
    msg = _BIDX_LABEL + lp(kind.encode()) + lp(normalised.encode("utf-8"))
    return hmac.new(key, msg, hashlib.sha256).digest()[:BLIND_INDEX_BYTES]


def normalise_email(value: str) -> str:
    """Trimmed and case-folded: ``Anna@Example.NL `` and ``anna@example.nl`` are one address."""
    return value.strip().casefold()


def normalise_id(value: str) -> str:
    """Loyalty and external ids: spaces dropped, case-folded (``vt 1001`` = ``VT1001``)."""
    return "".join(value.split()).casefold()


def name_words(text: str) -> list[str]:
    """Words of a name, accents and case dropped: ``Zoë O'Brien-Smit`` -> zoe, o, brien, smit."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _WORD.findall(plain)


def name_terms(*names: str) -> set[str]:
    """Every indexed prefix (``MIN_PREFIX``..``MAX_PREFIX`` characters) of every name word."""
    terms: set[str] = set()
    for name in names:
        for word in name_words(name):
            for n in range(MIN_PREFIX, min(len(word), MAX_PREFIX) + 1):
                terms.add(word[:n])
    return terms


def query_words(q: str) -> list[str]:
    """The searchable words of a query: each at least ``MIN_PREFIX`` long, cut to MAX_PREFIX."""
    return sorted({w[:MAX_PREFIX] for w in name_words(q) if len(w) >= MIN_PREFIX})
