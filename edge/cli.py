"""``vertrouwd edge``: run the camera service on this device.

    vertrouwd edge --source S --server URL [--enrol-code C] [--data-dir D]
                   [--realtime/--no-realtime] [--max-frames N] [--exit-at-end]

First run: ``--enrol-code`` registers the device (key pair made here, private key never leaves
``--data-dir``). Later runs reuse the stored identity. Other settings come from
``VERTROUWD_EDGE_*`` environment variables (see ``edge.settings.EdgeSettings``).
Exit codes: 0 ok, 2 bad arguments or source, 3 server unreachable or registration refused,
4 models or calibration unavailable.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from consent.device import DeviceKeyPair
from consent.modes import loads_face_models
from edge.capture import Backoff, FrameSource, SourceError, is_stream
from edge.facemodels import build_engine
from edge.gallery import Clock, GalleryClient, GalleryState, utc_now
from edge.health import HealthServer
from edge.metrics import summary
from edge.offline_queue import OfflineQueue
from edge.pipeline import Pipeline
from edge.provision import (
    DeviceIdentity,
    ProvisioningError,
    load_identity,
    load_or_create_keys,
    register,
)
from edge.sender import EventSender
from edge.settings import EdgeSettings

log = logging.getLogger("edge")

ClientFactory = Callable[[], httpx.Client]


class EdgeError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vertrouwd-edge", description="Run the Vertrouwd camera service on this device."
    )
    parser.add_argument("--source", help='file path, camera index ("0") or rtsp/http URL')
    parser.add_argument("--server", help="server base URL, e.g. https://vertrouwd.example")
    parser.add_argument("--enrol-code", help="one-time enrolment code (first run only)")
    parser.add_argument("--data-dir", type=Path, help="device keys, credential and gallery")
    parser.add_argument("--name", help="device name shown in the console")
    parser.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="drop stale frames (cameras; default) or process every frame (--no-realtime)",
    )
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument(
        "--exit-at-end", action="store_true", help="exit when the source ends (files)"
    )
    parser.add_argument("--health-port", type=int, help="serve /healthz and /metrics here")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def settings_from_args(args: argparse.Namespace) -> EdgeSettings:
    overrides: dict[str, Any] = {}
    for field, value in (
        ("source", args.source),
        ("server_url", args.server),
        ("data_dir", args.data_dir),
        ("name", args.name),
        ("realtime", args.realtime),
        ("health_port", args.health_port),
    ):
        if value is not None:
            overrides[field] = value
    return EdgeSettings(**overrides)


def check_source(source: str) -> None:
    """Refuse an unreadable file now; cameras and streams reconnect later instead."""
    if is_stream(source):
        return
    probe = FrameSource(source, reconnect=False)
    probe.open()
    probe.close()


def provision(
    settings: EdgeSettings, enrol_code: str | None, client: httpx.Client
) -> DeviceIdentity:
    try:
        identity = load_identity(settings.data_dir)
    except ProvisioningError as exc:
        raise EdgeError(str(exc), 2) from None
    if identity is not None and enrol_code is None:
        if settings.server_url and settings.server_url != identity.server_url:
            identity = DeviceIdentity(
                server_url=settings.server_url,
                device_id=identity.device_id,
                store_id=identity.store_id,
                token=identity.token,
                server_public_key=identity.server_public_key,
                gallery_ttl_s=identity.gallery_ttl_s,
            )
        return identity
    if enrol_code is None:
        raise EdgeError(
            f"this device is not registered yet (no identity in {settings.data_dir}); "
            "pass --enrol-code from the console",
            2,
        )
    if settings.server_url is None:
        raise EdgeError("--server is required to register the device", 2)
    try:
        return register(
            server_url=settings.server_url,
            enrolment_code=enrol_code,
            name=settings.name,
            data_dir=settings.data_dir,
            client=client,
        )
    except ProvisioningError as exc:
        raise EdgeError(str(exc), 3) from None


@dataclass
class ServerLink:
    """The device's two conversations with the server: the event sender (with its offline
    queue) and the gallery client (poll + push). The gallery client's successful contacts wake
    the sender; a 401 to either stops matching and deletes the sealed gallery, the queued
    events and the queue key."""

    sender: EventSender
    gallery: GalleryClient
    clients: tuple[httpx.Client, ...]

    def start(self) -> None:
        self.gallery.start()
        self.sender.start()

    def close(self) -> None:
        """Stop both (unsent events stay on disk for the next run) and close the clients."""
        self.sender.shutdown()
        self.gallery.shutdown()
        for client in self.clients:
            client.close()


def connect_server(
    settings: EdgeSettings,
    *,
    identity: DeviceIdentity,
    keys: DeviceKeyPair,
    state: GalleryState,
    clients: ClientFactory,
    now: Clock = utc_now,
) -> ServerLink:
    """Build (not start) the sender and the gallery client from the settings."""
    gallery_client = clients()
    events_client = clients()
    offline = None
    if settings.offline_queue:
        offline = OfflineQueue(
            settings.data_dir,
            max_events=settings.offline_queue_max_events,
            max_age_s=settings.offline_queue_max_age_s,
            now=now,
        )
    sender = EventSender(
        server_url=identity.server_url,
        token=identity.token,
        client=events_client,
        max_queue=settings.event_queue_size,
        backoff=Backoff(
            initial=min(1.0, settings.event_retry_max_s), maximum=settings.event_retry_max_s
        ),
        offline=offline,
        on_unauthorized=lambda: gallery.credential_refused(),
        # With the push socket on, batches go over it (posted while it is down).
        channel=(lambda events, timeout: gallery.send_events(events, timeout))
        if settings.gallery_push
        else None,
    )
    gallery = GalleryClient(
        identity=identity,
        keys=keys,
        state=state,
        data_dir=settings.data_dir,
        client=gallery_client,
        poll_s=settings.gallery_poll_s,
        now=now,
        push=settings.gallery_push,
        confirm_s=settings.gallery_confirm_s,
        on_contact=sender.wake,
        on_unauthorized=sender.credential_refused,
    )
    return ServerLink(sender, gallery, (gallery_client, events_client))


def run_edge(
    settings: EdgeSettings,
    *,
    enrol_code: str | None = None,
    max_frames: int | None = None,
    exit_at_end: bool = False,
    client_factory: ClientFactory | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Run the whole service until ``stop`` is set (or the source ends with ``exit_at_end``).

    ``client_factory`` makes the HTTP clients (tests pass one over ``httpx.MockTransport``).
    ``on_ready`` gets the running parts (for tests and the health port).
    """
    stop = stop or threading.Event()
    make_client = client_factory or (lambda: httpx.Client(timeout=10.0))
    try:
        check_source(settings.source)
    except SourceError as exc:
        raise EdgeError(str(exc), 2) from None

    with make_client() as setup_client:
        identity = provision(settings, enrol_code, setup_client)
    keys = load_or_create_keys(settings.data_dir)

    try:
        state = GalleryState(ttl_s=float(identity.gallery_ttl_s or settings.gallery_ttl_s))
        # built, not loaded: the store's mode (in the gallery) decides whether a face model is
        # ever loaded (never in pass mode); see edge.facemodels
        engine, face_models = build_engine(settings, state)
    except (LookupError, ImportError, RuntimeError, ValueError) as exc:
        raise EdgeError(f"cannot load the recognition models: {exc}", 4) from None

    link = connect_server(settings, identity=identity, keys=keys, state=state, clients=make_client)
    sender, gallery = link.sender, link.gallery
    pace = settings.realtime and not is_stream(settings.source)
    source = FrameSource(settings.source, pace=pace)
    pipeline = Pipeline(engine, source, sender, realtime=settings.realtime, max_frames=max_frames)

    def health() -> dict[str, Any]:
        status = state.status()
        active = state.current()
        return {
            "ok": status.matching and not pipeline.finished.is_set(),
            "matching": status.matching,
            "mode": active.mode if active is not None else None,
            "face_models_loaded": face_models.loaded,
            "reason": status.reason,
            "gallery_version": status.version,
            "gallery_age_s": status.age_s,
            "gallery_expires_at": status.expires_at.isoformat() if status.expires_at else None,
            "last_server_contact": (
                status.last_contact.isoformat() if status.last_contact else None
            ),
            "events_pending": sender.pending,
            "events_queued_on_disk": sender.queued_on_disk,
            "events_offline": sender.offline,
            "push_connected": gallery.push_connected.is_set(),
        }

    def metrics() -> dict[str, float]:
        values = engine.metrics.snapshot()
        status = state.status()
        values["frames_dropped"] = float(pipeline.frames_dropped)
        values["gallery_version"] = float(status.version)
        values["gallery_subjects"] = float(status.subjects)
        values["gallery_age_seconds"] = status.age_s if status.age_s is not None else float("nan")
        values["matching_enabled"] = 1.0 if status.matching else 0.0
        if status.last_contact is not None:
            values["last_server_contact_timestamp_seconds"] = status.last_contact.timestamp()
        values["arrivals_sent"] = float(sender.sent)
        dropped = dict.fromkeys(("queue_full", "too_old"), 0.0)
        dropped["queue_full"] += values.pop("events_dropped", 0.0)  # the pipeline's own queue
        for reason, count in sender.dropped_by_reason.items():
            dropped[reason] = dropped.get(reason, 0.0) + count
        values.update({f"events_dropped_{reason}": n for reason, n in dropped.items()})
        values["events_pending"] = float(sender.pending)
        values["events_queued_on_disk"] = float(sender.queued_on_disk)
        values["events_replayed"] = float(sender.replayed)
        values["events_send_failures"] = float(sender.failures)
        values["events_offline"] = 1.0 if sender.offline else 0.0
        values["gallery_push_connected"] = 1.0 if gallery.push_connected.is_set() else 0.0
        return values

    def kiosk_available() -> bool:
        active = state.current()
        return active is not None and active.mode == "checkin"

    health_server: HealthServer | None = None
    try:
        gallery.load_from_disk()
        gallery.poll_once()
        active = state.current()
        if active is not None and loads_face_models(active.mode):
            try:
                face_models.load()  # fail fast where this store's mode needs them
            except (LookupError, ImportError, RuntimeError, ValueError) as exc:
                raise EdgeError(f"cannot load the recognition models: {exc}", 4) from None
        link.start()
        if settings.health_port:
            health_server = HealthServer(
                settings.health_host,
                settings.health_port,
                health=health,
                metrics=metrics,
                kiosk=engine.router.kiosk,
                kiosk_available=kiosk_available,
            )
            health_server.start()
        pipeline.start()
        if on_ready is not None:
            on_ready(
                {
                    "pipeline": pipeline,
                    "state": state,
                    "sender": sender,
                    "gallery": gallery,
                    "health": health,
                    "metrics": metrics,
                    "engine": engine,
                    "face_models": face_models,
                    "health_server": health_server,
                }
            )
        log.info("edge running (matching: %s)", state.status().reason)
        while not stop.is_set():
            if pipeline.finished.is_set() and exit_at_end:
                break
            stop.wait(0.2)
        if pipeline.finished.is_set():  # a file source ended: what it took (counts only)
            log.info("source ended: %s", summary(metrics()))
        # a last chance to deliver; when the server is down, what is unsent stays on disk
        sender.drain(timeout=0.0 if sender.offline else 10.0)
    finally:
        pipeline.shutdown()
        if health_server is not None:
            health_server.shutdown()
        link.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["edge"]:
        args_list = args_list[1:]
    parser = build_parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.max_frames is not None and args.max_frames < 1:
        print("error: --max-frames must be at least 1", file=sys.stderr)
        return 2
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        print(f"error: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        return run_edge(
            settings,
            enrol_code=args.enrol_code,
            max_frames=args.max_frames,
            exit_at_end=args.exit_at_end,
            stop=stop,
        )
    except EdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    finally:  # give the caller (e.g. `vertrouwd demo --serve`) its own handlers back
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
