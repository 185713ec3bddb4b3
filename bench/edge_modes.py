"""What each recognition mode costs the edge per frame, on the same deterministic scenes.

Ours: the engine in ``checkin`` mode (pixel presence gate, detection only while someone stands
in the spot) and in ``pass`` mode (OpenCV's QR detector on the spot, no face model). Peer,
measured in the same run on the same frames: the engine in ``door`` mode with the same zone
(detection on every frame with motion). Prints the median milliseconds per frame of each and
the ratio, plus the counters that show the privacy difference (frames detected, embeddings).

    PYTHONPATH=$PWD .venv/bin/python bench/edge_modes.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from consent.gallery import MemberZone
from consent.passes import new_pass_token, pass_digest
from edge.capture import Frame
from edge.matching import ActiveGallery, OperatingPoint
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from models.images import load_image_file
from models.matcher import GalleryIndex
from models.registry import create_detector, create_embedder
from models.types import FaceDetector, FaceEmbedder
from server.demo_scenes import SPOT, SPOT_MIN_FACE, Scene, checkin_scene, pass_scene

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "faces"
LIN = "lin_manuel_miranda/img1.png"
ZONE = MemberZone(*SPOT, min_face_size=SPOT_MIN_FACE)


def _index(detector: FaceDetector, embedder: FaceEmbedder) -> GalleryIndex:
    image = load_image_file(FACES / "people" / LIN)
    vector = embedder.embed(image, detector.detect(image))[0].vector
    return GalleryIndex.build(["subj-lin"], np.asarray([vector]), embedder.model_id)


def _run(
    scene: Scene, active: ActiveGallery, detector: FaceDetector, embedder: FaceEmbedder
) -> tuple[float, dict[str, float]]:
    class Provider:
        def current(self) -> ActiveGallery:
            return active

    clock = [0.0]
    engine = Engine(
        EdgeSettings(realtime=False),
        detector=detector,
        embedder=embedder,
        gallery=Provider(),
        point=OperatingPoint(threshold=0.6, min_margin=0.05),
        clock=lambda: clock[0],
    )
    started = time.perf_counter()
    for i, bgr in enumerate(scene.frames):
        clock[0] = i / 10
        engine.process_frame(Frame(i, 0.0, bgr))
    engine.finish()
    ms = (time.perf_counter() - started) * 1000 / len(scene.frames)
    return ms, engine.metrics.snapshot()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not (FACES / "people").is_dir():
        print(f"no face data at {FACES}", file=sys.stderr)
        return 2
    detector, embedder = create_detector("dlib_hog", upsample=1), create_embedder("dlib_resnet")
    detector.load()
    embedder.load()
    index = _index(detector, embedder)
    token = new_pass_token()
    checkin = checkin_scene(
        FACES, member=LIN, walkers=(LIN, "obama/obama.jpg", "rose_leslie/img1.jpg")
    )
    passes = pass_scene(FACES, [(LIN, token), ("obama/obama.jpg", new_pass_token())])
    empty = GalleryIndex.build([], np.zeros((0, index.dim), np.float32), index.model_id)
    cases = [
        ("check-in scene", checkin, ActiveGallery(index, 1, zone=ZONE, mode="checkin")),
        (
            "pass scene",
            passes,
            ActiveGallery(
                empty, 1, zone=ZONE, mode="pass", passes={pass_digest(token): "subj-lin"}
            ),
        ),
    ]
    print(f"{'scene':16} {'mode':8} {'ms/frame':>9} {'detected':>9} {'embeds':>7}  ratio")
    for label, scene, active in cases:
        door = ActiveGallery(index, 1, zone=ZONE, mode="door")
        ours, peer = [], []
        ours_m: dict[str, float] = {}
        peer_m: dict[str, float] = {}
        for _ in range(args.runs):
            ms, ours_m = _run(scene, active, detector, embedder)
            ours.append(ms)
            ms, peer_m = _run(scene, door, detector, embedder)
            peer.append(ms)
        o, p = statistics.median(ours), statistics.median(peer)
        for mode, ms, m in ((active.mode, o, ours_m), ("door", p, peer_m)):
            print(
                f"{label:16} {mode:8} {ms:9.2f} {m.get('frames_detected', 0):9.0f} "
                f"{m.get('embeddings', 0):7.0f}"
                + (f"  door/{active.mode} = {p / o:.1f}x" if mode != "door" else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
