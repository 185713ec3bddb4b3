from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from consent import audit
from consent.audit import (
    AUDIT_KINDS,
    GENESIS_HASH,
    AuditRecord,
    Checkpoint,
    canonical_json,
    next_record,
    record_hash,
    sign_checkpoint,
    verify_chain,
)
from consent.signing import Ed25519PrivateKey


def _chain(n: int, start: datetime) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev: AuditRecord | None = None
    kinds = sorted(AUDIT_KINDS)
    for i in range(n):
        prev = next_record(
            prev,
            kind=kinds[i % len(kinds)],
            actor=f"staff-{i % 3}",
            subject=None if i % 4 == 0 else f"cust-{i}",
            data={"i": i, "note": "ü", "nested": {"b": [1, 2], "a": True}},
            at=start + timedelta(seconds=i),
        )
        records.append(prev)
    return records


def test_canonical_json() -> None:
    assert (
        canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    )
    amsterdam = timezone(timedelta(hours=1))
    assert canonical_json({"t": datetime(2026, 1, 2, 4, 5, 6, tzinfo=amsterdam)}) == (
        b'{"t":"2026-01-02T03:05:06.000000Z"}'
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_json({"x": float("inf")})
    with pytest.raises(ValueError):
        canonical_json({"t": datetime(2026, 1, 1)})  # naive
    with pytest.raises(TypeError):
        canonical_json({1: "int key"})
    with pytest.raises(TypeError):
        canonical_json({"b": b"bytes"})


def test_genesis_and_links(now: datetime) -> None:
    records = _chain(5, now)
    assert records[0].seq == 1
    assert records[0].prev_hash == GENESIS_HASH
    for a, b in itertools.pairwise(records):
        assert b.prev_hash == a.hash
        assert b.seq == a.seq + 1
    first = records[0]
    assert first.hash == record_hash(
        seq=1,
        at=first.at,
        kind=first.kind,
        actor=first.actor,
        subject=first.subject,
        data=first.data,
        prev_hash=GENESIS_HASH,
    )
    # The documented encoding, recomputed independently.
    doc = {
        "seq": 1,
        "at": "2026-11-25T10:30:00.000000Z",
        "kind": first.kind,
        "actor": first.actor,
        "subject": first.subject,
        "data": first.data,
        "prev_hash": "0" * 64,
    }
    encoded = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.hash == hashlib.sha256(encoded.encode()).hexdigest()


def test_intact_chain_verifies(now: datetime) -> None:
    records = _chain(10, now)
    result = verify_chain(records)
    assert result.ok
    assert result.checked == 10
    assert result.first_bad_seq is None
    assert verify_chain([]).ok


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "someone-else"},
        {"kind": "consent.withdrawn"},
        {"subject": "cust-999"},
        {"data": {"i": 4, "note": "edited"}},
    ],
)
def test_edited_field_detected(now: datetime, change: dict[str, object]) -> None:
    records = _chain(8, now)
    records[3] = dataclasses.replace(records[3], **change)  # type: ignore[arg-type]
    result = verify_chain(records)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert result.checked == 3


def test_edited_timestamp_detected(now: datetime) -> None:
    records = _chain(5, now)
    records[2] = dataclasses.replace(records[2], at=records[2].at + timedelta(microseconds=1))
    assert verify_chain(records).first_bad_seq == 3


def test_edit_with_recomputed_hash_breaks_next_link(now: datetime) -> None:
    records = _chain(6, now)
    edited = dataclasses.replace(records[2], actor="mallory")
    records[2] = dataclasses.replace(edited, hash=edited.expected_hash())
    result = verify_chain(records)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "previous-hash" in (result.reason or "")


def test_deleted_record_detected(now: datetime) -> None:
    records = _chain(8, now)
    del records[4]  # seq 5
    result = verify_chain(records)
    assert not result.ok
    assert result.first_bad_seq == 5
    assert "expected record 5, found 6" in (result.reason or "")


def test_swapped_records_detected(now: datetime) -> None:
    records = _chain(8, now)
    records[2], records[3] = records[3], records[2]
    result = verify_chain(records)
    assert not result.ok
    assert result.first_bad_seq == 3


def test_inserted_forged_record_detected(now: datetime) -> None:
    records = _chain(6, now)
    forged = AuditRecord(
        seq=4,
        at=now,
        kind="consent.given",
        actor="mallory",
        subject="cust-x",
        data={},
        prev_hash=records[2].hash,
        hash="f" * 64,
    )
    result = verify_chain([*records[:3], forged, *records[3:]])
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "hash" in (result.reason or "")

    # A well-formed forgery (correct hash) is caught where the real record no longer fits.
    good_forgery = next_record(
        records[2], kind="consent.given", actor="mallory", subject="x", data={}, at=now
    )
    result = verify_chain([*records[:3], good_forgery, *records[3:]])
    assert not result.ok
    assert result.first_bad_seq == 5


def test_truncated_head_detected(now: datetime) -> None:
    records = _chain(4, now)
    result = verify_chain(records[1:])
    assert not result.ok
    assert result.first_bad_seq == 1


def test_checkpoints(now: datetime, server_key: Ed25519PrivateKey) -> None:
    records = _chain(10, now)
    cps = [
        sign_checkpoint(records[4], server_key, now + timedelta(minutes=5)),
        sign_checkpoint(records[9], server_key, now + timedelta(minutes=10)),
    ]
    result = verify_chain(records, checkpoints=cps, public_key=server_key.public_key())
    assert result.ok
    assert result.checkpoints_verified == 2


def test_checkpoint_tampering_detected(
    now: datetime, server_key: Ed25519PrivateKey, other_server_key: Ed25519PrivateKey
) -> None:
    records = _chain(10, now)
    good = sign_checkpoint(records[6], server_key, now)
    pub = server_key.public_key()
    tampered = [
        dataclasses.replace(good, signature=bytes([good.signature[0] ^ 1]) + good.signature[1:]),
        dataclasses.replace(good, at=good.at + timedelta(seconds=1)),
        dataclasses.replace(good, hash=records[5].hash),
        dataclasses.replace(good, seq=6),
        sign_checkpoint(records[6], other_server_key, now),
    ]
    for cp in tampered:
        result = verify_chain(records, checkpoints=[cp], public_key=pub)
        assert not result.ok, cp
        assert result.first_bad_seq == cp.seq
        assert "checkpoint" in (result.reason or "")


def test_checkpoint_catches_rewritten_tail(now: datetime, server_key: Ed25519PrivateKey) -> None:
    records = _chain(8, now)
    cp = sign_checkpoint(records[7], server_key, now)
    # Rewrite record 3 and recompute every following hash: the chain is consistent again...
    rewritten = records[:2]
    prev = records[1]
    for original in records[2:]:
        actor = "mallory" if original.seq == 3 else original.actor
        prev = next_record(
            prev,
            kind=original.kind,
            actor=actor,
            subject=original.subject,
            data=original.data,
            at=original.at,
        )
        rewritten.append(prev)
    assert verify_chain(rewritten).ok
    # ...but not with the signed checkpoint.
    result = verify_chain(rewritten, checkpoints=[cp], public_key=server_key.public_key())
    assert not result.ok
    assert result.first_bad_seq == 8


def test_checkpoint_catches_truncated_tail(now: datetime, server_key: Ed25519PrivateKey) -> None:
    records = _chain(8, now)
    cp = sign_checkpoint(records[7], server_key, now)
    result = verify_chain(records[:6], checkpoints=[cp], public_key=server_key.public_key())
    assert not result.ok
    assert result.first_bad_seq == 8
    assert result.checked == 6


def test_checkpoints_need_public_key(now: datetime, server_key: Ed25519PrivateKey) -> None:
    records = _chain(2, now)
    with pytest.raises(ValueError):
        verify_chain(records, checkpoints=[sign_checkpoint(records[1], server_key, now)])


def test_dict_round_trip_keeps_chain_valid(now: datetime) -> None:
    records = _chain(5, now)
    stored = [json.loads(json.dumps(r.to_dict())) for r in records]
    restored = [AuditRecord.from_dict(d) for d in stored]
    assert restored == records
    assert verify_chain(restored).ok


def test_data_with_datetimes_hashes_the_same_after_storage(now: datetime) -> None:
    rec = next_record(
        None, kind="consent.given", actor="a", subject="s", data={"when": now}, at=now
    )
    assert rec.data == {"when": "2026-11-25T10:30:00.000000Z"}
    assert verify_chain([AuditRecord.from_dict(json.loads(json.dumps(rec.to_dict())))]).ok


def test_kinds_are_constants() -> None:
    for kind in (
        "consent.given",
        "consent.renewed",
        "consent.withdrawn",
        "consent.expired",
        "template.created",
        "template.destroyed",
        "gallery.published",
        "device.acknowledged",
        "profile.viewed",
        "incident.reported",
        "customer.erased",
    ):
        assert kind in AUDIT_KINDS
    assert audit.AuditKind.CONSENT_WITHDRAWN.value == "consent.withdrawn"
    with pytest.raises(ValueError):
        next_record(None, kind="Bad Kind", actor="a", subject=None, data={}, at=datetime.now(UTC))


def test_checkpoint_is_dataclass_with_signature(
    now: datetime, server_key: Ed25519PrivateKey
) -> None:
    records = _chain(1, now)
    cp = sign_checkpoint(records[0], server_key, now)
    assert isinstance(cp, Checkpoint)
    assert len(cp.signature) == 64
    assert cp.hash == records[0].hash
