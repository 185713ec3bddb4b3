from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from consent.device import DeviceKeyPair
from consent.errors import GalleryRejected, InvalidSeal
from consent.files import write_atomic
from consent.gallery import (
    MAX_TEMPLATES_PER_ENTRY,
    GalleryEntry,
    GalleryPayload,
    MemberZone,
    open_gallery,
    read_manifest,
    seal_gallery,
)
from consent.signing import Ed25519PrivateKey

DIM = 8


def _payload(n: int = 3) -> GalleryPayload:
    rng = np.random.default_rng(7)
    entries = [
        GalleryEntry(f"p-{i:04d}", rng.standard_normal((2, DIM)).astype("<f4").tobytes())
        for i in range(n)
    ]
    return GalleryPayload(
        model_id="dlib-resnet-128", dim=DIM, entries=tuple(entries), threshold=0.5, min_margin=0.05
    )


def _seal(
    device: DeviceKeyPair,
    key: Ed25519PrivateKey,
    now: datetime,
    *,
    version: int = 5,
    device_id: str = "dev-a",
    payload: GalleryPayload | None = None,
    ttl: timedelta = timedelta(hours=12),
    allow_x25519: bool = False,
) -> bytes:
    return seal_gallery(
        payload or _payload(),
        store_id="store-ams-01",
        device_id=device_id,
        version=version,
        device_public_key=device.public_key(),
        signing_key=key,
        issued_at=now,
        ttl=ttl,
        allow_x25519=allow_x25519,
    )


def _open(
    blob: bytes,
    device: DeviceKeyPair,
    key: Ed25519PrivateKey,
    now: datetime,
    *,
    min_version: int = 5,
    device_id: str = "dev-a",
) -> GalleryPayload:
    return open_gallery(
        blob,
        device_keys=device,
        device_id=device_id,
        server_public_key=key.public_key(),
        min_version=min_version,
        now=now,
    ).payload


def test_round_trip(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    payload = _payload()
    blob = _seal(device_keys, server_key, now, payload=payload)
    opened = open_gallery(
        blob,
        device_keys=device_keys,
        device_id="dev-a",
        server_public_key=server_key.public_key(),
        min_version=4,
        now=now + timedelta(hours=1),
    )
    assert opened.payload == payload
    assert opened.manifest.version == 5
    assert opened.manifest.store_id == "store-ams-01"
    assert opened.manifest.entries == 3
    assert opened.manifest.suite == "mlkem768-x25519"
    assert opened.manifest.expires_at == now + timedelta(hours=12)
    vectors = np.frombuffer(opened.payload.entries[1].vectors, dtype="<f4").reshape(-1, DIM)
    assert vectors.shape == (2, DIM)
    # Templates are not visible in the sealed blob.
    assert payload.entries[0].vectors not in blob
    assert b"p-0000" not in blob


def test_empty_gallery_round_trip(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    empty = GalleryPayload(model_id="m", dim=DIM, entries=())
    blob = _seal(device_keys, server_key, now, payload=empty)
    assert _open(blob, device_keys, server_key, now).entries == ()


def test_every_flipped_byte_is_plain_invalid_seal(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    blob = _seal(device_keys, server_key, now, payload=_payload(2))
    assert len(blob) > 1500
    for i in range(len(blob)):
        damaged = bytearray(blob)
        damaged[i] ^= 0x01 << (i % 8)
        with pytest.raises(InvalidSeal) as info:
            _open(bytes(damaged), device_keys, server_key, now)
        # Tampering is never reported as a (more informative) GalleryRejected.
        assert type(info.value) is InvalidSeal, f"byte {i}"


def test_truncated_or_extended_blob(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    blob = _seal(device_keys, server_key, now)
    for damaged in (blob[:-1], blob + b"\x00", blob[:10], b"", blob[:5] + blob[9:]):
        with pytest.raises(InvalidSeal):
            _open(damaged, device_keys, server_key, now)


def test_older_version_refused_equal_allowed(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    blob = _seal(device_keys, server_key, now, version=5)
    assert _open(blob, device_keys, server_key, now, min_version=5).entries
    with pytest.raises(GalleryRejected) as info:
        _open(blob, device_keys, server_key, now, min_version=6)
    assert info.value.reason == "stale_version"


def test_expired_refused(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    blob = _seal(device_keys, server_key, now, ttl=timedelta(hours=1))
    _open(blob, device_keys, server_key, now + timedelta(minutes=59))
    for later in (timedelta(hours=1), timedelta(days=3)):
        with pytest.raises(GalleryRejected) as info:
            _open(blob, device_keys, server_key, now + later)
        assert info.value.reason == "expired"


def test_issued_in_the_future_refused(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    blob = _seal(device_keys, server_key, now)
    _open(blob, device_keys, server_key, now - timedelta(minutes=4))  # within clock skew
    with pytest.raises(GalleryRejected) as info:
        _open(blob, device_keys, server_key, now - timedelta(hours=1))
    assert info.value.reason == "not_yet_valid"


def test_another_devices_gallery_refused(
    device_keys: DeviceKeyPair,
    other_device_keys: DeviceKeyPair,
    server_key: Ed25519PrivateKey,
    now: datetime,
) -> None:
    blob = _seal(device_keys, server_key, now, device_id="dev-a")
    # Device B (its own id) gets device A's gallery: refused by id.
    with pytest.raises(GalleryRejected) as info:
        _open(blob, other_device_keys, server_key, now, device_id="dev-b")
    assert info.value.reason == "wrong_device"
    # Device B pretending to be dev-a still cannot decrypt: the gallery is sealed to A's key.
    with pytest.raises(InvalidSeal) as info2:
        _open(blob, other_device_keys, server_key, now, device_id="dev-a")
    assert type(info2.value) is InvalidSeal


def test_another_server_key_refused(
    device_keys: DeviceKeyPair,
    server_key: Ed25519PrivateKey,
    other_server_key: Ed25519PrivateKey,
    now: datetime,
) -> None:
    forged = _seal(device_keys, other_server_key, now)
    with pytest.raises(InvalidSeal) as info:
        _open(forged, device_keys, server_key, now)
    assert type(info.value) is InvalidSeal
    with pytest.raises(InvalidSeal):
        read_manifest(forged, server_public_key=server_key.public_key())


def test_manifest_and_ciphertext_cannot_be_mixed(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    # An attacker replaying v5's ciphertext under v6's signed manifest (or vice versa) fails.
    v5 = _seal(device_keys, server_key, now, version=5)
    v6 = _seal(device_keys, server_key, now, version=6, payload=_payload(1))
    m5 = read_manifest(v5, server_public_key=server_key.public_key())
    m6 = read_manifest(v6, server_public_key=server_key.public_key())
    head6 = 5 + 4 + len(m6.to_bytes()) + 64
    head5 = 5 + 4 + len(m5.to_bytes()) + 64
    spliced = v6[:head6] + v5[head5:]
    with pytest.raises(InvalidSeal):
        _open(spliced, device_keys, server_key, now, min_version=5)


def test_hybrid_used_by_default_and_x25519_only_when_allowed(
    server_key: Ed25519PrivateKey, now: datetime
) -> None:
    hybrid = DeviceKeyPair.generate()
    blob = _seal(hybrid, server_key, now)
    manifest = read_manifest(blob, server_public_key=server_key.public_key())
    assert manifest.suite == "mlkem768-x25519"

    classic = DeviceKeyPair.generate("x25519")
    with pytest.raises(ValueError, match="X25519"):
        _seal(classic, server_key, now)
    blob_x = _seal(classic, server_key, now, allow_x25519=True)
    manifest_x = read_manifest(blob_x, server_public_key=server_key.public_key())
    assert manifest_x.suite == "x25519"
    assert _open(blob_x, classic, server_key, now) == _payload()
    # The hybrid encapsulation (1120 bytes) makes the ciphertext much larger than X25519's (32).
    assert len(blob) - len(blob_x) > 1000


def test_payload_limits() -> None:
    with pytest.raises(ValueError):
        GalleryPayload(model_id="m", dim=0, entries=())
    with pytest.raises(ValueError):
        GalleryPayload(model_id="m", dim=100_000, entries=())
    with pytest.raises(ValueError):  # not a whole number of templates
        GalleryPayload(model_id="m", dim=4, entries=(GalleryEntry("a", b"\x00" * 15),))
    too_many = b"\x00" * 16 * (MAX_TEMPLATES_PER_ENTRY + 1)
    with pytest.raises(ValueError):
        GalleryPayload(model_id="m", dim=4, entries=(GalleryEntry("a", too_many),))
    dup = GalleryEntry("a", b"\x00" * 16)
    with pytest.raises(ValueError):
        GalleryPayload(model_id="m", dim=4, entries=(dup, dup))
    with pytest.raises(ValueError):
        GalleryPayload(model_id="m", dim=4, entries=(), threshold=float("nan"))


def test_payload_parser_refuses_absurd_counts() -> None:
    good = _payload(1).to_bytes()
    assert GalleryPayload.from_bytes(good) == _payload(1)
    for bad in (
        good[:-1],
        good + b"\x00",
        good.replace(b'"dim":8', b'"dim":9999999'),
        good.replace(b'["p-0000",2]', b'["p-0000",999999]'),
        b"VGPL\x01\xff\xff\xff\xff",
    ):
        with pytest.raises(InvalidSeal):
            GalleryPayload.from_bytes(bad)


def test_seal_arguments_validated(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    with pytest.raises(ValueError):
        _seal(device_keys, server_key, now, ttl=timedelta(days=31))
    with pytest.raises(ValueError):
        _seal(device_keys, server_key, now, version=0)
    with pytest.raises(ValueError):
        _seal(device_keys, server_key, now, device_id="dev|1")


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "gallery.bin"
    write_atomic(target, b"old" * 1000)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["gallery.bin"]


def test_write_atomic_failure_before_replace_keeps_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "gallery.bin"
    write_atomic(target, b"old gallery")

    def power_cut(*_args: object, **_kwargs: object) -> None:
        raise OSError("simulated power cut before rename")

    monkeypatch.setattr("os.replace", power_cut)
    with pytest.raises(OSError, match="simulated"):
        write_atomic(target, b"new gallery, half written")
    monkeypatch.undo()
    assert target.read_bytes() == b"old gallery"
    assert [p.name for p in tmp_path.iterdir()] == ["gallery.bin"]


def test_sealed_gallery_survives_disk_round_trip(
    tmp_path: Path, device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    blob = _seal(device_keys, server_key, now)
    path = tmp_path / "gallery.vgal"
    write_atomic(path, blob)
    assert _open(path.read_bytes(), device_keys, server_key, now) == _payload()


ZONE = MemberZone(x=0.25, y=0.1, w=0.5, h=0.9, min_face_size=80)


def test_zone_round_trip_and_payload_without_zone_still_reads(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    with_zone = replace(_payload(), zone=ZONE)
    opened = _open(
        _seal(device_keys, server_key, now, payload=with_zone), device_keys, server_key, now
    )
    assert opened == with_zone
    assert opened.zone == ZONE
    assert opened.zone is not None
    assert opened.zone.min_face_size == 80
    # the zone travels encrypted, never in the cleartext manifest
    assert b"min_face_size" not in _seal(device_keys, server_key, now, payload=with_zone)
    # a payload from before zones existed (no "zone" key in its header) still opens, zone None
    old = _payload()
    assert b'"zone"' not in old.to_bytes()
    assert (
        _open(_seal(device_keys, server_key, now, payload=old), device_keys, server_key, now).zone
        is None
    )
    assert GalleryPayload.from_bytes(old.to_bytes()) == old


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("x", -0.1),
        ("y", 1.0),
        ("w", 0.0),
        ("h", 1.5),
        ("w", 0.8),  # x + w = 1.05: outside the frame
        ("x", float("nan")),
        ("x", True),
        ("min_face_size", 19),
        ("min_face_size", 2001),
        ("min_face_size", 80.5),
    ],
)
def test_invalid_zone_refused_on_seal_and_on_open(
    field: str,
    value: object,
    device_keys: DeviceKeyPair,
    server_key: Ed25519PrivateKey,
    now: datetime,
) -> None:
    good = {"x": 0.25, "y": 0.1, "w": 0.5, "h": 0.9, "min_face_size": 80}
    with pytest.raises(ValueError):
        MemberZone(**{**good, field: value})  # type: ignore[arg-type]
    # a zone corrupted after construction is refused by seal_gallery itself
    bad_zone = MemberZone(**good)  # type: ignore[arg-type]
    object.__setattr__(bad_zone, field, value)
    with pytest.raises(ValueError):
        _seal(device_keys, server_key, now, payload=replace(_payload(), zone=bad_zone))
    # a sealed payload whose header carries a bad zone (a forged or buggy server) does not open
    header_zone = b'"zone":{"h":0.9,"min_face_size":80,"w":0.5,"x":0.25,"y":0.1}'
    good_bytes = replace(_payload(), zone=ZONE).to_bytes()
    assert header_zone in good_bytes
    forged_zone = {**good, field: value}
    text = json.dumps(forged_zone, sort_keys=True, separators=(",", ":"))[1:-1]
    forged_header = ('"zone":{' + text + "}").encode()
    # keep the header length field right: rebuild the frame around the new header
    header = good_bytes[9 : 9 + int.from_bytes(good_bytes[5:9], "big")]
    new_header = header.replace(header_zone, forged_header)
    assert new_header != header
    forged = (
        b"VGPL\x01"
        + len(new_header).to_bytes(4, "big")
        + new_header
        + good_bytes[9 + len(header) :]
    )
    with pytest.raises(InvalidSeal):
        GalleryPayload.from_bytes(forged)

    class Forged(GalleryPayload):
        def to_bytes(self) -> bytes:
            return forged

    blob = _seal(device_keys, server_key, now, payload=Forged(**vars(_payload())))
    with pytest.raises(InvalidSeal):
        _open(blob, device_keys, server_key, now)
