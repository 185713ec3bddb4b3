"""A tiny health and metrics endpoint (stdlib ``http.server`` in a daemon thread).

``/healthz``: JSON with ok, gallery version and age, last server contact, whether matching is
on and why not. ``/metrics``: Prometheus text format. Values only, never identities.

With a ``kiosk`` (check-in mode, ``edge.checkin``): ``/kiosk`` (the page for the screen beside
the check-in spot, ``edge.kiosk``), ``/kiosk.js``, ``/kiosk/state`` (JSON: the phase, never an
identity) and ``POST /kiosk/checkin`` (the kiosk's button). The POST must be
``Content-Type: application/json``: a cross-site page cannot send that without a CORS preflight,
which this server never grants, so no other site can press the button.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.checkin import KioskState
from edge.kiosk import KIOSK_CSP, KIOSK_HTML, KIOSK_JS, kiosk_state_json

log = logging.getLogger(__name__)

PREFIX = "vertrouwd_edge_"
_NAME = re.compile(r"[^a-zA-Z0-9_]")

HELP: dict[str, tuple[str, str]] = {
    "fps": ("gauge", "Frames processed per second since start."),
    "frames_processed": ("counter", "Frames that went through the detect/track stage."),
    "frames_captured": ("counter", "Frames read from the source."),
    "frames_dropped": ("counter", "Stale frames dropped to stay realtime."),
    "frames_motion_skipped": ("counter", "Frames without motion: no detection ran."),
    "frames_detected": ("counter", "Frames on which face detection ran."),
    "frames_matching_off": ("counter", "Frames seen while matching was off (no detection)."),
    "faces_in_zone": ("counter", "Faces found in the member zone at or above the minimum size."),
    "faces_below_quality": ("counter", "Faces not embedded: size, sharpness or pose too poor."),
    "embeddings": ("counter", "Face embeddings computed."),
    "identification_attempts": (
        "counter",
        "Embeddings searched among all members (1:N); never in the pass modes.",
    ),
    "verification_attempts": (
        "counter",
        "pass+face: a face compared 1:1 with the pass holder's own templates.",
    ),
    "face_models_loaded": ("counter", "Face models loaded (stays 0 in pass mode)."),
    "passes_read": ("counter", "Valid passes of this store's members read."),
    "passes_refused": (
        "counter",
        "Passes read that this store's gallery does not list (revoked, forged, another store).",
    ),
    "qr_codes_ignored": ("counter", "QR codes read that are not passes."),
    "passes_face_verified": ("counter", "pass+face arrivals whose face matched the holder."),
    "passes_face_not_verified": ("counter", "pass+face arrivals whose face did not match."),
    "frames_checkin_skipped": (
        "counter",
        "Check-in mode: frames not analysed because nobody stood in the spot.",
    ),
    "track_means_matched": (
        "counter",
        "Track means (of a track's best embeddings) searched among all members.",
    ),
    "tracks_confirmed": ("counter", "Tracks confirmed as a member (track mean or k of n)."),
    "arrivals": ("counter", "Arrival events produced."),
    "arrivals_in_cooldown": ("counter", "Confirmed members not reported again (cooldown)."),
    "queue_lag_seconds": ("gauge", "Capture-to-match delay of the latest frame."),
    "gallery_version": ("gauge", "Installed gallery version (0: none)."),
    "gallery_age_seconds": ("gauge", "Seconds since the gallery was confirmed current."),
    "gallery_subjects": ("gauge", "Members in the installed gallery."),
    "matching_enabled": ("gauge", "1 while matching is allowed, else 0."),
    "gallery_push_connected": ("gauge", "1 while the gallery push socket is open, else 0."),
    "last_server_contact_timestamp_seconds": ("gauge", "Unix time of the last server answer."),
    "arrivals_sent": ("counter", "Arrival events accepted by the server."),
    "events_pending": ("gauge", "Arrival events not yet accepted by the server (memory+disk)."),
    "events_queued_on_disk": ("gauge", "Arrival events in the encrypted offline queue."),
    "events_replayed": ("counter", "Queued arrival events accepted by the server after an outage."),
    "events_send_failures": ("counter", "Attempts to send events that found the server down."),
    "events_offline": ("gauge", "1 while the server is unreachable for events, else 0."),
}

LABELLED: dict[str, tuple[str, str, str]] = {
    "stage_seconds_": ("stage", "counter", "Seconds spent per pipeline stage."),
    "events_dropped_": (
        "reason",
        "counter",
        "Arrival events dropped, by reason (queue_full, too_old, unreadable, rejected, revoked).",
    ),
}
"""Key prefixes rendered as one labelled family: ``events_dropped_too_old`` becomes
``vertrouwd_edge_events_dropped_total{reason="too_old"}``."""


def render_prometheus(values: Mapping[str, float], prefix: str = PREFIX) -> str:
    """Prometheus text exposition of a metrics snapshot, written by ``prometheus-client`` (the
    standard format, escaping and ``_total`` suffixes); keys with a ``LABELLED`` prefix become
    labelled families; a NaN (unknown) value is left out."""
    registry = CollectorRegistry()
    registry.register(_Snapshot(values, prefix))
    return generate_latest(registry).decode()


class _Snapshot(Collector):
    """One scrape's values as metric families."""

    def __init__(self, values: Mapping[str, float], prefix: str) -> None:
        self.values = values
        self.prefix = prefix

    def collect(self) -> Iterator[Metric]:
        families: dict[str, dict[str, float]] = {p: {} for p in LABELLED}
        for key in sorted(self.values):
            family = next((p for p in LABELLED if key.startswith(p)), None)
            if family is not None:
                families[family][key[len(family) :]] = float(self.values[key])
                continue
            value = float(self.values[key])
            if math.isnan(value):
                continue
            kind, text = HELP.get(key, ("gauge", key.replace("_", " ") + "."))
            name = self.prefix + _NAME.sub("_", key)
            metric = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield metric(name, text, value=value)
        for family, members in families.items():
            if not members:
                continue
            label, kind, text = LABELLED[family]
            metric = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            labelled = metric(self.prefix + family.rstrip("_"), text, labels=[label])
            for member in sorted(members):
                labelled.add_metric([_NAME.sub("_", member)], members[member])
            yield labelled


class HealthServer:
    """Serves ``health()`` as /healthz and ``metrics()`` as /metrics. Port 0 binds any free
    port (the settings use 0 to mean "off"; the CLI then does not start this at all)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        health: Callable[[], dict[str, Any]],
        metrics: Callable[[], Mapping[str, float]],
        kiosk: KioskState | None = None,
        kiosk_available: Callable[[], bool] = lambda: True,
    ) -> None:
        self._health = health
        self._metrics = metrics
        self._kiosk = kiosk
        self._kiosk_available = kiosk_available
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    kiosk = outer._kiosk
                    if path != "/kiosk/checkin" or kiosk is None:
                        self._send(404, "text/plain", b"not found\n")
                        return
                    length = int(self.headers.get("Content-Length") or 0)
                    if length > 1024:
                        self._json(413, {"detail": "body too large"})
                        return
                    self.rfile.read(length)
                    content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                    if content_type != "application/json":
                        self._json(415, {"detail": "Content-Type must be application/json"})
                        return
                    available = outer._kiosk_available()
                    if not available:
                        self._json(409, {"detail": "check-in is not active on this device"})
                        return
                    kiosk.press()
                    self._json(202, kiosk_state_json(kiosk.snapshot(), available=available))
                except Exception:
                    log.exception("kiosk endpoint failed")
                    self._send(500, "text/plain", b"error\n")

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    kiosk = outer._kiosk
                    if kiosk is not None and path == "/kiosk":
                        self._send(200, "text/html; charset=utf-8", KIOSK_HTML.encode(), csp=True)
                    elif kiosk is not None and path == "/kiosk.js":
                        self._send(200, "text/javascript; charset=utf-8", KIOSK_JS.encode())
                    elif kiosk is not None and path == "/kiosk/state":
                        available = outer._kiosk_available()
                        self._json(200, kiosk_state_json(kiosk.snapshot(), available=available))
                    elif path == "/healthz":
                        data = outer._health()
                        body = json.dumps(data, sort_keys=True).encode()
                        self._send(200 if data.get("ok") else 503, "application/json", body)
                    elif path == "/metrics":
                        body = render_prometheus(outer._metrics()).encode()
                        self._send(200, "text/plain; version=0.0.4", body)
                    else:
                        self._send(404, "text/plain", b"not found\n")
                except Exception:
                    log.exception("health endpoint failed")
                    self._send(500, "text/plain", b"error\n")

            def _json(self, status: int, data: dict[str, Any]) -> None:
                self._send(status, "application/json", json.dumps(data, sort_keys=True).encode())

            def _send(
                self, status: int, content_type: str, body: bytes, *, csp: bool = False
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                if csp:
                    self.send_header("Content-Security-Policy", KIOSK_CSP)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # no access log lines

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{text}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="edge-health", daemon=True
        )
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
