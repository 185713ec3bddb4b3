"""The hash-chained audit log format and its verifier (storage is the server's job).

Each record holds the SHA-256 of the previous one; editing, deleting, reordering or inserting a
record breaks the chain at that point. Rewriting the *whole* tail consistently is caught by
checkpoints: the server periodically signs ``(seq, hash, at)`` of the latest record with its
Ed25519 key (:func:`sign_checkpoint`) and keeps the checkpoints apart from the log (and, ideally,
gives them to the privacy officer). A checkpoint also proves that no records up to its ``seq``
were truncated away.

Hash of a record::

    hash = sha256(canonical_json({"seq", "at", "kind", "actor", "subject", "data", "prev_hash"}))

hex-encoded; the first record has ``seq == 1`` and ``prev_hash == GENESIS_HASH`` ("0" * 64).

Checkpoint signature: Ed25519 over
``canonical_json({"type": "vertrouwd.audit.checkpoint/1", "seq", "hash", "at"})``.

``canonical_json``: sorted keys, compact separators, UTF-8 (not ASCII-escaped), datetimes as
ISO-8601 UTC with microseconds and ``Z`` (naive datetimes refused), NaN/Infinity refused, only
JSON types (dict with str keys, list/tuple, str, int, bool, None, finite float).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consent.audit_kinds import AuditKind
from consent.errors import InvalidSeal
from consent.signing import Ed25519PrivateKey, Ed25519PublicKey, sign, verify

__all__ = [
    "AUDIT_KINDS",
    "GENESIS_HASH",
    "AuditKind",
    "AuditRecord",
    "Checkpoint",
    "VerifyResult",
    "canonical_json",
    "format_timestamp",
    "next_record",
    "parse_timestamp",
    "record_hash",
    "sign_checkpoint",
    "verify_chain",
]

GENESIS_HASH = "0" * 64

# The kinds the server writes: ``consent.audit_kinds.AuditKind`` (one typed payload a kind).
# ``next_record`` takes any kind matching KIND_PATTERN: the format does not depend on the list.
AUDIT_KINDS: frozenset[str] = frozenset(k.value for k in AuditKind)
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

_CHECKPOINT_TYPE = "vertrouwd.audit.checkpoint/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def format_timestamp(dt: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``; refuses naive datetimes."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: give an aware (UTC) datetime")
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """Inverse of :func:`format_timestamp` (accepts any ISO-8601 with an offset)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return dt.astimezone(UTC)


def _normalise(obj: Any, depth: int = 0) -> Any:
    if depth > 64:
        raise ValueError("structure nested too deeply")
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError("NaN and infinities cannot be encoded")
        return obj
    if isinstance(obj, datetime):
        return format_timestamp(obj)
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be str, not {type(key).__name__}")
            out[key] = _normalise(value, depth + 1)
        return out
    if isinstance(obj, list | tuple):
        return [_normalise(item, depth + 1) for item in obj]
    raise TypeError(f"{type(obj).__name__} is not allowed in canonical JSON")


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes for hashing and signing (see the module docstring)."""
    return json.dumps(
        _normalise(obj),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def record_hash(
    *,
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    subject: str | None,
    data: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The SHA-256 (hex) of a record's canonical encoding."""
    doc = {
        "seq": seq,
        "at": at,
        "kind": kind,
        "actor": actor,
        "subject": subject,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(doc)).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit log. Build with :func:`next_record`; never edit."""

    seq: int
    at: datetime
    kind: str
    actor: str
    subject: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        return record_hash(
            seq=self.seq,
            at=self.at,
            kind=self.kind,
            actor=self.actor,
            subject=self.subject,
            data=self.data,
            prev_hash=self.prev_hash,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``at`` as canonical timestamp) for storage or export."""
        return {
            "seq": self.seq,
            "at": format_timestamp(self.at),
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "data": json.loads(canonical_json(self.data)),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AuditRecord:
        """Inverse of :meth:`to_dict` (no verification: use :func:`verify_chain`)."""
        at = doc["at"]
        return cls(
            seq=int(doc["seq"]),
            at=parse_timestamp(at) if isinstance(at, str) else at,
            kind=str(doc["kind"]),
            actor=str(doc["actor"]),
            subject=None if doc["subject"] is None else str(doc["subject"]),
            data=dict(doc["data"]),
            prev_hash=str(doc["prev_hash"]),
            hash=str(doc["hash"]),
        )


def next_record(
    prev: AuditRecord | None,
    *,
    kind: str,
    actor: str,
    subject: str | None,
    data: Mapping[str, Any],
    at: datetime,
) -> AuditRecord:
    """The record that follows ``prev`` (or the genesis record when ``prev`` is None)."""
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"audit kind {kind!r} must look like 'area.event'")
    if not actor:
        raise ValueError("actor must not be empty")
    at_utc = parse_timestamp(format_timestamp(at))
    # Round-trip through canonical JSON: the stored data is exactly what was hashed.
    data_copy: dict[str, Any] = json.loads(canonical_json(dict(data)))
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    digest = record_hash(
        seq=seq,
        at=at_utc,
        kind=kind,
        actor=actor,
        subject=subject,
        data=data_copy,
        prev_hash=prev_hash,
    )
    return AuditRecord(seq, at_utc, kind, actor, subject, data_copy, prev_hash, digest)


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: "record ``seq`` of the log had hash ``hash`` at time ``at``"."""

    seq: int
    hash: str
    at: datetime
    signature: bytes

    def signed_bytes(self) -> bytes:
        return _checkpoint_bytes(self.seq, self.hash, self.at)


def _checkpoint_bytes(seq: int, digest: str, at: datetime) -> bytes:
    return canonical_json({"type": _CHECKPOINT_TYPE, "seq": seq, "hash": digest, "at": at})


def sign_checkpoint(
    record: AuditRecord, signing_key: Ed25519PrivateKey, at: datetime
) -> Checkpoint:
    """Sign a checkpoint over ``record`` (normally the latest one)."""
    at_utc = parse_timestamp(format_timestamp(at))
    signature = sign(signing_key, _checkpoint_bytes(record.seq, record.hash, at_utc))
    return Checkpoint(seq=record.seq, hash=record.hash, at=at_utc, signature=signature)


VERIFY_REASONS: Mapping[str, str] = {
    "sequence": "sequence break: expected record {expected}, found {found}",
    "prev_link": "previous-hash link does not match",
    "unencodable": "record cannot be encoded",
    "hash": "record hash does not match its contents",
    "signature": "checkpoint signature is invalid",
    "checkpoint": "checkpoint does not match the record",
    "truncated": "log ends at record {last} but a checkpoint covers record {covered}",
}
"""Why :func:`verify_chain` failed, by code: ``VerifyResult.reason`` is the sentence with its
numbers filled in (stored as such with each verification run); :func:`read_reason` gives the
code and the numbers back, so a page can say it in its reader's language."""

_REASON_PATTERNS = {
    code: re.compile(
        "^" + re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>\\d+)", re.escape(text)) + "$"
    )
    for code, text in VERIFY_REASONS.items()
}


def read_reason(reason: str | None) -> tuple[str, dict[str, int]] | None:
    """A stored failure reason as its code and numbers (``("hash", {})``); ``None`` for a
    sentence that is not one of :data:`VERIFY_REASONS` (written by an older version)."""
    for code, pattern in _REASON_PATTERNS.items():
        match = pattern.match(reason or "")
        if match:
            return code, {k: int(v) for k, v in match.groupdict().items()}
    return None


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify_chain`.

    ``checked``: records verified good before the first problem (all of them when ``ok``).
    ``first_bad_seq``: the chain position (expected seq) where the first problem was found:
    for a deleted record that is the missing seq; for a bad checkpoint, its seq.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints_verified: int = field(default=0)


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    checkpoints: Iterable[Checkpoint] = (),
    public_key: Ed25519PublicKey | None = None,
) -> VerifyResult:
    """Recompute the chain from genesis and check each checkpoint against it.

    Detects an edited record (hash mismatch), a deleted, reordered or inserted record (sequence
    or prev-hash mismatch), a forged or altered checkpoint (bad signature, or a hash that does
    not match the record at its seq), and truncation before the last checkpoint.
    """
    cps = sorted(checkpoints, key=lambda c: c.seq)
    if cps and public_key is None:
        raise ValueError("checkpoints given without the public key to verify them")
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in cps:
        by_seq.setdefault(cp.seq, []).append(cp)

    def fail(seq: int, code: str, checked: int, cps_ok: int, **values: int) -> VerifyResult:
        return VerifyResult(False, checked, seq, VERIFY_REASONS[code].format(**values), cps_ok)

    checked = 0
    cps_ok = 0
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for record in records:
        if record.seq != expected_seq:
            return fail(
                expected_seq, "sequence", checked, cps_ok, expected=expected_seq, found=record.seq
            )
        if record.prev_hash != prev_hash:
            return fail(expected_seq, "prev_link", checked, cps_ok)
        try:
            recomputed = record.expected_hash()
        except (TypeError, ValueError):
            return fail(expected_seq, "unencodable", checked, cps_ok)
        if not _HEX64.match(record.hash) or not hmac.compare_digest(recomputed, record.hash):
            return fail(expected_seq, "hash", checked, cps_ok)
        for cp in by_seq.pop(record.seq, []):
            assert public_key is not None
            try:
                verify(public_key, cp.signed_bytes(), cp.signature)
            except InvalidSeal:
                return fail(cp.seq, "signature", checked, cps_ok)
            if not hmac.compare_digest(cp.hash, record.hash):
                return fail(cp.seq, "checkpoint", checked, cps_ok)
            cps_ok += 1
        checked += 1
        prev_hash = record.hash
        expected_seq += 1
    if by_seq:
        missing = min(by_seq)
        assert public_key is not None
        for cp in by_seq[missing]:
            try:
                verify(public_key, cp.signed_bytes(), cp.signature)
            except InvalidSeal:
                return fail(cp.seq, "signature", checked, cps_ok)
        return fail(missing, "truncated", checked, cps_ok, last=expected_seq - 1, covered=missing)
    return VerifyResult(True, checked, None, None, cps_ok)
