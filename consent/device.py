"""An edge device's HPKE identity: the key pair a sealed gallery is encrypted to.

Made at provisioning; the private key file (0600) never leaves the device. The server receives
only :meth:`DeviceKeyPair.public_bytes`, which names its suite, so it can rebuild the key.

Suites:

* ``"mlkem768-x25519"`` (default): the hybrid post-quantum KEM ML-KEM-768 + X25519
  (``cryptography`` >= 50), so a gallery recorded today cannot be decrypted by a future quantum
  computer. Face templates are long-lived secrets: a face cannot be changed.
* ``"x25519"``: DHKEM(X25519) only, for older ``cryptography`` builds. Never chosen silently:
  ``generate()`` raises :class:`~consent.errors.HybridKEMUnavailableError` when the hybrid KEM is
  missing unless the caller passes ``allow_x25519_fallback=True`` (a setting) or asks for
  ``"x25519"`` explicitly, and ``consent.gallery.seal_gallery`` refuses an X25519 device unless
  the server's setting allows it.

Both use HKDF-SHA256 and AES-256-GCM (RFC 9180).

Formats (``lp`` = u8 length prefix)::

    public  (``device.pub``): b"VDPK\\x01" | u8 len(suite) | suite | raw public key material
    private (``device.key``): b"VDSK\\x01" | u8 len(suite) | suite | raw private key material

Raw material, hybrid: ML-KEM-768 (public 1184 bytes / private 64-byte seed) then X25519 (32);
X25519 suite: the 32-byte X25519 key.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, get_args

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from consent.errors import HybridKEMUnavailableError
from consent.files import create_exclusive, read_private_file, write_atomic

try:  # ML-KEM arrived in cryptography 47, the hybrid HPKE KEM in 50.
    from cryptography.hazmat.primitives.asymmetric import mlkem as _mlkem

    _HAVE_MLKEM_MODULE = True
except ImportError:  # pragma: no cover - older cryptography
    _HAVE_MLKEM_MODULE = False

__all__ = [
    "DEFAULT_SUITE",
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "DeviceKeyPair",
    "DevicePublicKey",
    "DeviceSuite",
    "default_suite",
    "hpke_suite",
    "hybrid_kem_available",
    "load_device_public_key",
]

DeviceSuite = Literal["mlkem768-x25519", "x25519"]
SUITES: tuple[DeviceSuite, ...] = get_args(DeviceSuite)
DEFAULT_SUITE: DeviceSuite = "mlkem768-x25519"
PRIVATE_KEY_FILE = "device.key"
PUBLIC_KEY_FILE = "device.pub"

_PUB_MAGIC = b"VDPK\x01"
_PRIV_MAGIC = b"VDSK\x01"
_X25519_BYTES = 32
_MLKEM768_PUBLIC_BYTES = 1184
_MLKEM768_SEED_BYTES = 64

HpkePrivateKey: TypeAlias = "hpke.MLKEM768X25519PrivateKey | X25519PrivateKey"
HpkePublicKey: TypeAlias = "hpke.MLKEM768X25519PublicKey | X25519PublicKey"


@functools.cache
def hybrid_kem_available() -> bool:
    """Whether the installed ``cryptography``/OpenSSL can do HPKE with ML-KEM-768 + X25519."""
    if not _HAVE_MLKEM_MODULE:
        return False
    if not hasattr(hpke, "MLKEM768X25519PrivateKey") or not hasattr(hpke.KEM, "MLKEM768_X25519"):
        return False
    try:
        _mlkem.MLKEM768PrivateKey.generate()
    except Exception:  # UnsupportedAlgorithm on a backend without ML-KEM
        return False
    return True


def default_suite(*, allow_x25519_fallback: bool = False) -> DeviceSuite:
    """The hybrid suite where available; X25519 only if the fallback setting allows it."""
    if hybrid_kem_available():
        return "mlkem768-x25519"
    if allow_x25519_fallback:
        return "x25519"
    raise HybridKEMUnavailableError(
        "the hybrid ML-KEM-768 + X25519 KEM needs cryptography >= 50 with ML-KEM support; "
        "upgrade it, or explicitly allow the classical X25519 fallback in the settings"
    )


def hpke_suite(suite: DeviceSuite) -> hpke.Suite:
    """The RFC 9180 suite for a device suite name: KEM / HKDF-SHA256 / AES-256-GCM."""
    if suite == "mlkem768-x25519":
        if not hybrid_kem_available():
            raise HybridKEMUnavailableError("the hybrid ML-KEM-768 + X25519 KEM is not available")
        kem = hpke.KEM.MLKEM768_X25519
    elif suite == "x25519":
        kem = hpke.KEM.X25519
    else:
        raise ValueError(f"unknown device suite {suite!r}; expected one of {SUITES}")
    return hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _frame(magic: bytes, suite: DeviceSuite, material: bytes) -> bytes:
    name = suite.encode("ascii")
    return magic + bytes([len(name)]) + name + material


def _unframe(magic: bytes, data: bytes) -> tuple[DeviceSuite, bytes]:
    if data[: len(magic)] != magic or len(data) < len(magic) + 1:
        raise ValueError("not a Vertrouwd device key")
    n = data[len(magic)]
    name = data[len(magic) + 1 : len(magic) + 1 + n].decode("ascii", errors="replace")
    for suite in SUITES:
        if name == suite:
            return suite, data[len(magic) + 1 + n :]
    raise ValueError(f"unknown device key suite {name!r}")


@dataclass(frozen=True, eq=False)
class DevicePublicKey:
    """A device's public key as the server knows it (from :func:`load_device_public_key`)."""

    suite: DeviceSuite
    key: HpkePublicKey
    raw: bytes
    """The self-describing bytes it was loaded from (``DeviceKeyPair.public_bytes()``)."""

    def fingerprint(self) -> str:
        """SHA-256 hex of :attr:`raw`, for showing on the device and the console at pairing."""
        return hashlib.sha256(self.raw).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DevicePublicKey) and self.raw == other.raw

    def __hash__(self) -> int:
        return hash(self.raw)


def load_device_public_key(data: bytes) -> DevicePublicKey:
    """Rebuild a public key from :meth:`DeviceKeyPair.public_bytes`; ``ValueError`` if bad."""
    suite, material = _unframe(_PUB_MAGIC, bytes(data))
    key: HpkePublicKey
    if suite == "x25519":
        if len(material) != _X25519_BYTES:
            raise ValueError("bad X25519 device public key length")
        key = X25519PublicKey.from_public_bytes(material)
    else:
        if not hybrid_kem_available():
            raise HybridKEMUnavailableError("the hybrid ML-KEM-768 + X25519 KEM is not available")
        if len(material) != _MLKEM768_PUBLIC_BYTES + _X25519_BYTES:
            raise ValueError("bad hybrid device public key length")
        key = hpke.MLKEM768X25519PublicKey(
            _mlkem.MLKEM768PublicKey.from_public_bytes(material[:_MLKEM768_PUBLIC_BYTES]),
            X25519PublicKey.from_public_bytes(material[_MLKEM768_PUBLIC_BYTES:]),
        )
    return DevicePublicKey(suite=suite, key=key, raw=bytes(data))


class DeviceKeyPair:
    """The device's HPKE key pair. Create with :meth:`generate` or :meth:`load`."""

    def __init__(self, suite: DeviceSuite, private_material: bytes) -> None:
        self._suite: DeviceSuite = suite
        self._material = bytes(private_material)
        self._private: HpkePrivateKey
        self._public_raw: bytes
        if suite == "x25519":
            if len(self._material) != _X25519_BYTES:
                raise ValueError("bad X25519 device private key length")
            x_priv = X25519PrivateKey.from_private_bytes(self._material)
            self._private = x_priv
            self._public_raw = x_priv.public_key().public_bytes_raw()
        elif suite == "mlkem768-x25519":
            if not hybrid_kem_available():
                raise HybridKEMUnavailableError(
                    "this device key uses ML-KEM-768 + X25519, which is not available here"
                )
            if len(self._material) != _MLKEM768_SEED_BYTES + _X25519_BYTES:
                raise ValueError("bad hybrid device private key length")
            m_priv = _mlkem.MLKEM768PrivateKey.from_seed_bytes(
                self._material[:_MLKEM768_SEED_BYTES]
            )
            x_priv = X25519PrivateKey.from_private_bytes(self._material[_MLKEM768_SEED_BYTES:])
            self._private = hpke.MLKEM768X25519PrivateKey(m_priv, x_priv)
            self._public_raw = (
                m_priv.public_key().public_bytes_raw() + x_priv.public_key().public_bytes_raw()
            )
        else:
            raise ValueError(f"unknown device suite {suite!r}; expected one of {SUITES}")

    @classmethod
    def generate(
        cls, suite: DeviceSuite | None = None, *, allow_x25519_fallback: bool = False
    ) -> DeviceKeyPair:
        """A new key pair: hybrid by default; X25519 only if asked for or allowed as fallback."""
        chosen = suite or default_suite(allow_x25519_fallback=allow_x25519_fallback)
        if chosen == "x25519":
            material = X25519PrivateKey.generate().private_bytes_raw()
        elif chosen == "mlkem768-x25519":
            if not hybrid_kem_available():
                raise HybridKEMUnavailableError(
                    "the hybrid ML-KEM-768 + X25519 KEM is not available here"
                )
            material = (
                _mlkem.MLKEM768PrivateKey.generate().private_bytes_raw()
                + X25519PrivateKey.generate().private_bytes_raw()
            )
        else:
            raise ValueError(f"unknown device suite {chosen!r}; expected one of {SUITES}")
        return cls(chosen, material)

    @property
    def suite(self) -> DeviceSuite:
        return self._suite

    @property
    def hpke_private_key(self) -> HpkePrivateKey:
        """The private key object for HPKE decryption (used by ``consent.gallery``)."""
        return self._private

    def public_bytes(self) -> bytes:
        """Self-describing public key bytes (suite + raw material) to register with the server."""
        return _frame(_PUB_MAGIC, self._suite, self._public_raw)

    def public_key(self) -> DevicePublicKey:
        return load_device_public_key(self.public_bytes())

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``device.key`` (0600, never overwritten) and ``device.pub`` into ``directory``.

        Raises ``FileExistsError`` if the device already has a private key there: re-provisioning
        must remove it deliberately.
        """
        target = Path(directory)
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_path = target / PRIVATE_KEY_FILE
        if not create_exclusive(
            private_path, _frame(_PRIV_MAGIC, self._suite, self._material), mode=0o600
        ):
            raise FileExistsError(f"{private_path} already exists; refusing to overwrite it")
        write_atomic(target / PUBLIC_KEY_FILE, self.public_bytes(), mode=0o644)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> DeviceKeyPair:
        """Load ``device.key`` from ``directory`` (refused unless 0600-style permissions)."""
        path = Path(directory) / PRIVATE_KEY_FILE
        suite, material = _unframe(_PRIV_MAGIC, read_private_file(path))
        return cls(suite, material)

    def __repr__(self) -> str:
        fingerprint = self.public_key().fingerprint()[:16]
        return f"DeviceKeyPair(suite={self._suite!r}, public={fingerprint})"
