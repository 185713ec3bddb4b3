from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from consent.envelope import new_data_key
from consent.errors import InsecureKeyFileError, InvalidSeal
from consent.keys import (
    KeyProvider,
    LocalKeyFileProvider,
    load_or_create_secret,
    rewrap,
    wrapped_key_id,
)


def test_keyring_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "keyring.json"
    provider = LocalKeyFileProvider(path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert isinstance(provider, KeyProvider)
    # Leaves no temporary files behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyring.json"]


def test_existing_keyring_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = LocalKeyFileProvider(path)
    wrapped = first.wrap(b"k" * 32, context=b"cust-1")
    second = LocalKeyFileProvider(path)
    assert second.key_id == first.key_id
    assert second.unwrap(wrapped, context=b"cust-1") == b"k" * 32


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_keyring_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyFileProvider(path)
    os.chmod(path, mode)
    with pytest.raises(InsecureKeyFileError, match="group or others"):
        LocalKeyFileProvider(path)


def test_corrupt_keyring_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"{not json")
    os.close(fd)
    with pytest.raises(ValueError, match="not a valid Vertrouwd keyring"):
        LocalKeyFileProvider(path)


def test_wrap_unwrap_bound_to_context(tmp_path: Path) -> None:
    provider = LocalKeyFileProvider(tmp_path / "keyring.json")
    dek = new_data_key()
    wrapped = provider.wrap(dek, context=b"cust-1")
    assert dek not in wrapped
    assert provider.unwrap(wrapped, context=b"cust-1") == dek
    with pytest.raises(InvalidSeal):
        provider.unwrap(wrapped, context=b"cust-2")


def test_wrapped_key_flipped_bytes(tmp_path: Path) -> None:
    provider = LocalKeyFileProvider(tmp_path / "keyring.json")
    wrapped = provider.wrap(new_data_key(), context=b"c")
    for i in range(len(wrapped)):
        damaged = bytearray(wrapped)
        damaged[i] ^= 0x80
        with pytest.raises(InvalidSeal):
            provider.unwrap(bytes(damaged), context=b"c")


def test_other_keyring_cannot_unwrap(tmp_path: Path) -> None:
    mine = LocalKeyFileProvider(tmp_path / "a.json")
    theirs = LocalKeyFileProvider(tmp_path / "b.json")
    wrapped = mine.wrap(new_data_key(), context=b"c")
    with pytest.raises(InvalidSeal):
        theirs.unwrap(wrapped, context=b"c")


def test_rotate_and_rewrap(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    provider = LocalKeyFileProvider(path)
    old_id = provider.key_id
    deks = {f"cust-{i}".encode(): new_data_key() for i in range(3)}
    wrapped = {ctx: provider.wrap(dek, context=ctx) for ctx, dek in deks.items()}
    assert {wrapped_key_id(w) for w in wrapped.values()} == {old_id}

    new_id = provider.rotate()
    assert new_id != old_id
    assert provider.key_id == new_id
    assert provider.key_ids == (old_id, new_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Old wraps still open under the rotated keyring (also from a freshly loaded provider).
    reloaded = LocalKeyFileProvider(path)
    for ctx, dek in deks.items():
        assert provider.unwrap(wrapped[ctx], context=ctx) == dek
        assert reloaded.unwrap(wrapped[ctx], context=ctx) == dek

    # New wraps use the new key id; rewrap moves old ones over without changing the DEK.
    assert wrapped_key_id(provider.wrap(new_data_key(), context=b"x")) == new_id
    for ctx, dek in deks.items():
        moved = rewrap(provider, wrapped[ctx], context=ctx)
        assert wrapped_key_id(moved) == new_id
        assert reloaded.unwrap(moved, context=ctx) == dek
        with pytest.raises(InvalidSeal):
            rewrap(provider, wrapped[ctx], context=b"someone-else")


def test_process_sees_rotation_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    server_a = LocalKeyFileProvider(path)
    server_b = LocalKeyFileProvider(path)
    new_id = server_a.rotate()
    wrapped = server_a.wrap(b"d" * 32, context=b"c")
    assert wrapped_key_id(wrapped) == new_id
    # server_b has never seen new_id: it re-reads the keyring instead of failing.
    assert server_b.unwrap(wrapped, context=b"c") == b"d" * 32
    assert server_b.key_id == new_id


def test_wrap_validates_inputs(tmp_path: Path) -> None:
    provider = LocalKeyFileProvider(tmp_path / "keyring.json")
    with pytest.raises(ValueError):
        provider.wrap(b"short", context=b"c")
    with pytest.raises(ValueError):
        provider.wrap(new_data_key(), context=b"")


def test_load_or_create_secret(tmp_path: Path) -> None:
    path = tmp_path / "token.secret"
    secret = load_or_create_secret(path)
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == secret
    assert load_or_create_secret(tmp_path / "other.secret") != secret
    with pytest.raises(ValueError, match="expected a 64-byte"):
        load_or_create_secret(path, length=64)
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeyFileError):
        load_or_create_secret(path)


def test_epochs_record_when_each_kek_stopped_being_current_and_destroy_removes_it(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    now = [t0]
    provider = LocalKeyFileProvider(tmp_path / "keyring.json", clock=lambda: now[0])
    first = provider.key_id
    wrapped = provider.wrap(b"k" * 32, context=b"c1")
    assert provider.rotate_if_older(timedelta(days=7), now=t0 + timedelta(days=6)) is None
    second = provider.rotate_if_older(timedelta(days=7), now=t0 + timedelta(days=7))
    assert second is not None
    assert second == provider.key_id
    (old, cur) = provider.epochs()
    assert (old.key_id, old.created_at, old.retired_at) == (first, t0, t0 + timedelta(days=7))
    assert (cur.key_id, cur.retired_at) == (second, None)
    with pytest.raises(ValueError, match="current"):
        provider.destroy(second)
    assert provider.unwrap(wrapped, context=b"c1") == b"k" * 32
    provider.destroy(first)
    reloaded = LocalKeyFileProvider(tmp_path / "keyring.json")  # what another process reads
    assert reloaded.key_ids == (second,)
    for p in (provider, reloaded):
        with pytest.raises(InvalidSeal):
            p.unwrap(wrapped, context=b"c1")  # every wrap under the destroyed KEK is dead
