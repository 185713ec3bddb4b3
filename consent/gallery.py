"""The sealed gallery: the consented members' templates, encrypted to one edge device.

The server seals a :class:`GalleryPayload` to a device's public key with HPKE (RFC 9180; hybrid
ML-KEM-768 + X25519 by default, see ``consent.device``) and ``info = b"<device_id>|<version>"``,
and signs a :class:`GalleryManifest` naming the store, device, monotonic version, validity window,
suite, model and the ciphertext's SHA-256 with its Ed25519 key.

The device (:func:`open_gallery`) checks, in this order: the frame, the signature, the ciphertext
hash (any tampered byte fails here, as a plain :class:`~consent.errors.InvalidSeal`); then, on the
now authentic manifest, the device id, ``version >= min_version`` (strictly older is refused, equal
is allowed so the installed gallery can be re-loaded from disk), the validity window, the suite;
only then does it decrypt. Refusals of an authentic manifest raise
:class:`~consent.errors.GalleryRejected` with a non-secret ``reason`` for the health page.

Sealed gallery format (big-endian integers)::

    b"VGAL\\x01"
    u32 manifest length | manifest (canonical JSON, see consent.audit.canonical_json)
    signature (64 bytes): Ed25519 over b"vertrouwd/gallery-manifest/v1\\0" + manifest
    ciphertext (the rest): HPKE enc || AES-256-GCM ciphertext; its SHA-256 is in the manifest

Manifest JSON keys: ``format`` (1), ``store_id``, ``device_id``, ``version``, ``issued_at``,
``expires_at`` (ISO-8601 UTC ``Z``), ``suite``, ``model_id``, ``entries``, ``dim``,
``ciphertext_sha256`` (hex).

Payload plaintext format::

    b"VGPL\\x01"
    u32 header length | header (canonical JSON): {"format": 1|2, "model_id", "dim",
        "threshold": float|null, "min_margin": float|null,
        "entries": [[subject_id, template_count], ...],
        "zone": {"x", "y", "w", "h", "min_face_size"},  (``zone`` only when the store has one)
        "mode": "checkin"|"pass"|"pass+face",          (format 2 only; see below)
        "passes": [[pass_digest_hex, subject_id], ...]} (format 2, pass modes only)
    vectors: little-endian float32, entry by entry, template by template
    (``sum(template_count) * dim * 4`` bytes exactly)

The recognition mode (``consent.modes``) is enforced by the device. A ``door`` gallery is
written exactly as before modes existed (format 1, no ``mode`` key), so devices and galleries of
either age keep working; every other mode is written as format 2, which an older device refuses
as :class:`InvalidSeal` (fail closed) instead of running a check-in or pass gallery as a door
camera. Rules, checked on both sides: ``passes`` only in ``pass`` and ``pass+face`` (digests are
:func:`consent.passes.pass_digest` values, unique; a member may hold several passes); no template
entries at all in ``pass``; in ``pass+face`` a template entry is only for a member who holds a
pass, since the device uses it only to verify that pass holder's face 1:1.

No pickle, no msgpack; counts and sizes are bounded (:data:`MAX_ENTRIES`, :data:`MAX_DIM`,
:data:`MAX_TEMPLATES_PER_ENTRY`, :data:`MAX_PASSES`). Subject ids are pseudonymous: the edge
never learns names, nor a pass token (only its digest).

``consent.files.write_atomic`` stores a received gallery so that after a power cut the device has
the whole old or the whole new file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from consent._encoding import Reader, u32
from consent.audit import canonical_json, format_timestamp, parse_timestamp
from consent.device import SUITES, DeviceKeyPair, DevicePublicKey, DeviceSuite, hpke_suite
from consent.errors import GalleryRejected, InvalidSeal
from consent.modes import DEFAULT_MODE, RecognitionMode, parse_mode, uses_passes
from consent.signing import Ed25519PrivateKey, Ed25519PublicKey, sign, verify

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "MAX_DIM",
    "MAX_ENTRIES",
    "MAX_GALLERY_TTL",
    "MAX_PASSES",
    "MAX_TEMPLATES_PER_ENTRY",
    "GalleryEntry",
    "GalleryManifest",
    "GalleryPass",
    "GalleryPayload",
    "MemberZone",
    "OpenedGallery",
    "open_gallery",
    "read_manifest",
    "seal_gallery",
]

MAX_ENTRIES = 1_000_000
MAX_DIM = 4096
MAX_TEMPLATES_PER_ENTRY = 64
MAX_PASSES = 4_000_000
MAX_SUBJECT_ID_CHARS = 128
MAX_GALLERY_BYTES = 4 << 30
MAX_GALLERY_TTL = timedelta(days=30)  # hard upper bound; deployments use ~24 h
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)

_MAGIC = b"VGAL\x01"
_PAYLOAD_MAGIC = b"VGPL\x01"
_SIG_LABEL = b"vertrouwd/gallery-manifest/v1\x00"
_SIG_BYTES = 64
_MAX_MANIFEST_BYTES = 64 * 1024
_MAX_HEADER_BYTES = 256 << 20
_DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_VERSION = (1 << 63) - 1


def _check_device_id(device_id: str) -> str:
    if not isinstance(device_id, str) or not _DEVICE_ID_RE.match(device_id):
        raise ValueError("device_id must be 1-128 characters of [A-Za-z0-9._:-]")
    return device_id


def _hpke_info(device_id: str, version: int) -> bytes:
    return f"{device_id}|{version}".encode()


def _finite_or_none(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite")
    return float(value)


@dataclass(frozen=True)
class GalleryEntry:
    """One member: a pseudonymous subject id and their template vectors (float32 LE bytes)."""

    subject_id: str
    vectors: bytes

    def count(self, dim: int) -> int:
        """Number of templates, given the gallery's dimension."""
        return len(self.vectors) // (dim * 4)


@dataclass(frozen=True)
class GalleryPass:
    """One valid pass of a member: the hex SHA-256 of the token and the member's subject id."""

    digest: str
    subject_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.digest, str) or not _HEX64.fullmatch(self.digest):
            raise ValueError("a pass digest must be 64 lowercase hex characters")
        _check_subject_id(self.subject_id)


def _check_subject_id(subject_id: object) -> None:
    if not isinstance(subject_id, str) or not 1 <= len(subject_id) <= MAX_SUBJECT_ID_CHARS:
        raise ValueError(f"subject_id must be a string of 1-{MAX_SUBJECT_ID_CHARS} characters")


MIN_FACE_SIZE_BOUNDS = (20, 2000)
_ZONE_KEYS = frozenset({"x", "y", "w", "h", "min_face_size"})
_ZONE_SLACK = 1e-6  # the server's store_zones check allows the same rounding


@dataclass(frozen=True)
class MemberZone:
    """The store's member zone (privacy invariant 11): a rectangle as fractions of the frame
    (``x``, ``y`` from the top left) and the smallest face side in full-resolution pixels. The
    device processes only this region and only faces this large.

    The one zone type: recorded at go-live (``server.services.recognition.signage``), checked by
    the API and the CLI, carried in the sealed gallery, applied by the edge (``edge.zone``
    computes its pixels); the defaults are the edge's own when a store recorded none (the whole
    frame, 60 px). ``ValueError`` with a reason a person can act on when it is out of bounds."""

    x: float = 0.0
    y: float = 0.0
    w: float = 1.0
    h: float = 1.0
    min_face_size: int = 60

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"member zone {name}: a number between 0 and 1")
            if not math.isfinite(value):
                raise ValueError(f"member zone {name}: a number between 0 and 1")
            object.__setattr__(self, name, float(value))
        if not (0.0 <= self.x < 1.0 and 0.0 <= self.y < 1.0):
            raise ValueError("member zone: left and top must be between 0 and 1 (0 % to 100 %)")
        if not (0.0 < self.w <= 1.0 and 0.0 < self.h <= 1.0):
            raise ValueError("member zone: width and height must be above 0 and at most 1 (100 %)")
        if self.x + self.w > 1.0 + _ZONE_SLACK or self.y + self.h > 1.0 + _ZONE_SLACK:
            raise ValueError("member zone: the rectangle must lie inside the camera frame")
        size = self.min_face_size
        low, high = MIN_FACE_SIZE_BOUNDS
        if isinstance(size, bool) or not isinstance(size, int) or not low <= size <= high:
            raise ValueError(f"minimum face size: {low} to {high} pixels")

    @property
    def area(self) -> float:
        return self.w * self.h

    def to_json(self) -> dict[str, float | int]:
        return {
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "min_face_size": self.min_face_size,
        }

    @classmethod
    def from_json(cls, doc: Any) -> MemberZone:
        """Parse :meth:`to_json` output; ``ValueError`` on anything else."""
        if not isinstance(doc, dict) or set(doc) != _ZONE_KEYS:
            raise ValueError("zone must be an object with x, y, w, h and min_face_size")
        return cls(doc["x"], doc["y"], doc["w"], doc["h"], doc["min_face_size"])


@dataclass(frozen=True)
class GalleryPayload:
    """What a device matches against. ``entries`` may be empty (last member withdrew).

    Vectors are little-endian float32 bytes (``np.asarray(v, "<f4").tobytes()``), a whole
    number of ``dim``-sized templates per entry, 1 to ``MAX_TEMPLATES_PER_ENTRY`` of them.
    """

    model_id: str
    dim: int
    entries: tuple[GalleryEntry, ...]
    threshold: float | None = None
    min_margin: float | None = None
    zone: MemberZone | None = None
    """The store's member zone; None for a store without one (the device keeps its own)."""
    mode: RecognitionMode = DEFAULT_MODE
    """The store's recognition mode, enforced by the device (``consent.modes``)."""
    passes: tuple[GalleryPass, ...] = ()
    """The store's valid passes (``pass`` and ``pass+face`` only)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        object.__setattr__(self, "passes", tuple(self.passes))
        object.__setattr__(self, "mode", parse_mode(self.mode))
        if self.zone is not None and not isinstance(self.zone, MemberZone):
            raise TypeError("zone must be a MemberZone or None")
        if not self.model_id or not isinstance(self.model_id, str):
            raise ValueError("model_id must be a non-empty string")
        if isinstance(self.dim, bool) or not isinstance(self.dim, int):
            raise ValueError("dim must be an integer")
        if not 1 <= self.dim <= MAX_DIM:
            raise ValueError(f"dim must be between 1 and {MAX_DIM}")
        if len(self.entries) > MAX_ENTRIES:
            raise ValueError(f"a gallery holds at most {MAX_ENTRIES} entries")
        object.__setattr__(self, "threshold", _finite_or_none(self.threshold, "threshold"))
        object.__setattr__(self, "min_margin", _finite_or_none(self.min_margin, "min_margin"))
        template_bytes = self.dim * 4
        seen: set[str] = set()
        for entry in self.entries:
            if not isinstance(entry, GalleryEntry):
                raise TypeError("entries must be GalleryEntry objects")
            if not entry.subject_id or not isinstance(entry.subject_id, str):
                raise ValueError("subject_id must be a non-empty string")
            if entry.subject_id in seen:
                raise ValueError(f"duplicate subject_id {entry.subject_id!r} in gallery")
            seen.add(entry.subject_id)
            n, rem = divmod(len(entry.vectors), template_bytes)
            if rem or not 1 <= n <= MAX_TEMPLATES_PER_ENTRY:
                raise ValueError(
                    f"entry {entry.subject_id!r}: vectors must be 1-{MAX_TEMPLATES_PER_ENTRY} "
                    f"templates of {self.dim} float32 values"
                )
        self._check_mode(seen)

    def _check_mode(self, entry_subjects: set[str]) -> None:
        if not uses_passes(self.mode):
            if self.passes:
                raise ValueError(f"a {self.mode!r} gallery carries no passes")
            return
        if len(self.passes) > MAX_PASSES:
            raise ValueError(f"a gallery holds at most {MAX_PASSES} passes")
        digests: set[str] = set()
        holders: set[str] = set()
        for item in self.passes:
            if not isinstance(item, GalleryPass):
                raise TypeError("passes must be GalleryPass objects")
            if item.digest in digests:
                raise ValueError("duplicate pass digest in gallery")
            digests.add(item.digest)
            holders.add(item.subject_id)
        if self.mode == "pass" and self.entries:
            raise ValueError("a 'pass' gallery carries no face templates")
        if not entry_subjects <= holders:
            raise ValueError("a 'pass+face' gallery carries templates only of pass holders")

    @cached_property
    def _pass_holders(self) -> dict[str, str]:
        return {item.digest: item.subject_id for item in self.passes}

    def pass_holder(self, digest: str) -> str | None:
        """The subject id holding the pass with this digest, or None (unknown or revoked).

        A plain dict lookup: the digest is of a token the holder showed, and learning whether
        a digest is listed gives no way to make a token for it (SHA-256 preimage)."""
        return self._pass_holders.get(digest)

    @property
    def template_count(self) -> int:
        return sum(entry.count(self.dim) for entry in self.entries)

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "format": 1 if self.mode == DEFAULT_MODE else 2,
            "model_id": self.model_id,
            "dim": self.dim,
            "threshold": self.threshold,
            "min_margin": self.min_margin,
            "entries": [[e.subject_id, e.count(self.dim)] for e in self.entries],
        }
        if self.zone is not None:
            doc["zone"] = self.zone.to_json()
        if self.mode != DEFAULT_MODE:
            doc["mode"] = self.mode
            doc["passes"] = [[p.digest, p.subject_id] for p in self.passes]
        header = canonical_json(doc)
        return b"".join(
            [_PAYLOAD_MAGIC, u32(len(header)), header, *(e.vectors for e in self.entries)]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> GalleryPayload:
        """Parse :meth:`to_bytes` output; :class:`InvalidSeal` on anything malformed."""
        reader = Reader(data)
        if reader.take(len(_PAYLOAD_MAGIC)) != _PAYLOAD_MAGIC:
            raise InvalidSeal
        header_len = reader.u32()
        if header_len > _MAX_HEADER_BYTES:
            raise InvalidSeal
        try:
            header: Any = json.loads(reader.take(header_len))
            if not isinstance(header, dict) or header.get("format") not in (1, 2):
                raise InvalidSeal
            mode, passes = _read_mode(header)
            dim = header["dim"]
            raw_entries = header["entries"]
            if not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
                raise InvalidSeal
            if not isinstance(raw_entries, list) or len(raw_entries) > MAX_ENTRIES:
                raise InvalidSeal
            template_bytes = dim * 4
            entries = []
            for item in raw_entries:
                subject_id, n = item
                if not isinstance(subject_id, str) or not isinstance(n, int):
                    raise InvalidSeal
                if not 1 <= n <= MAX_TEMPLATES_PER_ENTRY:
                    raise InvalidSeal
                entries.append(GalleryEntry(subject_id, reader.take(n * template_bytes)))
            if not reader.done():
                raise InvalidSeal
            raw_zone = header.get("zone")
            zone = None if raw_zone is None else MemberZone.from_json(raw_zone)
            return cls(
                model_id=header["model_id"],
                dim=dim,
                entries=tuple(entries),
                threshold=header.get("threshold"),
                min_margin=header.get("min_margin"),
                zone=zone,
                mode=mode,
                passes=passes,
            )
        except (ValueError, TypeError, KeyError):
            raise InvalidSeal from None


def _read_mode(header: dict[str, Any]) -> tuple[RecognitionMode, tuple[GalleryPass, ...]]:
    """Mode and passes of a payload header; ``ValueError`` for anything but the two formats."""
    if header["format"] == 1:
        if "mode" in header or "passes" in header:
            raise ValueError("format 1 has no mode")
        return DEFAULT_MODE, ()
    mode = parse_mode(header["mode"])
    if mode == DEFAULT_MODE:
        raise ValueError("a door gallery is format 1")
    raw = header["passes"]
    if not isinstance(raw, list) or len(raw) > MAX_PASSES:
        raise ValueError("passes must be a bounded list")
    passes = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 2:
            raise ValueError("a pass is [digest, subject_id]")
        passes.append(GalleryPass(item[0], item[1]))
    return mode, tuple(passes)


@dataclass(frozen=True)
class GalleryManifest:
    """The signed, cleartext description of a sealed gallery."""

    store_id: str
    device_id: str
    version: int
    issued_at: datetime
    expires_at: datetime
    suite: DeviceSuite
    model_id: str
    entries: int
    dim: int
    ciphertext_sha256: str

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": 1,
                "store_id": self.store_id,
                "device_id": self.device_id,
                "version": self.version,
                "issued_at": self.issued_at,
                "expires_at": self.expires_at,
                "suite": self.suite,
                "model_id": self.model_id,
                "entries": self.entries,
                "dim": self.dim,
                "ciphertext_sha256": self.ciphertext_sha256,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> GalleryManifest:
        try:
            doc: Any = json.loads(data)
            if not isinstance(doc, dict) or doc.get("format") != 1:
                raise InvalidSeal
            suite = doc["suite"]
            if suite not in SUITES:
                raise InvalidSeal
            fields = (doc["store_id"], doc["device_id"], doc["model_id"], doc["ciphertext_sha256"])
            if not all(isinstance(f, str) for f in fields):
                raise InvalidSeal
            ints = (doc["version"], doc["entries"], doc["dim"])
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in ints):
                raise InvalidSeal
            manifest = cls(
                store_id=doc["store_id"],
                device_id=doc["device_id"],
                version=doc["version"],
                issued_at=parse_timestamp(doc["issued_at"]),
                expires_at=parse_timestamp(doc["expires_at"]),
                suite=suite,
                model_id=doc["model_id"],
                entries=doc["entries"],
                dim=doc["dim"],
                ciphertext_sha256=doc["ciphertext_sha256"],
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InvalidSeal from None
        if not _HEX64.match(manifest.ciphertext_sha256):
            raise InvalidSeal
        return manifest


@dataclass(frozen=True)
class OpenedGallery:
    manifest: GalleryManifest
    payload: GalleryPayload

    @property
    def mode(self) -> RecognitionMode:
        return self.payload.mode

    @property
    def passes(self) -> tuple[GalleryPass, ...]:
        return self.payload.passes


def seal_gallery(
    payload: GalleryPayload,
    *,
    store_id: str,
    device_id: str,
    version: int,
    device_public_key: DevicePublicKey,
    signing_key: Ed25519PrivateKey,
    issued_at: datetime,
    ttl: timedelta | None = None,
    expires_at: datetime | None = None,
    allow_x25519: bool = False,
) -> bytes:
    """Seal ``payload`` to one device and sign its manifest; returns the self-contained blob.

    Give exactly one of ``ttl`` / ``expires_at`` (at most :data:`MAX_GALLERY_TTL` after
    ``issued_at``). A device registered with the classical ``x25519`` suite is refused unless
    ``allow_x25519`` (the server's fallback setting) is true: no silent downgrade.
    Each content change must use a new, higher ``version``.
    """
    _check_device_id(device_id)
    if not store_id or not isinstance(store_id, str):
        raise ValueError("store_id must be a non-empty string")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError("version must be an integer")
    if not 1 <= version <= _MAX_VERSION:
        raise ValueError("version must be a positive integer")
    if (ttl is None) == (expires_at is None):
        raise ValueError("give exactly one of ttl and expires_at")
    issued = parse_timestamp(format_timestamp(issued_at))
    if ttl is not None:
        expires = issued + ttl
    else:
        assert expires_at is not None
        expires = parse_timestamp(format_timestamp(expires_at))
    if not issued < expires <= issued + MAX_GALLERY_TTL:
        raise ValueError(f"expiry must be after issue and at most {MAX_GALLERY_TTL} later")
    if payload.zone is not None:
        MemberZone.from_json(payload.zone.to_json())  # re-checked: ValueError when bad
    if device_public_key.suite == "x25519" and not allow_x25519:
        raise ValueError(
            "device key uses the classical X25519 KEM; re-provision it with the hybrid suite "
            "or enable the X25519 fallback setting explicitly"
        )
    ciphertext = hpke_suite(device_public_key.suite).encrypt(
        payload.to_bytes(), device_public_key.key, info=_hpke_info(device_id, version)
    )
    manifest = GalleryManifest(
        store_id=store_id,
        device_id=device_id,
        version=version,
        issued_at=issued,
        expires_at=expires,
        suite=device_public_key.suite,
        model_id=payload.model_id,
        entries=len(payload.entries),
        dim=payload.dim,
        ciphertext_sha256=hashlib.sha256(ciphertext).hexdigest(),
    )
    manifest_bytes = manifest.to_bytes()
    signature = sign(signing_key, _SIG_LABEL + manifest_bytes)
    return b"".join([_MAGIC, u32(len(manifest_bytes)), manifest_bytes, signature, ciphertext])


def _parse_and_verify(
    blob: bytes, server_public_key: Ed25519PublicKey
) -> tuple[GalleryManifest, bytes]:
    if len(blob) > MAX_GALLERY_BYTES:
        raise InvalidSeal
    reader = Reader(blob)
    if reader.take(len(_MAGIC)) != _MAGIC:
        raise InvalidSeal
    manifest_len = reader.u32()
    if manifest_len > _MAX_MANIFEST_BYTES:
        raise InvalidSeal
    manifest_bytes = reader.take(manifest_len)
    signature = reader.take(_SIG_BYTES)
    ciphertext = reader.rest()
    verify(server_public_key, _SIG_LABEL + manifest_bytes, signature)
    manifest = GalleryManifest.from_bytes(manifest_bytes)
    digest = hashlib.sha256(ciphertext).hexdigest()
    if not hmac.compare_digest(digest, manifest.ciphertext_sha256):
        raise InvalidSeal
    return manifest, ciphertext


def read_manifest(blob: bytes, *, server_public_key: Ed25519PublicKey) -> GalleryManifest:
    """The verified manifest of a sealed gallery, without decrypting it.

    Checks the frame, signature and ciphertext hash (:class:`InvalidSeal` otherwise); does not
    check device, version or time, which :func:`open_gallery` does.
    """
    return _parse_and_verify(blob, server_public_key)[0]


def open_gallery(
    blob: bytes,
    *,
    device_keys: DeviceKeyPair,
    device_id: str,
    server_public_key: Ed25519PublicKey,
    min_version: int,
    now: datetime,
    max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> OpenedGallery:
    """Verify and decrypt a gallery on the device it was sealed to.

    ``min_version`` is the version currently installed (0 if none): older is refused, equal is
    accepted (re-load from disk). ``now`` must be timezone-aware. Raises :class:`InvalidSeal`
    for any tampering and :class:`GalleryRejected` for an authentic gallery this device must
    not use (``expired``, ``not_yet_valid``, ``stale_version``, ``wrong_device``,
    ``wrong_suite``).
    """
    now_utc = parse_timestamp(format_timestamp(now))
    manifest, ciphertext = _parse_and_verify(blob, server_public_key)
    if not hmac.compare_digest(manifest.device_id.encode(), device_id.encode()):
        raise GalleryRejected("wrong_device")
    if manifest.version < min_version:
        raise GalleryRejected("stale_version")
    if manifest.issued_at > now_utc + max_clock_skew:
        raise GalleryRejected("not_yet_valid")
    if now_utc >= manifest.expires_at:
        raise GalleryRejected("expired")
    if manifest.suite != device_keys.suite:
        raise GalleryRejected("wrong_suite")
    try:
        plaintext = hpke_suite(manifest.suite).decrypt(
            ciphertext,
            device_keys.hpke_private_key,
            info=_hpke_info(manifest.device_id, manifest.version),
        )
    except Exception:  # InvalidTag, or a malformed encapsulation rejected by the KEM
        raise InvalidSeal from None
    payload = GalleryPayload.from_bytes(plaintext)
    if (
        payload.model_id != manifest.model_id
        or len(payload.entries) != manifest.entries
        or payload.dim != manifest.dim
    ):
        raise InvalidSeal
    return OpenedGallery(manifest=manifest, payload=payload)
