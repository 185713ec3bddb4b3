"""``vertrouwd edge`` follows the mode in the signed gallery: in pass mode the device runs the
whole service (registration, sealed gallery, events) and never loads a face model; in check-in
mode it serves the kiosk on its health port and recognises the member who steps into the spot."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from consent.gallery import MemberZone
from consent.passes import new_pass_token, pass_digest
from edge.cli import run_edge
from edge.facemodels import FaceModels
from edge.health import render_prometheus
from edge.settings import EdgeSettings
from models.images import load_image_file
from server.demo_scenes import SPOT, SPOT_MIN_FACE, checkin_scene, pass_scene, write_video
from tests.edge.conftest import LIN, Models
from tests.edge.eventserver import free_port
from tests.edge.fakeserver import CODE, FakeServer


def test_pass_mode_device_sends_pass_arrivals_and_never_loads_a_face_model(
    edge_faces: Path, tmp_path: Path
) -> None:
    member, stranger = new_pass_token(), new_pass_token()
    scene = pass_scene(edge_faces, [("obama/obama.jpg", stranger), (LIN, member)])
    video = write_video(scene, tmp_path / "pass-scene.avi")
    server = FakeServer(tmp_path)
    server.mode = "pass"
    server.passes = {pass_digest(member): "subj-lin"}
    server.zone = MemberZone(*SPOT, min_face_size=SPOT_MIN_FACE)
    server.pending = {}  # a pass gallery carries no templates; sealed on the first poll
    seen: dict[str, Any] = {}

    def ready(parts: dict[str, Any]) -> None:
        seen.update(parts)

    settings = EdgeSettings(
        source=str(video), server_url="http://server.test", data_dir=tmp_path / "d", realtime=False
    )
    code = run_edge(
        settings, enrol_code=CODE, exit_at_end=True, client_factory=server.client, on_ready=ready
    )
    assert code == 0
    assert [(e["subject_id"], e["method"], e["face_verified"]) for e in server.events] == [
        ("subj-lin", "pass", None)
    ]
    assert server.events[0]["pass_digest"] == pass_digest(member)
    health = seen["health"]()
    assert health["mode"] == "pass"
    models: FaceModels = seen["face_models"]
    assert not models.loaded
    assert (models.detector.calls, models.embedder.calls) == (0, 0)
    values = seen["metrics"]()
    assert values["frames_processed"] == len(scene.frames)
    assert values.get("face_models_loaded", 0) == 0
    assert values.get("frames_detected", 0) == 0
    assert values.get("embeddings", 0) == 0
    assert values["passes_refused"] >= 1  # the stranger's pass is listed nowhere
    text = render_prometheus(values)
    assert "vertrouwd_edge_passes_read_total" in text
    assert "subj-lin" not in text


def test_checkin_mode_device_serves_its_kiosk_and_recognises_the_member_in_the_spot(
    edge_models: Models, edge_faces: Path, tmp_path: Path
) -> None:
    image = load_image_file(edge_faces / "people" / LIN)
    lin = edge_models.embedder.embed(image, edge_models.detector.detect(image))[0].vector
    scene = checkin_scene(
        edge_faces, member=LIN, walkers=(LIN, "obama/obama.jpg", "rose_leslie/img1.jpg")
    )
    video = write_video(scene, tmp_path / "checkin-scene.avi")
    server = FakeServer(tmp_path)
    server.mode = "checkin"
    server.zone = MemberZone(*SPOT, min_face_size=SPOT_MIN_FACE)
    server.pending = {"subj-lin": lin}
    seen: dict[str, Any] = {}

    def ready(parts: dict[str, Any]) -> None:
        url = parts["health_server"].url
        with urllib.request.urlopen(url + "/kiosk/state", timeout=10) as resp:
            seen["kiosk"] = json.loads(resp.read())
        with urllib.request.urlopen(url + "/kiosk", timeout=10) as resp:
            seen["page"] = resp.read().decode()
        seen.update(parts)

    settings = EdgeSettings(
        source=str(video),
        server_url="http://server.test",
        data_dir=tmp_path / "d",
        realtime=False,
        health_port=free_port(),
    )
    code = run_edge(
        settings, enrol_code=CODE, exit_at_end=True, client_factory=server.client, on_ready=ready
    )
    assert code == 0
    assert seen["kiosk"]["available"] is True
    assert "Check hier in" in seen["page"]
    assert [(e["subject_id"], e.get("method", "face")) for e in server.events] == [
        ("subj-lin", "face")
    ]
    assert seen["health"]()["mode"] == "checkin"
    assert seen["face_models"].loaded  # check-in needs them: loaded at start (fail fast)
