"""The errors of the consent recipe layer.

``InvalidSeal`` is the one opaque error for every way a ciphertext, wrapped key, sealed gallery,
audit signature or self-service token can be bad: a flipped byte, a wrong key, a wrong subject,
a truncated blob, an expired token. Its message never says which check failed, so an attacker
probing with modified inputs learns nothing.

``GalleryRejected`` is the one exception to that rule, and only *after* the server's signature
over the gallery manifest has been verified: the facts it reports (expired, older version, meant
for another device) come from an authenticated manifest and are not secret. The edge device shows
``reason`` on its own health page so store IT can act. A tampered byte never produces a
``GalleryRejected``: it is caught by the signature or ciphertext-hash check first and raised as a
plain ``InvalidSeal``.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "GalleryRejectReason",
    "GalleryRejected",
    "HybridKEMUnavailableError",
    "InsecureKeyFileError",
    "InvalidSeal",
]

_OPAQUE_MESSAGE = "invalid, tampered or expired data"


class InvalidSeal(Exception):
    """Any bad ciphertext, wrapped key, gallery, signature or token. Deliberately uninformative."""

    def __init__(self) -> None:
        super().__init__(_OPAQUE_MESSAGE)


GalleryRejectReason = Literal[
    "expired", "not_yet_valid", "stale_version", "wrong_device", "wrong_suite"
]


class GalleryRejected(InvalidSeal):
    """An authentic gallery (signature verified) that this device must still refuse.

    ``reason`` is a short, non-secret code for the device's health page.
    """

    reason: GalleryRejectReason

    def __init__(self, reason: GalleryRejectReason) -> None:
        super().__init__()
        self.reason = reason
        self.args = (f"gallery rejected: {reason}",)


class InsecureKeyFileError(PermissionError):
    """A key file that is not a regular file or is accessible by group/others (not 0600)."""


class HybridKEMUnavailableError(RuntimeError):
    """The hybrid ML-KEM-768 + X25519 KEM is not available and no fallback was allowed."""
