"""The device installs what the store's mode allows: the 1:N index only for door and check-in;
passes (and, for pass+face, each holder's own templates) only in the pass modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from consent.device import DeviceKeyPair
from consent.gallery import GalleryEntry, GalleryPass, GalleryPayload, open_gallery, seal_gallery
from consent.passes import new_pass_token, pass_digest
from consent.signing import Ed25519PrivateKey
from edge.gallery import GalleryState
from edge.matching import ActiveGallery

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
MODEL = "dlib_resnet_v1"


def _install(payload: GalleryPayload) -> ActiveGallery:
    device, key = DeviceKeyPair.generate(), Ed25519PrivateKey.generate()
    blob = seal_gallery(
        payload,
        store_id="s",
        device_id="dev",
        version=1,
        device_public_key=device.public_key(),
        signing_key=key,
        issued_at=NOW,
        ttl=timedelta(hours=1),
    )
    opened = open_gallery(
        blob,
        device_keys=device,
        device_id="dev",
        server_public_key=key.public_key(),
        min_version=0,
        now=NOW,
    )
    state = GalleryState(ttl_s=600, now=lambda: NOW)
    state.install(opened, confirmed_at=NOW)
    active = state.current()
    assert active is not None
    return active


def _entry(subject: str, seed: int) -> GalleryEntry:
    vectors = np.random.default_rng(seed).standard_normal((2, 128)).astype("<f4")
    return GalleryEntry(subject, vectors.tobytes())


@pytest.mark.parametrize("mode", ["door", "checkin"])
def test_face_modes_install_the_index(mode: str) -> None:
    payload = GalleryPayload(model_id=MODEL, dim=128, entries=(_entry("a", 1),), mode=mode)  # type: ignore[arg-type]
    active = _install(payload)
    assert active.mode == mode
    assert active.index.subject_ids == ("a",)
    assert dict(active.passes) == {}
    assert dict(active.templates) == {}


def test_pass_mode_installs_passes_and_no_face_at_all() -> None:
    digest = pass_digest(new_pass_token())
    payload = GalleryPayload(
        model_id=MODEL, dim=128, entries=(), mode="pass", passes=(GalleryPass(digest, "a"),)
    )
    active = _install(payload)
    assert active.mode == "pass"
    assert len(active.index) == 0
    assert dict(active.passes) == {digest: "a"}
    assert dict(active.templates) == {}


def test_pass_face_keeps_templates_per_holder_and_no_searchable_index() -> None:
    a, b = pass_digest(new_pass_token()), pass_digest(new_pass_token())
    payload = GalleryPayload(
        model_id=MODEL,
        dim=128,
        entries=(_entry("a", 1),),
        mode="pass+face",
        passes=(GalleryPass(a, "a"), GalleryPass(b, "b")),  # b is a member without a face
    )
    active = _install(payload)
    assert len(active.index) == 0  # nothing can be searched 1:N
    assert set(active.templates) == {"a"}
    assert active.templates["a"].shape == (2, 128)
    expected = np.frombuffer(payload.entries[0].vectors, "<f4").reshape(2, 128)
    assert np.array_equal(active.templates["a"], expected)
    assert dict(active.passes) == {a: "a", b: "b"}
