"""The device's gallery: loaded from disk, kept current from the server, fail closed.

``GalleryState`` is the engine's ``GalleryProvider``: ``current()`` gives the installed index
only while matching is allowed: a gallery is installed, it has not expired, it was confirmed
current by the server (200 or 304) within the TTL, the credential was not refused (401) and the
store is live (not 403). Otherwise it gives None and the engine does not even detect faces.

``GalleryClient`` owns the polling thread: ``GET /api/v1/device/gallery`` with
``If-None-Match``, opens a new blob with ``consent.gallery.open_gallery``, installs it in memory
(a new ``GalleryIndex``, swapped in one assignment) and on disk (``write_atomic``), then acks
its version. With ``push`` on, a second thread keeps a WebSocket open to ``/ws/device``: the
server sends ``{"type": "gallery", "version": N}`` on connect and whenever the store publishes a
new version, and a newer N wakes the polling thread at once (a withdrawal reaches the device in
well under the 10 s target). While the socket is up, the polling thread only confirms the
gallery every ``confirm_s``; while it is down, it polls every ``poll_s``. The socket never
carries a gallery or a decision: only "poll now". Thread-safety: ``GalleryState`` guards its
fields with a lock; the index object is immutable and shared; the two threads share only
``threading.Event`` objects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from consent.device import DeviceKeyPair
from consent.errors import GalleryRejected, InvalidSeal
from consent.files import write_atomic
from consent.gallery import GalleryPayload, OpenedGallery, open_gallery
from consent.modes import uses_passes
from consent.signing import load_public_key
from edge.capture import Backoff
from edge.matching import ActiveGallery, OperatingPoint
from edge.provision import DeviceIdentity
from models.matcher import GalleryIndex

log = logging.getLogger(__name__)

GALLERY_FILE = "gallery.sealed"
GALLERY_PATH = "/api/v1/device/gallery"
ACK_PATH = "/api/v1/device/ack"
PUSH_PATH = "/ws/device"
CLOSE_UNAUTHORIZED = 4401

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def push_url(server_url: str) -> str:
    """The device WebSocket of a server: ``http`` -> ``ws``, ``https`` -> ``wss``."""
    if server_url.startswith("https://"):
        return "wss://" + server_url[len("https://") :] + PUSH_PATH
    if server_url.startswith("http://"):
        return "ws://" + server_url[len("http://") :] + PUSH_PATH
    raise ValueError("server_url must start with http:// or https://")


def index_from_payload(payload: GalleryPayload) -> GalleryIndex:
    """The matcher index of an opened gallery (templates in memory only)."""
    ids: list[str] = []
    rows: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    for entry in payload.entries:
        vectors = np.frombuffer(entry.vectors, dtype="<f4").reshape(-1, payload.dim)
        ids.extend([entry.subject_id] * vectors.shape[0])
        rows.append(vectors.astype(np.float32))
    matrix = np.concatenate(rows) if rows else np.zeros((0, payload.dim), dtype=np.float32)
    return GalleryIndex.build(ids, matrix, payload.model_id)


def templates_by_subject(payload: GalleryPayload) -> dict[str, np.ndarray[Any, Any]]:
    """Each member's own templates, (n, dim) float32: for the 1:1 check of ``pass+face``."""
    return {
        entry.subject_id: np.frombuffer(entry.vectors, dtype="<f4")
        .reshape(-1, payload.dim)
        .astype(np.float32)
        for entry in payload.entries
    }


def active_from_opened(opened: OpenedGallery) -> ActiveGallery:
    """What the engine uses of an opened gallery, by the store's recognition mode: the 1:N
    index only where a mode searches faces (``door``, ``checkin``); passes and the holders'
    own templates only in the pass modes."""
    payload = opened.payload
    point = None
    if payload.threshold is not None and payload.min_margin is not None:
        point = OperatingPoint(payload.threshold, payload.min_margin)
    zone = payload.zone  # the store's recorded zone (None: the device keeps its settings)
    version = opened.manifest.version
    if not uses_passes(payload.mode):
        return ActiveGallery(
            index_from_payload(payload), version, point, zone=zone, mode=payload.mode
        )
    empty = GalleryIndex.build([], np.zeros((0, payload.dim), np.float32), payload.model_id)
    return ActiveGallery(
        empty,
        version,
        point,
        zone=zone,
        mode=payload.mode,
        passes={p.digest: p.subject_id for p in payload.passes},
        templates=templates_by_subject(payload) if payload.mode == "pass+face" else {},
    )


@dataclass(frozen=True)
class GalleryStatus:
    """For the health endpoint: numbers and reasons, never identities."""

    matching: bool
    reason: str
    version: int
    subjects: int
    age_s: float | None
    """Seconds since the installed gallery was last confirmed current."""
    expires_at: datetime | None
    last_contact: datetime | None


def _subjects(active: ActiveGallery | None) -> int:
    """Members the installed gallery can recognise (face or pass holders)."""
    if active is None:
        return 0
    return max(active.index.subject_count, len(set(active.passes.values())))


class GalleryState:
    def __init__(
        self, *, ttl_s: float, now: Clock = utc_now, expected_model_id: str | None = None
    ) -> None:
        self.ttl = timedelta(seconds=ttl_s)
        self._now = now
        self._expected_model_id = expected_model_id
        self._lock = threading.Lock()
        self._active: ActiveGallery | None = None
        self._expires_at: datetime | None = None
        self._confirmed_at: datetime | None = None
        self._blocked: str | None = None
        self._last_contact: datetime | None = None
        self._rejected: str | None = None

    @property
    def version(self) -> int:
        with self._lock:
            return self._active.version if self._active is not None else 0

    def install(self, opened: OpenedGallery, *, confirmed_at: datetime) -> None:
        payload = opened.payload
        if self._expected_model_id is not None and payload.model_id != self._expected_model_id:
            self.reject("wrong_model")
            return
        active = active_from_opened(opened)
        with self._lock:
            self._active = active
            self._expires_at = opened.manifest.expires_at
            self._confirmed_at = confirmed_at
            self._blocked = None
            self._rejected = None

    def confirm(self, at: datetime) -> None:
        """The server said our version is current (304)."""
        with self._lock:
            self._confirmed_at = at
            self._blocked = None

    def contact(self, at: datetime) -> None:
        with self._lock:
            self._last_contact = at

    def block(self, reason: str) -> None:
        """Stop matching now and forget the gallery (401 credential, 403 store not live)."""
        with self._lock:
            self._active = None
            self._expires_at = None
            self._confirmed_at = None
            self._blocked = reason

    def reject(self, reason: str) -> None:
        """A received gallery was refused; the installed one (if any) stays, TTL permitting."""
        with self._lock:
            self._rejected = reason

    def _why_not(self, now: datetime) -> str | None:
        if self._blocked is not None:
            return self._blocked
        if self._active is None:
            return self._rejected or "no_gallery"
        if self._expires_at is not None and now >= self._expires_at:
            return "expired"
        if self._confirmed_at is None or now - self._confirmed_at > self.ttl:
            return "not_confirmed_current"
        return None

    def current(self) -> ActiveGallery | None:
        now = self._now()
        with self._lock:
            if self._why_not(now) is not None:
                return None
            return self._active

    def status(self) -> GalleryStatus:
        now = self._now()
        with self._lock:
            reason = self._why_not(now)
            age = (now - self._confirmed_at).total_seconds() if self._confirmed_at else None
            return GalleryStatus(
                matching=reason is None,
                reason=reason or "ok",
                version=self._active.version if self._active is not None else 0,
                subjects=_subjects(self._active),
                age_s=age,
                expires_at=self._expires_at,
                last_contact=self._last_contact,
            )


@dataclass(frozen=True)
class SocketAnswer:
    """The server's answer to a batch sent on the push socket: the status the POST would
    have had, the answer's fields, and ``retry_after`` seconds (on 503)."""

    status: int
    body: dict[str, Any]
    retry_after: float | None = None


class _Answer:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: SocketAnswer | None = None


class GalleryClient:
    """Keeps ``state`` current from the server; one polling thread owns the HTTP client, and
    (with ``push``) one push thread owns the WebSocket. See the module docstring."""

    def __init__(
        self,
        *,
        identity: DeviceIdentity,
        keys: DeviceKeyPair,
        state: GalleryState,
        data_dir: Path,
        client: httpx.Client,
        poll_s: float,
        now: Clock = utc_now,
        stop: threading.Event | None = None,
        push: bool = False,
        confirm_s: float | None = None,
        push_backoff: Backoff | None = None,
        on_contact: Callable[[], None] | None = None,
        on_unauthorized: Callable[[], None] | None = None,
    ) -> None:
        self.identity = identity
        self.keys = keys
        self.state = state
        self.path = data_dir / GALLERY_FILE
        self.client = client
        self.poll_s = poll_s
        self._now = now
        self.stop = stop or threading.Event()
        self._server_key = load_public_key(identity.server_public_key)
        self._pending_ack: int | None = None
        self._thread: threading.Thread | None = None
        self.polls = 0
        self.push = push
        ttl_s = state.ttl.total_seconds()
        self.confirm_s = min(confirm_s if confirm_s is not None else 60.0, ttl_s / 3)
        """Seconds between confirming polls while the push socket is up (at most TTL/3)."""
        self.confirm_s = max(self.confirm_s, poll_s)
        self._push_backoff = push_backoff or Backoff(initial=0.5, maximum=30.0)
        self._push_thread: threading.Thread | None = None
        self._wake = threading.Event()
        self.push_connected = threading.Event()
        """Set while the push socket is open (tests and the health page read it)."""
        self.push_notices = 0
        self._socket: Any = None
        self._answers: dict[int, _Answer] = {}
        """Batches of events sent on the socket, by id, until their answer arrives."""
        self._answers_lock = threading.Lock()
        self._next_id = 0
        self._silent_socket: Any = None
        """The open socket that left a batch unanswered (see ``send_events``)."""
        self._on_contact = on_contact
        self._on_unauthorized = on_unauthorized
        """Called when a poll got a real answer (200/304) or the push socket opened: the
        server is back, so the event sender retries its queue now instead of after its
        backoff."""

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.identity.token}"}

    def _open(self, blob: bytes, min_version: int) -> OpenedGallery | None:
        try:
            return open_gallery(
                blob,
                device_keys=self.keys,
                device_id=self.identity.device_id,
                server_public_key=self._server_key,
                min_version=min_version,
                now=self._now(),
            )
        except GalleryRejected as exc:
            log.warning("gallery refused: %s", exc.reason)
            self.state.reject(exc.reason)
        except InvalidSeal:
            log.warning("gallery refused: invalid or tampered")
            self.state.reject("invalid_seal")
        return None

    def load_from_disk(self) -> bool:
        """Install the stored gallery if it is authentic and unexpired. It counts as confirmed
        at its issue time, so an offline device matches at most a TTL after issue."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return False
        opened = self._open(blob, min_version=0)
        if opened is None:
            return False
        self.state.install(opened, confirmed_at=opened.manifest.issued_at)
        log.info("installed stored gallery version %d", opened.manifest.version)
        return True

    def _forget_disk_copy(self) -> None:
        self.path.unlink(missing_ok=True)

    def credential_refused(self) -> None:
        """The server answered 401 (here or to the event sender): stop matching and delete the
        sealed gallery."""
        log.error("device credential refused by the server; matching stopped")
        self.state.block("credential_revoked")
        self._forget_disk_copy()

    def _unauthorized(self) -> None:
        self.credential_refused()
        if self._on_unauthorized is not None:
            self._on_unauthorized()  # e.g. the sender deletes its queued events

    def poll_once(self) -> str:
        """One poll; returns what happened ("installed", "current", "revoked", "not_live",
        "refused", "error")."""
        self.polls += 1
        version = self.state.version
        headers = self._headers
        if version:
            headers["If-None-Match"] = f'"{version}"'
        url = self.identity.server_url + GALLERY_PATH
        try:
            response = self.client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("gallery poll failed: %s", type(exc).__name__)
            return "error"
        now = self._now()
        self.state.contact(now)
        status = response.status_code
        if status == 401:
            self._unauthorized()
            return "revoked"
        if status == 403:
            log.warning("store is not live; matching stopped")
            self.state.block("store_not_live")
            self._forget_disk_copy()
            return "not_live"
        if status == 304:
            self.state.confirm(now)
            self._send_pending_ack()
            self._contact()
            return "current"
        if status != 200:
            log.warning("gallery poll answered %d", status)
            return "error"
        opened = self._open(response.content, min_version=version)
        if opened is None:
            return "refused"
        write_atomic(self.path, response.content)
        self.state.install(opened, confirmed_at=now)
        log.info("installed gallery version %d", opened.manifest.version)
        self._pending_ack = opened.manifest.version
        self._send_pending_ack()
        self._contact()
        return "installed"

    def _contact(self) -> None:
        if self._on_contact is not None:
            self._on_contact()

    def _send_pending_ack(self) -> None:
        if self._pending_ack is None:
            return
        url = self.identity.server_url + ACK_PATH
        try:
            response = self.client.post(
                url, json={"version": self._pending_ack}, headers=self._headers
            )
        except httpx.HTTPError:
            return  # retried after the next poll
        if response.status_code in (200, 202, 204):
            self._pending_ack = None
        elif response.status_code == 401:
            self._unauthorized()

    def wake(self) -> None:
        """Poll now (the push thread calls this when the server announces a new version)."""
        self._wake.set()

    def run(self) -> None:
        """The polling thread: poll, then wait for a wake-up or the interval, until stopped."""
        while not self.stop.is_set():
            self._wake.clear()  # a notice that arrives during the poll triggers another
            try:
                self.poll_once()
            except Exception:
                log.exception("gallery poll crashed")
            interval = self.confirm_s if self.push_connected.is_set() else self.poll_s
            self._sleep(interval)

    def _sleep(self, seconds: float) -> None:
        """Wait until woken, stopped (``stop`` may be shared and set by others) or timed out."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._wake.wait(min(remaining, 0.5)):
                return

    # --- push ------------------------------------------------------------------------------

    def _on_push(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "events_answer":
                self._answered(message)
                return
            version = int(message["version"]) if kind == "gallery" else None
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("push: ignored a malformed message")
            return
        if version is not None and version != self.state.version:
            self.push_notices += 1
            self.wake()

    # --- events over the socket -------------------------------------------------------------

    def send_events(self, events: list[dict[str, Any]], timeout: float) -> SocketAnswer | None:
        """Send a batch of arrival events on the push socket and wait for the server's answer
        (issue 19: the socket is open anyway, and a POST a batch cost the server an HTTP
        request). None when the socket is not open, or it closed or stayed silent for
        ``timeout`` seconds: the caller posts the batch instead (event ids make a batch sent
        twice count once). Called from the event sender's thread; the answer comes through
        this client's push thread."""
        socket = self._socket
        if socket is None or socket is self._silent_socket:
            return None
        with self._answers_lock:
            self._next_id += 1
            ident = self._next_id
            waiter = self._answers[ident] = _Answer()
        try:
            socket.send(json.dumps({"type": "events", "id": ident, "events": events}))
            waiter.done.wait(timeout)
        except Exception as exc:  # closed under us: post instead
            log.debug("events over the socket failed: %s", type(exc).__name__)
        finally:
            with self._answers_lock:
                self._answers.pop(ident, None)
        if waiter.answer is None and self._socket is socket:
            # Open but silent: a server from before events on the socket ignores them. Post
            # until the next connection rather than wait out every batch.
            log.warning("no answer to events on the push socket; posting them instead")
            self._silent_socket = socket
        return waiter.answer

    def _answered(self, message: dict[str, Any]) -> None:
        ident = message.get("id")
        with self._answers_lock:
            waiter = self._answers.get(ident) if isinstance(ident, int) else None
        if waiter is None:
            # a refusal of a message without a readable id, or an answer after its timeout
            log.warning("push: an answer nobody waits for (%s)", message.get("status"))
            return
        retry = message.get("retry_after")
        waiter.answer = SocketAnswer(
            status=int(message["status"]),
            body=message,
            retry_after=float(retry) if isinstance(retry, int | float) else None,
        )
        waiter.done.set()

    def _release_waiters(self) -> None:
        """The socket closed: nobody gets an answer on it; their senders post instead."""
        with self._answers_lock:
            waiting = list(self._answers.values())
        for waiter in waiting:
            waiter.done.set()

    def _push_session(self) -> bool:
        """One WebSocket session; False when the server refused the credential."""
        from websockets.exceptions import ConnectionClosed, InvalidStatus
        from websockets.sync.client import connect

        try:
            socket = connect(
                push_url(self.identity.server_url),
                additional_headers=self._headers,
                open_timeout=10,
                close_timeout=2,
                proxy=None,
            )
        except InvalidStatus as exc:
            log.warning("push socket refused (%d)", exc.response.status_code)
            return exc.response.status_code != 401
        with socket:
            self._socket = socket
            self.push_connected.set()
            self._push_backoff.reset()
            log.info("push socket connected")
            self._contact()
            try:
                while not self.stop.is_set():
                    try:
                        raw = socket.recv(timeout=1.0)
                    except TimeoutError:
                        continue
                    self._on_push(raw)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == CLOSE_UNAUTHORIZED:
                    log.error("push socket: device credential refused")
                    self.wake()  # the poll confirms and stops matching
                    return False
            finally:
                self._socket = None
                self._release_waiters()
                if self.push_connected.is_set():
                    self.push_connected.clear()
                    self.wake()  # fall back to polling every poll_s from now
        return True

    def run_push(self) -> None:
        """The push thread: keep the socket open, reconnecting with backoff."""
        while not self.stop.is_set():
            try:
                keep_trying = self._push_session()
            except Exception as exc:  # unreachable, DNS, TLS, handshake: retried later
                log.debug("push socket unavailable: %s", type(exc).__name__)
                keep_trying = True
            if not keep_trying:
                return  # credential refused: polling handles revocation
            if self.stop.wait(self._push_backoff.next_delay()):
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="edge-gallery", daemon=True)
        self._thread.start()
        if self.push:
            self._push_thread = threading.Thread(
                target=self.run_push, name="edge-gallery-push", daemon=True
            )
            self._push_thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self._wake.set()
        socket = self._socket
        if socket is not None:
            socket.close()
        for thread in (self._thread, self._push_thread):
            if thread is not None:
                thread.join(timeout)
