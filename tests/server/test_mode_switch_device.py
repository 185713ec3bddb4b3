"""Switching a store's recognition mode reaches an online device through the push (its poll
interval is an hour here), and the device's engine changes behaviour with it: a real server
(uvicorn in a thread), a real edge ``GalleryClient`` and engine, the member's real pass (issued
at enrolment) shown as a QR code on a deterministic frame."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from consent.gallery import MemberZone
from consent.passes import pass_digest
from edge.capture import Frame
from edge.matching import OperatingPoint
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from server.db.session import transaction
from server.db.stores import Store
from server.demo_scenes import SPOT, SPOT_MIN_FACE, pass_scene
from server.runtime import Runtime
from server.services.recognition import golive
from tests.edge.test_mode_pass import FaceModelUsed, TripwireDetector, TripwireEmbedder
from tests.server import test_device_push as push
from tests.server.conftest import StoreFixture
from tests.server.test_device_push import (
    PROPAGATION_LIMIT_S,
    Device,
    connected,
    enrol_lin,
    wait_for_ack,
)

# the same on any database: the push and the device's engine (go-live: test_store_modes)
pytestmark = pytest.mark.db_agnostic

device = push.device  # the push-connected device of the push tests

SPOT_ZONE = MemberZone(x=SPOT[0], y=SPOT[1], w=SPOT[2], h=SPOT[3], min_face_size=SPOT_MIN_FACE)


def _switch(runtime: Runtime, store: StoreFixture, mode: str) -> int:
    with transaction(runtime.sessions) as session:
        row = session.get(Store, store.id)
        assert row is not None
        return golive.go_live(
            session,
            # What is tested is the switch reaching the device; dlib's calibration expects more
            # false matches than the default bound allows (test_false_matches tests the bound).
            runtime.context().with_settings(max_false_matches_per_1000=1000.0),
            store=row,
            dpia_reference="DPIA-T-1",
            signage_confirmed=True,
            zone=SPOT_ZONE,
            mode=mode,
            door_acknowledged=mode == "door",
            actor="test",
        )


def test_a_mode_switch_reaches_the_online_device_and_its_engine_follows(
    runtime: Runtime, store: StoreFixture, device: Device, faces: Path
) -> None:
    connected(device, runtime)
    lin = enrol_lin(runtime, store, faces)
    state = device.client.state
    engine = Engine(
        EdgeSettings(realtime=False),
        detector=TripwireDetector(),
        embedder=TripwireEmbedder(),
        gallery=state,
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
        now=lambda: datetime.now().astimezone(),
    )
    frame = pass_scene(faces, [("lin_manuel_miranda/img1.png", lin.pass_token)]).frames[6]

    version = _switch(runtime, store, "pass")
    took = wait_for_ack(runtime, device.identity.device_id, version, PROPAGATION_LIMIT_S)
    assert took is not None, f"the switch to pass (version {version}) did not reach the device"
    print(f"mode switch -> device ack: {took * 1000:.0f} ms")
    active = state.current()
    assert active is not None
    assert active.mode == "pass"
    assert len(active.index) == 0  # no template on the device any more
    assert dict(active.passes) == {pass_digest(lin.pass_token): lin.subject_id}
    (event,) = engine.process_frame(Frame(0, 0.0, frame))  # the QR only: no face model
    assert (event.subject_id, event.method) == (lin.subject_id, "pass")

    version = _switch(runtime, store, "door")
    assert wait_for_ack(runtime, device.identity.device_id, version, PROPAGATION_LIMIT_S)
    active = state.current()
    assert active is not None
    assert active.mode == "door"
    assert active.index.subject_ids == (lin.subject_id,)
    assert dict(active.passes) == {}
    with pytest.raises(FaceModelUsed):  # a door device looks for faces again
        engine.process_frame(Frame(1, 0.0, frame))
