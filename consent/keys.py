"""Key-encryption keys (KEKs): the ``KeyProvider`` protocol and the local key-file provider.

Every customer's data key (DEK, see ``consent.envelope``) is stored only *wrapped* by the current
KEK, in a key table separate from the data, with the customer id as the wrap ``context``. Erasure
deletes the wrapped DEK (crypto-shredding); rotation re-wraps DEKs under a new KEK without
downtime: old KEKs stay in the keyring, so both old and new wraps open while ``rewrap`` runs
(``vertrouwd keys rotate``).

Implementing ``KeyProvider`` with a cloud KMS
--------------------------------------------
A KMS provider keeps the KEK inside the KMS and never sees it:

* ``key_id``: the KMS key's current version (e.g. an AWS KMS key ARN, a GCP
  ``cryptoKeyVersions/N`` name, an Azure Key Vault key version id).
* ``wrap(dek, context=...)``: call the KMS *Encrypt* operation on the 32-byte DEK with
  ``context`` as the authenticated context (AWS ``EncryptionContext={"subject": ...}``, GCP
  ``additional_authenticated_data``, Azure ``aad`` on wrapKey), and return the KMS ciphertext blob
  prefixed with the key version that made it.
* ``unwrap(wrapped, context=...)``: call *Decrypt* with the same context. Map the KMS's
  "invalid ciphertext / wrong context / unknown key" answers to :class:`InvalidSeal`; let
  network and permission errors propagate as themselves (they are outages, not bad data).
* ``rotate()``: create a new primary key version (or rely on automatic rotation) and return its
  id; old versions must stay enabled until ``rewrap`` has moved every DEK.
* Cache nothing secret; the KMS's request latency is paid once per customer DEK unwrap, so the
  server caches unwrapped DEKs only for the duration of a request.

Local keyring file (``LocalKeyFileProvider``)
--------------------------------------------
A JSON file, created 0600 on first use (refused if group/others can access it)::

    {"format": "vertrouwd-keyring/1", "current": "<key id>",
     "keys": [{"id": "<key id>", "key": "<base64 32 bytes>", "created_at": "...Z"}, ...]}

Wrapped DEK format::

    b"VWK1" | u8 len(key id) | key id (ASCII) | nonce (12) | AES-256-GCM(DEK) + tag

with associated data ``b"vertrouwd/dek-wrap/v1\\0" | header | lp(context)``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent._encoding import lp
from consent.errors import InvalidSeal
from consent.files import create_exclusive, read_private_file, write_atomic

__all__ = [
    "Epoch",
    "EpochKeyring",
    "KeyProvider",
    "LocalKeyFileProvider",
    "load_or_create_secret",
    "rewrap",
    "wrapped_key_id",
]

_KEYRING_FORMAT = "vertrouwd-keyring/1"
_WRAP_MAGIC = b"VWK1"
_WRAP_AD_LABEL = b"vertrouwd/dek-wrap/v1\x00"
_NONCE_BYTES = 12
_DEK_BYTES = 32
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps per-customer data keys under a key-encryption key (KEK)."""

    @property
    def key_id(self) -> str:
        """Id of the current KEK; new wraps use it."""
        ...

    def wrap(self, dek: bytes, *, context: bytes) -> bytes:
        """Encrypt a 32-byte DEK under the current KEK, bound to ``context`` (the customer id)."""
        ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Recover the DEK; :class:`InvalidSeal` if the blob, KEK or context do not match."""
        ...

    def rotate(self) -> str:
        """Make a new current KEK (older ones stay usable for unwrap); return its id."""
        ...


@dataclass(frozen=True)
class Epoch:
    """One KEK's time as the current key (``retired_at`` None: still current)."""

    key_id: str
    created_at: datetime | None
    retired_at: datetime | None


@runtime_checkable
class EpochKeyring(KeyProvider, Protocol):
    """A :class:`KeyProvider` whose old KEKs can be listed and destroyed: the backup epochs.

    A KMS provider maps ``destroy`` to scheduling the key version's destruction."""

    def epochs(self) -> tuple[Epoch, ...]: ...

    def rotate_if_older(self, max_age: timedelta, *, now: datetime | None = None) -> str | None: ...

    def destroy(self, key_id: str) -> None: ...


def rewrap(provider: KeyProvider, wrapped: bytes, *, context: bytes) -> bytes:
    """Re-wrap a DEK under the provider's current KEK (after :meth:`KeyProvider.rotate`).

    Raises :class:`InvalidSeal` if ``wrapped`` does not open for ``context``.
    """
    dek = provider.unwrap(wrapped, context=context)
    return provider.wrap(dek, context=context)


def wrapped_key_id(wrapped: bytes) -> str:
    """The KEK id inside a wrap made by :class:`LocalKeyFileProvider` (unauthenticated hint).

    Lets ``vertrouwd keys rotate`` skip DEKs that are already under the current KEK.
    Raises :class:`InvalidSeal` for a malformed blob.
    """
    if len(wrapped) < len(_WRAP_MAGIC) + 1 or wrapped[: len(_WRAP_MAGIC)] != _WRAP_MAGIC:
        raise InvalidSeal
    n = wrapped[len(_WRAP_MAGIC)]
    raw = wrapped[len(_WRAP_MAGIC) + 1 : len(_WRAP_MAGIC) + 1 + n]
    if len(raw) != n:
        raise InvalidSeal
    try:
        key_id = raw.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidSeal from None
    if not _KEY_ID_RE.match(key_id):
        raise InvalidSeal
    return key_id


def load_or_create_secret(path: str | os.PathLike[str], *, length: int = 32) -> bytes:
    """A random secret kept in a 0600 file, created atomically on first use.

    For symmetric secrets that are not KEKs: the self-service token secret on the server
    (``consent.tokens``), the key of the edge device's encrypted offline event queue. Refuses a
    file that group/others can access (:class:`~consent.errors.InsecureKeyFileError`) or whose
    length is not ``length`` (``ValueError``).
    """
    if not 16 <= length <= 1024:
        raise ValueError("secret length must be 16 to 1024 bytes")
    target = Path(path)
    try:
        secret = read_private_file(target)
    except FileNotFoundError:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = secrets.token_bytes(length)
        if create_exclusive(target, fresh, mode=0o600):
            return fresh
        secret = read_private_file(target)
    if len(secret) != length:
        raise ValueError(f"{target} holds {len(secret)} bytes, expected a {length}-byte secret")
    return secret


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_key_id(now: datetime) -> str:
    return f"kek-{now.astimezone(UTC):%Y%m%d}-{secrets.token_hex(4)}"


class _Keyring:
    def __init__(
        self,
        current: str,
        keys: dict[str, bytes],
        created: dict[str, str],
        retired: dict[str, str] | None = None,
    ) -> None:
        self.current = current
        self.keys = keys
        self.created = created
        self.retired = retired or {}

    @classmethod
    def new(cls, now: datetime) -> _Keyring:
        key_id = _new_key_id(now)
        return cls(key_id, {key_id: AESGCM.generate_key(256)}, {key_id: _iso(now)})

    def add(self, now: datetime) -> str:
        key_id = _new_key_id(now)
        while key_id in self.keys:  # pragma: no cover - 32 random bits, same day
            key_id = _new_key_id(now)
        self.keys[key_id] = AESGCM.generate_key(256)
        self.created[key_id] = _iso(now)
        self.retired.setdefault(self.current, _iso(now))
        self.current = key_id
        return key_id

    def to_bytes(self) -> bytes:
        doc = {
            "format": _KEYRING_FORMAT,
            "current": self.current,
            "keys": [
                {
                    "id": key_id,
                    "key": base64.b64encode(key).decode("ascii"),
                    "created_at": self.created.get(key_id),
                    **({"retired_at": self.retired[key_id]} if key_id in self.retired else {}),
                }
                for key_id, key in self.keys.items()
            ],
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: Path) -> _Keyring:
        try:
            doc: Any = json.loads(data)
            if not isinstance(doc, dict) or doc.get("format") != _KEYRING_FORMAT:
                raise ValueError("unknown format")
            keys: dict[str, bytes] = {}
            created: dict[str, str] = {}
            retired: dict[str, str] = {}
            for entry in doc["keys"]:
                key_id = entry["id"]
                if not isinstance(key_id, str) or not _KEY_ID_RE.match(key_id):
                    raise ValueError("bad key id")
                key = base64.b64decode(entry["key"], validate=True)
                if len(key) != _DEK_BYTES:
                    raise ValueError("bad key length")
                keys[key_id] = key
                created[key_id] = str(entry.get("created_at"))
                if entry.get("retired_at"):
                    retired[key_id] = str(entry["retired_at"])
            current = doc["current"]
            if current not in keys:
                raise ValueError("current key missing")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ValueError(f"{where} is not a valid Vertrouwd keyring: {exc}") from None
        return cls(current, keys, created, retired)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


class LocalKeyFileProvider:
    """A :class:`KeyProvider` backed by a 0600 keyring file on the server's disk.

    The file is created on first use (atomically, never overwriting an existing one). A file that
    group or others can access is refused with :class:`~consent.errors.InsecureKeyFileError`.
    Several server processes may share the file: a process that meets a wrap made under a KEK
    it has not seen yet (another process rotated) re-reads the file once.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._ring = self._load_or_create()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def key_id(self) -> str:
        return self._ring.current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """All KEK ids in the keyring, oldest first."""
        return tuple(self._ring.keys)

    def _load_or_create(self) -> _Keyring:
        try:
            return _Keyring.from_bytes(read_private_file(self._path), self._path)
        except FileNotFoundError:
            pass
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        ring = _Keyring.new(self._clock())
        if create_exclusive(self._path, ring.to_bytes(), mode=0o600):
            return ring
        # Another process created it between our read and our create: use theirs.
        return _Keyring.from_bytes(read_private_file(self._path), self._path)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        lock_path = self._path.with_name(self._path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def reload(self) -> None:
        """Re-read the keyring file (e.g. after another process rotated it)."""
        ring = _Keyring.from_bytes(read_private_file(self._path), self._path)
        with self._lock:
            self._ring = ring

    def rotate(self) -> str:
        """Add a new current KEK to the file (older KEKs kept) and return its id."""
        with self._lock, self._file_lock():
            ring = _Keyring.from_bytes(read_private_file(self._path), self._path)
            key_id = ring.add(self._clock())
            write_atomic(self._path, ring.to_bytes(), mode=0o600)
            self._ring = ring
            return key_id

    def epochs(self) -> tuple[Epoch, ...]:
        """Every KEK still held, oldest first, with when it became and stopped being current.

        A keyring written before epochs were recorded has no ``retired_at``: the next key's
        ``created_at`` stands in for it."""
        ring = self._ring
        ids = list(ring.keys)
        out: list[Epoch] = []
        for i, key_id in enumerate(ids):
            retired = ring.retired.get(key_id)
            if retired is None and key_id != ring.current and i + 1 < len(ids):
                retired = ring.created.get(ids[i + 1])
            out.append(
                Epoch(
                    key_id=key_id,
                    created_at=_parse(ring.created.get(key_id)),
                    retired_at=_parse(retired) if key_id != ring.current else None,
                )
            )
        return tuple(out)

    def rotate_if_older(self, max_age: timedelta, *, now: datetime | None = None) -> str | None:
        """Rotate when the current KEK has been current for ``max_age`` or longer at ``now``
        (default: the provider's clock); the new id, else None. Checked under the file lock,
        so processes sharing the file rotate once."""
        with self._lock, self._file_lock():
            ring = _Keyring.from_bytes(read_private_file(self._path), self._path)
            created = _parse(ring.created.get(ring.current))
            now = now or self._clock()
            if created is not None and now - created < max_age:
                self._ring = ring
                return None
            key_id = ring.add(now)
            write_atomic(self._path, ring.to_bytes(), mode=0o600)
            self._ring = ring
            return key_id

    def destroy(self, key_id: str) -> None:
        """Remove a retired KEK from the keyring file for good: every data key wrapped under it
        (in backups, old WAL, dead rows) becomes unreadable. The current KEK is refused."""
        with self._lock, self._file_lock():
            ring = _Keyring.from_bytes(read_private_file(self._path), self._path)
            if key_id == ring.current:
                raise ValueError("the current key-encryption key cannot be destroyed")
            if key_id not in ring.keys:
                self._ring = ring
                return
            del ring.keys[key_id]
            ring.created.pop(key_id, None)
            ring.retired.pop(key_id, None)
            write_atomic(self._path, ring.to_bytes(), mode=0o600)
            self._ring = ring

    def wrap(self, dek: bytes, *, context: bytes) -> bytes:
        if not isinstance(dek, bytes) or len(dek) != _DEK_BYTES:
            raise ValueError("a data key must be exactly 32 bytes")
        ring = self._ring
        key_id = ring.current
        header = _WRAP_MAGIC + bytes([len(key_id)]) + key_id.encode("ascii")
        nonce = os.urandom(_NONCE_BYTES)
        ct = AESGCM(ring.keys[key_id]).encrypt(nonce, dek, _wrap_ad(header, context))
        return header + nonce + ct

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        key_id = wrapped_key_id(wrapped)
        header_len = len(_WRAP_MAGIC) + 1 + len(key_id)
        header = wrapped[:header_len]
        nonce = wrapped[header_len : header_len + _NONCE_BYTES]
        body = wrapped[header_len + _NONCE_BYTES :]
        if len(nonce) != _NONCE_BYTES or len(body) != _DEK_BYTES + 16:
            raise InvalidSeal
        kek = self._ring.keys.get(key_id)
        if kek is None:
            with contextlib.suppress(OSError, ValueError):
                self.reload()
            kek = self._ring.keys.get(key_id)
            if kek is None:
                raise InvalidSeal
        try:
            return AESGCM(kek).decrypt(nonce, body, _wrap_ad(header, context))
        except InvalidTag:
            raise InvalidSeal from None


def _parse(value: str | None) -> datetime | None:
    if not value or value == "None":
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _wrap_ad(header: bytes, context: bytes) -> bytes:
    if not context:
        raise ValueError("context (e.g. the customer id) must not be empty")
    return _WRAP_AD_LABEL + header + lp(bytes(context))
