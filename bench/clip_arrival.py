"""The edge's default models on the first frames of the shared clip: which arrivals, at which frame.

    python bench/clip_arrival.py --faces ../shared/faces [--frames 100]

Enrols every person in ``people/`` with the edge's default detector and embedder (as the device
would receive them), runs the real engine over the clip's first frames in order (every frame, no
real-time dropping, so the result does not depend on the CPU's speed) and prints one line:

    clip_arrival: machine=x86_64 frames=100 detector=blazeface embedder=dlib_resnet_v1
        arrivals=alex_lacamoire@32,lin_manuel_miranda@89 scores=0.56,0.54

``deploy/aarch64-proof.sh`` (``make aarch64-proof``) runs it on this machine and in an arm64
Debian root file system under qemu user emulation, and compares the two ``arrivals=`` fields:
the same people at the same frames. Scores are printed rounded (kernels differ between CPUs).
Exit 1 when no member arrives (the proof would prove nothing).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.events import ArrivalEvent
from edge.matching import StaticGallery
from edge.model_choice import build_models
from edge.pipeline import Engine
from edge.settings import EdgeSettings
from models.images import load_image_file
from models.matcher import GalleryIndex
from models.types import FaceDetector, FaceEmbedder

CLIP = Path("video") / "short_hamilton_clip.mp4"


def enrol(people: Path, detector: FaceDetector, embedder: FaceEmbedder) -> GalleryIndex:
    """One template a photo, the subject id being the person's folder name."""
    ids: list[str] = []
    vectors: list[npt.NDArray[np.float32]] = []
    for folder in sorted(p for p in people.iterdir() if p.is_dir()):
        for photo in sorted(p for p in folder.iterdir() if p.is_file()):
            image = load_image_file(photo)
            boxes = detector.detect(image)
            if len(boxes) != 1:
                raise SystemExit(f"{photo}: expected one face, found {len(boxes)}")
            ids.append(folder.name)
            vectors.append(embedder.embed(image, boxes)[0].vector.astype(np.float32))
    return GalleryIndex.build(ids, np.stack(vectors), embedder.model_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    parser.add_argument("--frames", type=int, default=100, help="frames of the clip to process")
    args = parser.parse_args(argv)
    clip = args.faces / CLIP
    if not clip.is_file() or not (args.faces / "people").is_dir():
        print(f"clip_arrival: no faces at {args.faces} (people/ and {CLIP})", file=sys.stderr)
        return 2
    if args.frames < 1:
        print("clip_arrival: --frames must be at least 1", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="clip-arrival-") as data_dir:
        settings = EdgeSettings(source=str(clip), data_dir=Path(data_dir), realtime=False)
        detector, embedder = build_models(settings)
        index = enrol(args.faces / "people", detector, embedder)
        engine = Engine(
            settings, detector=detector, embedder=embedder, gallery=StaticGallery(index)
        )
        at_frame: list[tuple[ArrivalEvent, int]] = []

        def note(event: ArrivalEvent) -> None:
            at_frame.append((event, int(engine.metrics.snapshot()["frames_processed"])))

        engine.run_file(clip, realtime=False, max_frames=args.frames, on_arrival=note)
        processed = int(engine.metrics.snapshot()["frames_processed"])

    arrivals = ",".join(f"{e.subject_id}@{frame}" for e, frame in at_frame) or "none"
    scores = ",".join(f"{e.score:.2f}" for e, _ in at_frame) or "-"
    print(
        f"clip_arrival: machine={platform.machine()} frames={processed} "
        f"detector={detector.key} embedder={embedder.model_id} "
        f"arrivals={arrivals} scores={scores}"
    )
    return 0 if at_frame else 1


if __name__ == "__main__":
    raise SystemExit(main())
