"""The server's Ed25519 signing key: gallery manifests and audit checkpoints are signed with it.

The private key lives in a 0600 PEM (PKCS#8) file created atomically on first run; devices and
the audit verifier hold only the 32-byte raw public key (:func:`public_key_bytes`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consent.errors import InvalidSeal
from consent.files import create_exclusive, read_private_file

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "load_or_create_signing_key",
    "load_public_key",
    "public_key_bytes",
    "sign",
    "verify",
]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def _load_private(path: Path) -> Ed25519PrivateKey:
    data = read_private_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def load_or_create_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load the signing key from ``path``, creating it (0600, atomically) if absent.

    Raises :class:`~consent.errors.InsecureKeyFileError` if group/others can access the file.
    """
    target = Path(path)
    try:
        return _load_private(target)
    except FileNotFoundError:
        pass
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if create_exclusive(target, pem, mode=0o600):
        return key
    return _load_private(target)  # another process won the race


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32-byte raw public key (what devices are provisioned with)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes_raw()


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Rebuild a public key from :func:`public_key_bytes`; ``ValueError`` if malformed."""
    if len(data) != PUBLIC_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(data)


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """A 64-byte Ed25519 signature over ``data``."""
    return key.sign(data)


def verify(public_key: Ed25519PublicKey, data: bytes, signature: bytes) -> None:
    """Check a signature; raises :class:`~consent.errors.InvalidSeal` if it does not verify."""
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSeal
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        raise InvalidSeal from None
