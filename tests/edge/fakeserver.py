"""An in-process stand-in for the server's device API (httpx.MockTransport), sealing real
galleries with ``consent.gallery`` so the edge's crypto path is the real one."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from consent.device import DevicePublicKey, load_device_public_key
from consent.gallery import GalleryEntry, GalleryPass, GalleryPayload, MemberZone, seal_gallery
from consent.modes import DEFAULT_MODE, RecognitionMode
from consent.signing import load_or_create_signing_key, public_key_bytes

CODE = "ENROL-1234"
TOKEN = "device-token-abc"


class FakeServer:
    def __init__(self, tmp: Path, *, now: Callable[[], datetime] | None = None) -> None:
        self.signing_key = load_or_create_signing_key(tmp / "server-signing.pem")
        self.now = now or (lambda: datetime.now(UTC))
        self.device_id = "dev-1"
        self.device_key: DevicePublicKey | None = None
        self.version = 0
        self.blob: bytes | None = None
        self.pending: dict[str, np.ndarray] | None = None
        self.revoked = False
        self.live = True
        self.fail_events = 0
        self.events: list[dict[str, object]] = []
        self.event_posts = 0
        self.acks: list[int] = []
        self.gallery_requests: list[httpx.Request] = []
        self.mode: RecognitionMode = DEFAULT_MODE
        """The store's recognition mode sealed into every gallery from now on."""
        self.passes: dict[str, str] = {}
        """Pass digest -> subject id, sealed in the pass modes."""
        self.zone: MemberZone | None = None

    @property
    def public_key(self) -> bytes:
        return public_key_bytes(self.signing_key)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def seal(
        self,
        entries: dict[str, np.ndarray],
        *,
        version: int | None = None,
        device_id: str | None = None,
        issued_at: datetime | None = None,
        ttl: timedelta = timedelta(hours=1),
    ) -> bytes:
        assert self.device_key is not None, "register first"
        payload = GalleryPayload(
            model_id="dlib_resnet_v1",
            dim=128,
            entries=tuple(
                GalleryEntry(sid, np.asarray(v, "<f4").tobytes()) for sid, v in entries.items()
            ),
            zone=self.zone,
            mode=self.mode,
            passes=tuple(GalleryPass(d, s) for d, s in self.passes.items()),
        )
        return seal_gallery(
            payload,
            store_id="store-1",
            device_id=device_id or self.device_id,
            version=version or self.version,
            device_public_key=self.device_key,
            signing_key=self.signing_key,
            issued_at=issued_at or self.now(),
            ttl=ttl,
        )

    def publish(self, entries: dict[str, np.ndarray], **kwargs: object) -> int:
        self.version += 1
        self.blob = self.seal(entries, **kwargs)  # type: ignore[arg-type]
        return self.version

    def _authorised(self, request: httpx.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}" and not self.revoked

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/devices/register" and request.method == "POST":
            body = json.loads(request.content)
            if body.get("enrolment_code") != CODE:
                return httpx.Response(400, json={"detail": "unknown or used enrolment code"})
            self.device_key = load_device_public_key(base64.b64decode(body["public_key"]))
            return httpx.Response(
                201,
                json={
                    "device_id": self.device_id,
                    "store_id": "store-1",
                    "token": TOKEN,
                    "server_public_key": base64.b64encode(self.public_key).decode(),
                    "gallery_ttl_s": 600,
                },
            )
        if not self._authorised(request):
            return httpx.Response(401, json={"detail": "credential revoked"})
        if path == "/api/v1/device/gallery":
            self.gallery_requests.append(request)
            if not self.live:
                return httpx.Response(403, json={"detail": "store not live"})
            if self.pending is not None:
                self.publish(self.pending)
                self.pending = None
            if self.blob is None:
                return httpx.Response(404, json={"detail": "no gallery"})
            if request.headers.get("If-None-Match") == f'"{self.version}"':
                return httpx.Response(304)
            return httpx.Response(
                200,
                content=self.blob,
                headers={
                    "Content-Type": "application/octet-stream",
                    "X-Gallery-Version": str(self.version),
                },
            )
        if path == "/api/v1/device/ack":
            self.acks.append(int(json.loads(request.content)["version"]))
            return httpx.Response(204)
        if path == "/api/v1/device/events":
            self.event_posts += 1
            if self.fail_events > 0:
                self.fail_events -= 1
                return httpx.Response(503, json={"detail": "busy"})
            seen = {e["id"] for e in self.events}
            accepted = duplicates = 0
            for event in json.loads(request.content)["events"]:
                if event["id"] in seen:
                    duplicates += 1
                else:
                    self.events.append(event)
                    seen.add(event["id"])
                    accepted += 1
            return httpx.Response(202, json={"accepted": accepted, "duplicates": duplicates})
        return httpx.Response(404, json={"detail": "not found"})
