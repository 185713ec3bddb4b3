"""Invariant 11 on the device: the store's member zone in the sealed gallery replaces the
device's own zone settings while that gallery is installed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from consent.gallery import GalleryEntry, GalleryPayload, MemberZone, seal_gallery
from edge.capture import Frame
from edge.gallery import GalleryClient, GalleryState
from edge.matching import OperatingPoint
from edge.pipeline import Engine
from edge.provision import load_or_create_keys, register
from edge.settings import EdgeSettings
from models.types import FaceBox
from tests.edge.fakeserver import CODE, FakeServer
from tests.edge.test_engine_fake import FakeDetector, FakeEmbedder

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STORE_ZONE = MemberZone(x=0.25, y=0.1, w=0.5, h=0.8, min_face_size=90)


def _publish(server: FakeServer, zone: MemberZone | None) -> None:
    """Seal a gallery with (or without) a store zone, the way the server does."""
    assert server.device_key is not None
    vector = np.eye(128, dtype=np.float32)[0]
    payload = GalleryPayload(
        model_id="fake_v1",
        dim=128,
        entries=(GalleryEntry("s-member", vector.astype("<f4").tobytes()),),
        zone=zone,
    )
    server.version += 1
    server.blob = seal_gallery(
        payload,
        store_id="store-1",
        device_id=server.device_id,
        version=server.version,
        device_public_key=server.device_key,
        signing_key=server.signing_key,
        issued_at=NOW,
        ttl=timedelta(hours=1),
    )


def test_a_gallery_with_a_store_zone_sets_the_engines_zone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = FakeServer(tmp_path, now=lambda: NOW)
    data = tmp_path / "data"
    settings = EdgeSettings(
        zone_x=0.0, zone_y=0.0, zone_w=1.0, zone_h=1.0, min_face_size=40, detect_scale=1.0
    )
    with server.client() as http:
        identity = register(
            server_url="http://server.test",
            enrolment_code=CODE,
            name="e",
            data_dir=data,
            client=http,
        )
        state = GalleryState(ttl_s=600, now=lambda: NOW)
        client = GalleryClient(
            identity=identity,
            keys=load_or_create_keys(data),
            state=state,
            data_dir=data,
            client=http,
            poll_s=5,
            now=lambda: NOW,
        )
        detector = FakeDetector()
        engine = Engine(
            settings,
            detector=detector,
            embedder=FakeEmbedder(np.eye(128, dtype=np.float32)[1]),
            gallery=state,
            point=OperatingPoint(threshold=0.5, min_margin=0.0),
        )
        stage = engine.detect_stage
        device_zone = MemberZone(0.0, 0.0, 1.0, 1.0, min_face_size=40)
        assert stage.zone == device_zone
        frames = iter(
            Frame(i, float(i), np.full((400, 800, 3), 40 * i % 255, dtype=np.uint8))
            for i in range(10)
        )

        _publish(server, STORE_ZONE)
        assert client.poll_once() == "installed"
        # a small face (60 px) that the device default (40) would keep: the store says 90
        detector.boxes = [FaceBox(top=100, right=360, bottom=160, left=300)]
        with caplog.at_level(logging.INFO, logger="edge.pipeline"):
            engine.process_frame(next(frames))
        store_zone = MemberZone(0.25, 0.1, 0.5, 0.8, min_face_size=90)
        assert stage.zone == store_zone
        assert detector.calls == 1
        assert engine.metrics.snapshot().get("faces_in_zone", 0.0) == 0.0
        messages = [r.getMessage() for r in caplog.records if r.name == "edge.pipeline"]
        assert messages == [
            "member zone from store gallery: x=0.250 y=0.100 w=0.500 h=0.800 min_face_size=90"
        ]

        # a later gallery without a zone: the device's own settings apply again
        caplog.clear()
        _publish(server, None)
        assert client.poll_once() == "installed"
        with caplog.at_level(logging.INFO, logger="edge.pipeline"):
            engine.process_frame(next(frames))
        assert stage.zone == device_zone
        assert detector.calls == 2
        assert engine.metrics.snapshot()["faces_in_zone"] == 1.0  # 60 px >= the device's 40
        assert any("member zone from settings" in r.getMessage() for r in caplog.records)
