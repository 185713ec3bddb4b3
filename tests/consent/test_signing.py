from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from consent.errors import InsecureKeyFileError, InvalidSeal
from consent.signing import (
    load_or_create_signing_key,
    load_public_key,
    public_key_bytes,
    sign,
    verify,
)


def test_created_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    key = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_signing_key(path)
    assert public_key_bytes(again) == public_key_bytes(key)
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]


def test_world_readable_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    load_or_create_signing_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeyFileError, match="chmod 600"):
        load_or_create_signing_key(path)


def test_sign_and_verify(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path / "k.pem")
    pub = load_public_key(public_key_bytes(key))
    sig = sign(key, b"manifest")
    verify(pub, b"manifest", sig)
    with pytest.raises(InvalidSeal):
        verify(pub, b"manifesT", sig)
    with pytest.raises(InvalidSeal):
        verify(pub, b"manifest", sig[:-1] + bytes([sig[-1] ^ 1]))
    with pytest.raises(InvalidSeal):
        verify(pub, b"manifest", sig[:10])


def test_malformed_public_key() -> None:
    with pytest.raises(ValueError):
        load_public_key(b"\x00" * 31)
