"""The CLI: clear errors with non-zero exits, and one end-to-end run on the real clip against
an in-process fake server (registration, sealed gallery, ack, one arrival event)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main, run_edge
from edge.health import render_prometheus
from edge.settings import EdgeSettings
from models.images import load_image_file
from tests.edge.conftest import LIN, Models
from tests.edge.fakeserver import CODE, FakeServer


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreadable_source_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["edge", "--source", str(tmp_path / "missing.mp4"), "--server", "http://127.0.0.1:9"]
    )
    assert code == 2
    assert "not a readable file" in capsys.readouterr().err


def test_garbage_file_is_not_a_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    assert main(["--source", str(bad), "--server", "http://127.0.0.1:9"]) == 2
    assert "cannot open video source" in capsys.readouterr().err


def test_bad_settings_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source", "0", "--server", "ftp://nope"]) == 2
    assert "server_url" in capsys.readouterr().err


def test_unregistered_device_without_code_exits_2(
    edge_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--source", str(edge_clip), "--server", "http://x.test", "--data-dir", str(tmp_path)]
    )
    assert code == 2
    assert "--enrol-code" in capsys.readouterr().err


def test_unreachable_server_at_registration_exits_3(
    edge_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--source",
            str(edge_clip),
            "--server",
            f"http://127.0.0.1:{_closed_port()}",
            "--enrol-code",
            CODE,
            "--data-dir",
            str(tmp_path / "d"),
        ]
    )
    assert code == 3
    assert "cannot reach the server" in capsys.readouterr().err


def test_end_to_end_on_the_clip_with_a_fake_server(
    edge_models: Models,
    edge_faces: Path,
    edge_clip: Path,
    tmp_path: Path,
    default_models: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At the default models (BlazeFace, dlib's network as ONNX) against a gallery made by
    dlib (as the server makes it): the same model id, the same embeddings."""
    image = load_image_file(edge_faces / "people" / LIN)
    lin = edge_models.embedder.embed(image, edge_models.detector.detect(image))[0].vector
    server = FakeServer(tmp_path)
    server.pending = {"subj-lin": lin, "subj-other": -lin}  # sealed on the first poll
    data = tmp_path / "data"
    seen: dict[str, Any] = {}

    def ready(parts: dict[str, Any]) -> None:
        seen.update(parts["health"]())
        seen["metrics_fn"] = parts["metrics"]
        seen["health_fn"] = parts["health"]

    settings = EdgeSettings(
        source=str(edge_clip), server_url="http://server.test", data_dir=data, realtime=False
    )
    assert (settings.detector, settings.embedder) == ("blazeface", "onnx")
    with caplog.at_level(logging.INFO, logger="edge"):
        code = run_edge(
            settings,
            enrol_code=CODE,
            max_frames=120,
            exit_at_end=True,
            client_factory=server.client,
            on_ready=ready,
        )
    assert code == 0
    # the end of the file source: one summary line of counts and stage times (issue 16)
    ended = [r.getMessage() for r in caplog.records if r.getMessage().startswith("source ended")]
    assert len(ended) == 1
    assert "frames 120 of 120 read" in ended[0]
    assert "arrivals 1" in ended[0]
    arrived = [r.getMessage() for r in caplog.records if r.getMessage().startswith("arrival:")]
    assert len(arrived) == 1
    assert "subject subj-lin score" in arrived[0]
    assert seen["matching"] is True
    assert seen["gallery_version"] == 1
    assert server.acks == [1]
    assert [e["subject_id"] for e in server.events] == ["subj-lin"]
    event = server.events[0]
    assert event["kind"] == "arrival"
    assert isinstance(event["frames"], int)
    assert event["frames"] >= settings.confirm_min_frames  # the mean of 2 or more
    # the device wrote its identity, keys and the sealed gallery, and nothing else
    # /metrics: fps, per-stage time, queue lag, gallery version and age, last server contact
    text = render_prometheus(seen["metrics_fn"]())
    values = {
        line.split(" ")[0]: float(line.split(" ")[-1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["vertrouwd_edge_fps"] > 0
    assert values["vertrouwd_edge_frames_processed_total"] == 120
    assert values["vertrouwd_edge_faces_in_zone_total"] > 0
    for stage in ("capture", "motion", "detect", "track", "embed", "match"):
        assert values[f'vertrouwd_edge_stage_seconds_total{{stage="{stage}"}}'] > 0, stage
    assert "vertrouwd_edge_queue_lag_seconds" in values
    assert values["vertrouwd_edge_gallery_version"] == 1
    assert 0 <= values["vertrouwd_edge_gallery_age_seconds"] < 600
    assert values["vertrouwd_edge_last_server_contact_timestamp_seconds"] > 1.7e9
    assert values["vertrouwd_edge_arrivals_sent_total"] == 1
    assert "subj-lin" not in text
    health = seen["health_fn"]()
    assert health["last_server_contact"] is not None
    assert health["gallery_age_s"] is not None
    assert sorted(p.name for p in data.iterdir()) == [
        "device.json",
        "device.key",
        "device.pub",
        "gallery.sealed",
    ]
