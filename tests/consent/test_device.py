from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import consent.device as device_mod
from consent.device import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    DeviceKeyPair,
    default_suite,
    hybrid_kem_available,
    load_device_public_key,
)
from consent.errors import HybridKEMUnavailableError, InsecureKeyFileError


def test_hybrid_is_default_here() -> None:
    # cryptography 50 is installed: the hybrid post-quantum KEM must be used by default.
    assert hybrid_kem_available()
    assert default_suite() == "mlkem768-x25519"
    keys = DeviceKeyPair.generate()
    assert keys.suite == "mlkem768-x25519"
    # ML-KEM-768 public key (1184 bytes) + X25519 (32) + header.
    assert len(keys.public_bytes()) > 1184 + 32


def test_no_silent_downgrade_when_hybrid_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate an older cryptography without the hybrid KEM.
    monkeypatch.setattr(device_mod, "hybrid_kem_available", lambda: False)
    with pytest.raises(HybridKEMUnavailableError):
        DeviceKeyPair.generate()
    with pytest.raises(HybridKEMUnavailableError):
        default_suite()
    assert default_suite(allow_x25519_fallback=True) == "x25519"
    assert DeviceKeyPair.generate(allow_x25519_fallback=True).suite == "x25519"
    with pytest.raises(HybridKEMUnavailableError):
        DeviceKeyPair.generate("mlkem768-x25519")


def test_x25519_only_when_asked() -> None:
    keys = DeviceKeyPair.generate("x25519")
    assert keys.suite == "x25519"
    pub = load_device_public_key(keys.public_bytes())
    assert pub.suite == "x25519"


@pytest.mark.parametrize("suite", ["mlkem768-x25519", "x25519"])
def test_save_load_round_trip(tmp_path: Path, suite: device_mod.DeviceSuite) -> None:
    keys = DeviceKeyPair.generate(suite)
    keys.save(tmp_path / "identity")
    private = tmp_path / "identity" / PRIVATE_KEY_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert (tmp_path / "identity" / PUBLIC_KEY_FILE).read_bytes() == keys.public_bytes()
    loaded = DeviceKeyPair.load(tmp_path / "identity")
    assert loaded.suite == suite
    assert loaded.public_bytes() == keys.public_bytes()


def test_save_never_overwrites_identity(tmp_path: Path) -> None:
    DeviceKeyPair.generate().save(tmp_path)
    with pytest.raises(FileExistsError):
        DeviceKeyPair.generate().save(tmp_path)


def test_load_refuses_readable_private_key(tmp_path: Path) -> None:
    DeviceKeyPair.generate().save(tmp_path)
    os.chmod(tmp_path / PRIVATE_KEY_FILE, 0o644)
    with pytest.raises(InsecureKeyFileError):
        DeviceKeyPair.load(tmp_path)


def test_public_key_is_self_describing() -> None:
    keys = DeviceKeyPair.generate()
    pub = load_device_public_key(keys.public_bytes())
    assert pub.suite == "mlkem768-x25519"
    assert pub == keys.public_key()
    assert pub != DeviceKeyPair.generate().public_key()
    assert len(pub.fingerprint()) == 64


@pytest.mark.parametrize(
    "bad",
    [b"", b"garbage", b"VDPK\x01\x06x25519" + b"\x00" * 31, b"VDPK\x01\x03abc" + b"\x00" * 32],
)
def test_malformed_public_key_rejected(bad: bytes) -> None:
    with pytest.raises(ValueError):
        load_device_public_key(bad)


def test_private_key_material_not_in_public_bytes(tmp_path: Path) -> None:
    keys = DeviceKeyPair.generate()
    keys.save(tmp_path)
    private_file = (tmp_path / PRIVATE_KEY_FILE).read_bytes()
    secret = private_file[-96:]
    assert secret not in keys.public_bytes()
    assert secret[:64] not in keys.public_bytes()


def test_reprovisioning_replaces_stale_public_key(tmp_path: Path) -> None:
    DeviceKeyPair.generate().save(tmp_path)
    (tmp_path / PRIVATE_KEY_FILE).unlink()  # deliberate re-provisioning
    fresh = DeviceKeyPair.generate()
    fresh.save(tmp_path)
    assert (tmp_path / PUBLIC_KEY_FILE).read_bytes() == fresh.public_bytes()
