"""Provisioning: the device key pair in ``data_dir`` and registration with an enrolment code.

Files in ``data_dir`` (directory 0700): ``device.key`` (0600, never leaves the device),
``device.pub``, ``device.json`` (0600: device id, store id, credential token, the server's
Ed25519 public key, the gallery TTL), and later ``gallery.sealed`` (see ``edge.gallery``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from consent.device import PRIVATE_KEY_FILE, DeviceKeyPair
from consent.files import write_atomic
from consent.signing import load_public_key

log = logging.getLogger(__name__)

IDENTITY_FILE = "device.json"
REGISTER_PATH = "/api/v1/devices/register"


class ProvisioningError(RuntimeError):
    """Registration failed or the stored identity is unusable; the message says why."""


@dataclass(frozen=True)
class DeviceIdentity:
    server_url: str
    device_id: str
    store_id: str
    token: str
    server_public_key: bytes
    """Raw Ed25519 public key that signs gallery manifests."""
    gallery_ttl_s: int

    def __repr__(self) -> str:  # the token is a credential: never in reprs or logs
        return f"DeviceIdentity(device_id={self.device_id!r}, store_id={self.store_id!r})"

    def to_json(self) -> dict[str, Any]:
        return {
            "server_url": self.server_url,
            "device_id": self.device_id,
            "store_id": self.store_id,
            "token": self.token,
            "server_public_key": base64.b64encode(self.server_public_key).decode("ascii"),
            "gallery_ttl_s": self.gallery_ttl_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], server_url: str | None = None) -> DeviceIdentity:
        try:
            key = base64.b64decode(str(data["server_public_key"]), validate=True)
            load_public_key(key)  # refuse a malformed key now, not at the first gallery
            ttl = int(data["gallery_ttl_s"])
            identity = cls(
                server_url=str(server_url or data["server_url"]).rstrip("/"),
                device_id=str(data["device_id"]),
                store_id=str(data["store_id"]),
                token=str(data["token"]),
                server_public_key=key,
                gallery_ttl_s=ttl,
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ProvisioningError(f"malformed device identity: {exc}") from None
        if not identity.device_id or not identity.token or ttl <= 0:
            raise ProvisioningError("malformed device identity: empty id/token or bad TTL")
        return identity


def load_or_create_keys(data_dir: Path) -> DeviceKeyPair:
    """The device key pair in ``data_dir``, generated (hybrid suite) on first use."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (data_dir / PRIVATE_KEY_FILE).exists():
        return DeviceKeyPair.load(data_dir)
    keys = DeviceKeyPair.generate()
    keys.save(data_dir)
    log.info("generated a new device key pair")
    return keys


def load_identity(data_dir: Path) -> DeviceIdentity | None:
    path = data_dir / IDENTITY_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ProvisioningError(f"{path} does not hold a device identity")
    return DeviceIdentity.from_json(data)


def save_identity(data_dir: Path, identity: DeviceIdentity) -> None:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = json.dumps(identity.to_json(), indent=2, sort_keys=True).encode("utf-8")
    write_atomic(data_dir / IDENTITY_FILE, body, mode=0o600)


def register(
    *,
    server_url: str,
    enrolment_code: str,
    name: str,
    data_dir: Path,
    client: httpx.Client,
) -> DeviceIdentity:
    """Register this device with an enrolment code and store the identity (0600)."""
    keys = load_or_create_keys(data_dir)
    body = {
        "enrolment_code": enrolment_code,
        "name": name,
        "public_key": base64.b64encode(keys.public_bytes()).decode("ascii"),
    }
    url = server_url.rstrip("/") + REGISTER_PATH
    try:
        response = client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise ProvisioningError(f"cannot reach the server at {server_url}: {exc}") from None
    if response.status_code != 201:
        detail = _detail(response)
        raise ProvisioningError(
            f"registration refused by the server ({response.status_code}): {detail}"
        )
    try:
        data = response.json()
    except ValueError:
        raise ProvisioningError("registration answer is not JSON") from None
    if not isinstance(data, dict):
        raise ProvisioningError("registration answer is not a JSON object")
    identity = DeviceIdentity.from_json(data, server_url=server_url)
    save_identity(data_dir, identity)
    log.info("registered as device %s", identity.device_id)
    return identity


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:200]
    return str(data)[:200]
