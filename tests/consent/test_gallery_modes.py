"""The recognition mode and the passes inside the sealed gallery (consent.gallery)."""

from __future__ import annotations

import json
import struct
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from consent.audit import canonical_json
from consent.device import DeviceKeyPair
from consent.errors import InvalidSeal
from consent.gallery import (
    GalleryEntry,
    GalleryPass,
    GalleryPayload,
    OpenedGallery,
    open_gallery,
    seal_gallery,
)
from consent.passes import new_pass_token, pass_digest
from consent.signing import Ed25519PrivateKey

DIM = 8


def _entry(subject_id: str, seed: int = 1) -> GalleryEntry:
    rng = np.random.default_rng(seed)
    return GalleryEntry(subject_id, rng.standard_normal((2, DIM)).astype("<f4").tobytes())


def _pass(subject_id: str) -> GalleryPass:
    return GalleryPass(pass_digest(new_pass_token()), subject_id)


def _round_trip(
    payload: GalleryPayload,
    device_keys: DeviceKeyPair,
    server_key: Ed25519PrivateKey,
    now: datetime,
) -> OpenedGallery:
    blob = seal_gallery(
        payload,
        store_id="store-ams-01",
        device_id="dev-a",
        version=3,
        device_public_key=device_keys.public_key(),
        signing_key=server_key,
        issued_at=now,
        ttl=timedelta(hours=1),
    )
    return open_gallery(
        blob,
        device_keys=device_keys,
        device_id="dev-a",
        server_public_key=server_key.public_key(),
        min_version=0,
        now=now,
    )


def _header(payload: GalleryPayload) -> dict[str, Any]:
    data = payload.to_bytes()
    (length,) = struct.unpack(">I", data[5:9])
    doc: dict[str, Any] = json.loads(data[9 : 9 + length])
    return doc


def _with_header(payload: GalleryPayload, **changes: Any) -> bytes:
    """The payload's plaintext with its header edited (what a forged or old writer could send)."""
    data = payload.to_bytes()
    (length,) = struct.unpack(">I", data[5:9])
    header = json.loads(data[9 : 9 + length])
    for key, value in changes.items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    new = canonical_json(header)
    return data[:5] + struct.pack(">I", len(new)) + new + data[9 + length :]


def test_a_door_gallery_is_written_as_before_modes_existed() -> None:
    payload = GalleryPayload(model_id="m", dim=DIM, entries=(_entry("s-1"),))
    assert payload.mode == "door"
    assert payload.passes == ()
    header = _header(payload)
    assert header["format"] == 1
    assert "mode" not in header
    assert "passes" not in header


def test_an_old_gallery_without_a_mode_opens_as_door() -> None:
    payload = GalleryPayload(model_id="m", dim=DIM, entries=(_entry("s-1"),))
    assert GalleryPayload.from_bytes(payload.to_bytes()).mode == "door"


@pytest.mark.parametrize("mode", ["checkin", "pass", "pass+face"])
def test_other_modes_are_format_2_so_an_old_device_refuses_them(mode: str) -> None:
    holder = "s-1"
    entries = () if mode == "pass" else (_entry(holder),)
    passes = (_pass(holder),) if mode != "checkin" else ()
    payload = GalleryPayload(model_id="m", dim=DIM, entries=entries, mode=mode, passes=passes)  # type: ignore[arg-type]
    header = _header(payload)
    assert header["format"] == 2
    assert header["mode"] == mode
    assert header["passes"] == [[p.digest, p.subject_id] for p in passes]


def test_pass_gallery_round_trip_without_templates(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    passes = (_pass("s-1"), _pass("s-1"), _pass("s-2"))  # a card and a phone for s-1
    payload = GalleryPayload(model_id="m", dim=DIM, entries=(), mode="pass", passes=passes)
    opened = _round_trip(payload, device_keys, server_key, now)
    assert opened.mode == "pass"
    assert opened.passes == passes
    assert opened.payload.entries == ()
    assert opened.payload.pass_holder(passes[2].digest) == "s-2"
    assert opened.payload.pass_holder(pass_digest(new_pass_token())) is None


def test_pass_face_gallery_round_trip(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    # s-1 enrolled a face, s-2 is a member without a face: both hold a pass.
    passes = (_pass("s-1"), _pass("s-2"))
    payload = GalleryPayload(
        model_id="m", dim=DIM, entries=(_entry("s-1"),), mode="pass+face", passes=passes
    )
    opened = _round_trip(payload, device_keys, server_key, now)
    assert opened.mode == "pass+face"
    assert opened.payload == payload


def test_checkin_gallery_round_trip(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    payload = GalleryPayload(model_id="m", dim=DIM, entries=(_entry("s-1"),), mode="checkin")
    assert _round_trip(payload, device_keys, server_key, now).mode == "checkin"


def test_pass_digests_are_not_in_the_sealed_blob(
    device_keys: DeviceKeyPair, server_key: Ed25519PrivateKey, now: datetime
) -> None:
    passes = (_pass("s-1"),)
    payload = GalleryPayload(model_id="m", dim=DIM, entries=(), mode="pass", passes=passes)
    blob = seal_gallery(
        payload,
        store_id="store-ams-01",
        device_id="dev-a",
        version=3,
        device_public_key=device_keys.public_key(),
        signing_key=server_key,
        issued_at=now,
        ttl=timedelta(hours=1),
    )
    assert passes[0].digest.encode() not in blob
    assert b"s-1" not in blob


def test_building_refuses_payloads_that_break_the_mode_rules() -> None:
    with pytest.raises(ValueError, match="door, checkin, pass"):
        GalleryPayload(model_id="m", dim=DIM, entries=(), mode="kiosk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no passes"):
        GalleryPayload(model_id="m", dim=DIM, entries=(), mode="door", passes=(_pass("s-1"),))
    with pytest.raises(ValueError, match="no passes"):
        GalleryPayload(model_id="m", dim=DIM, entries=(), mode="checkin", passes=(_pass("a"),))
    with pytest.raises(ValueError, match="no face templates"):
        GalleryPayload(
            model_id="m", dim=DIM, entries=(_entry("s-1"),), mode="pass", passes=(_pass("s-1"),)
        )
    with pytest.raises(ValueError, match="only of pass holders"):
        GalleryPayload(
            model_id="m",
            dim=DIM,
            entries=(_entry("s-9"),),
            mode="pass+face",
            passes=(_pass("s-1"),),
        )
    twice = _pass("s-1")
    with pytest.raises(ValueError, match="duplicate pass digest"):
        GalleryPayload(model_id="m", dim=DIM, entries=(), mode="pass", passes=(twice, twice))


@pytest.mark.parametrize(
    "digest", ["", "ab" * 31, "AB" * 32, "zz" * 32, "ab" * 32 + "\n", "ab" * 33]
)
def test_a_pass_digest_must_be_64_lowercase_hex(digest: str) -> None:
    with pytest.raises(ValueError):
        GalleryPass(digest, "s-1")


def test_a_pass_needs_a_bounded_subject_id() -> None:
    digest = pass_digest(new_pass_token())
    for bad in ("", "x" * 129):
        with pytest.raises(ValueError):
            GalleryPass(digest, bad)


def test_parsing_refuses_malformed_mode_headers() -> None:
    door = GalleryPayload(model_id="m", dim=DIM, entries=())
    pass_payload = GalleryPayload(
        model_id="m", dim=DIM, entries=(), mode="pass", passes=(_pass("s-1"),)
    )
    digest = pass_payload.passes[0].digest
    bad_plaintexts = [
        _with_header(door, mode="pass"),  # format 1 cannot carry a mode
        _with_header(door, passes=[]),
        _with_header(door, format=2),  # format 2 must name its mode
        _with_header(door, format=2, mode="door", passes=[]),  # door is format 1
        _with_header(door, format=3),
        _with_header(pass_payload, mode="passport"),
        _with_header(pass_payload, passes=None),
        _with_header(pass_payload, passes={"a": 1}),
        _with_header(pass_payload, passes=[[digest]]),
        _with_header(pass_payload, passes=[[digest, "s-1", "x"]]),
        _with_header(pass_payload, passes=[[digest.upper(), "s-1"]]),
        _with_header(pass_payload, passes=[[digest, 7]]),
        _with_header(pass_payload, passes=[[digest, "s-1"], [digest, "s-2"]]),
        _with_header(pass_payload, mode="checkin"),  # passes in a check-in gallery
    ]
    for plaintext in bad_plaintexts:
        with pytest.raises(InvalidSeal) as info:
            GalleryPayload.from_bytes(plaintext)
        assert type(info.value) is InvalidSeal
    # The unedited ones parse.
    assert GalleryPayload.from_bytes(pass_payload.to_bytes()) == pass_payload
    assert GalleryPayload.from_bytes(door.to_bytes()) == door
