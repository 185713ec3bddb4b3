"""Walk-by benchmark: the real edge, in real time, on store-camera resolutions and CPU budgets.

Videos are built here, deterministically, into a temporary directory (never committed): photos
from ``../shared/faces`` (``people/`` and ``scenes/``) pasted onto a fixed background, each
person approaching the door as a slow zoom (face from 40 to 160 px over 2 s), a pause of 0.8 s,
then gone; at 720p and 1080p, 10 and 25 frames/s. Four people are members (enrolled from their
*other* photo), two are not, and the last walker is a group photo holding two members already
seen and a passer-by who is in no folder. Expected: one arrival per member, nothing else.

Each video is played at its own frame rate through the threaded ``edge.pipeline.Pipeline``
with the edge's default models (``EdgeSettings()``), in a child process under a CPU budget:

* ``cores2``: the whole machine (2 cores here);
* ``core1``: pinned to one core (``sched_setaffinity``, as ``taskset -c 0``);
* ``core30``: pinned to one core and limited to 30 % of it by a cgroup CPU quota (v1
  ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, else v2 ``cpu.max``): roughly a Pi 4 core.
  Needs root; without a usable cgroup the run is reported as skipped, with the reason.

Each budget runs on two clocks (``--clock``):

* ``wall``: real time, the video paced at its frame rate through the threaded pipeline. On a
  shared machine the other processes' load decides these runs (a loaded core gives the edge a
  fraction of what the budget says), so they show what this machine did, not what a board does.
* ``cpu``: the edge's own CPU time as its clock (:func:`cpu_clock_child`): every frame is
  decoded, the engine takes the newest frame whenever it is free, and each step lasts its CPU
  time divided by the budget's share of one core (1.0 for ``core1``, 0.30 for ``core30``).
  Another process's load changes CPU time only a little (shared caches, the other hyperthread),
  so these runs show what the schedule does on a core of that speed. Not modelled: a quota's
  stalls (the cgroup gives 30 ms then nothing for 70 ms; here the core is uniformly slower), an
  ARM core's narrower SIMD, memory bandwidth, thermal throttling; ``cores2`` (one engine thread).

One line per run (wrapped here)::

    walkby: res=1080p fps_in=25 budget=core30 clock=cpu expected=4 arrived=4 missed=0 false=0
            p95_ms=... detect_ms=...

Before the runs at each resolution, one line ``detect: res=... cpu_ms_per_frame median/mean:
blazeface=... blazeface_every_frame=... dlib_hog=...``: the edge's detect/track stage alone,
pinned to one core, over every frame of the 10 fps video, its thread's CPU time a frame (so
other processes' load counts little), with the default schedule and two peers in the same run
(see :data:`SCHEDULES`), and how many zone faces each passed on to tracking.
``--detect-only`` prints just these lines.

``p95_ms``: from the release of the frame in which a member's face first reaches the zone's
minimum face size to that member's arrival leaving the pipeline. ``detect_ms``: mean detection
time per detected frame (motion gate skips excluded), in that run, under that budget (wall time
on the wall clock, CPU time on the CPU clock).
Exit status 1 when any run misses a member or reports a false arrival.

The machine these figures are taken on is shared: say so when quoting them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(REPO))

from edge.capture import Frame, FrameSource  # noqa: E402
from edge.events import ArrivalEvent  # noqa: E402
from edge.matching import StaticGallery  # noqa: E402
from edge.model_choice import build_models, create_settings_detector  # noqa: E402
from edge.pipeline import Engine, Pipeline  # noqa: E402
from edge.settings import EdgeSettings  # noqa: E402
from models.backends.dlib import DlibHogDetector  # noqa: E402
from models.images import load_image_file  # noqa: E402
from models.matcher import GalleryIndex  # noqa: E402
from models.types import FaceBox, RGBImage  # noqa: E402

RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080)}
BUDGETS = ("cores2", "core1", "core30")
CLOCKS = ("wall", "cpu")
CPU_SHARE = {"core1": 1.0, "core30": 0.30}
"""The budgets the CPU clock emulates (one core: the model is one engine thread)."""
MEMBERS = {  # identity -> (photo enrolled at the register, photo that walks by)
    "obama": ("obama/obama.jpg", "obama/obama2.jpg"),
    "rose_leslie": ("rose_leslie/img1.jpg", "rose_leslie/img2.jpg"),
    "kit_harington": ("kit_harington/john1.jpeg", "kit_harington/john2.jpeg"),
    "biden": ("biden/biden.jpg", "biden/biden2.jpg"),
}
NON_MEMBERS = ("alex_lacamoire/img1.jpg", "lin_manuel_miranda/img1.png")
GROUP = "scenes/obama_and_biden.jpg"  # obama and biden (already arrived) and a passer-by
FACE_FROM, FACE_TO = 40.0, 160.0
ZOOM_S, PAUSE_S, GAP_S = 2.0, 0.8, 0.4
MIN_FACE = 60
CPU_QUOTA = 0.30


# --- building the videos -----------------------------------------------------------------------


@dataclass
class Walker:
    label: str
    identity: str | None  # the member's identity, None for a non-member
    image: RGBImage
    faces: list[tuple[FaceBox, str | None]]  # boxes in ``image`` and who (None: not a member)


def _walkers(faces: Path, detector: DlibHogDetector) -> list[Walker]:
    out: list[Walker] = []
    people = faces / "people"
    order = [
        ("obama", MEMBERS["obama"][1]),
        (None, NON_MEMBERS[0]),
        ("rose_leslie", MEMBERS["rose_leslie"][1]),
        ("kit_harington", MEMBERS["kit_harington"][1]),
        (None, NON_MEMBERS[1]),
        ("biden", MEMBERS["biden"][1]),
    ]
    for identity, rel in order:
        image = load_image_file(people / rel)
        (box,) = detector.detect(image)
        out.append(Walker(rel, identity, image, [(box, identity)]))
    image = load_image_file(faces / GROUP)
    boxes = sorted(detector.detect(image), key=lambda b: b.left)
    if len(boxes) != 3:
        raise SystemExit(f"{GROUP}: expected 3 faces, found {len(boxes)}")
    # left to right in the photo: biden, obama, the passer-by (see shared/faces/README.md)
    out.append(Walker(GROUP, None, image, list(zip(boxes, ["biden", "obama", None], strict=True))))
    return out


def _background(width: int, height: int) -> RGBImage:
    rng = np.random.default_rng(20)
    noise = rng.integers(60, 190, (height // 8, width // 8, 3), dtype=np.uint8)
    big = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(0.8, 1.1, width, dtype=np.float32)[None, :, None]
    return np.asarray(np.clip(big.astype(np.float32) * ramp, 0, 255), dtype=np.uint8)


@dataclass
class Truth:
    """What a video holds: frames, and per member the first frame at >= MIN_FACE px."""

    frames: int
    fps: float
    first_in_zone: dict[str, int]


def build_video(path: Path, walkers: Sequence[Walker], size: tuple[int, int], fps: float) -> Truth:
    width, height = size
    background = _background(width, height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path} (OpenCV without an mp4v encoder?)")
    first: dict[str, int] = {}
    index = 0
    try:
        for n, walker in enumerate(walkers):
            main_box = max((b for b, _ in walker.faces), key=lambda b: b.width)
            # the crop around all faces, a face's width of margin each side
            m = main_box.width
            left = max(0, min(b.left for b, _ in walker.faces) - m)
            top = max(0, min(b.top for b, _ in walker.faces) - m)
            right = min(walker.image.shape[1], max(b.right for b, _ in walker.faces) + m)
            bottom = min(walker.image.shape[0], max(b.bottom for b, _ in walker.faces) + m)
            crop = walker.image[top:bottom, left:right]
            cx = width * (0.35 + 0.3 * ((n * 0.37) % 1.0))  # each walker comes in elsewhere
            cy = height * 0.45
            steps = round((ZOOM_S + PAUSE_S) * fps)
            for step in range(steps + round(GAP_S * fps)):
                frame = background.copy()
                if step < steps:
                    t = min(1.0, step / (ZOOM_S * fps))
                    face_px = FACE_FROM + (FACE_TO - FACE_FROM) * t
                    f = face_px / main_box.width
                    w, h = max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))
                    if w < width and h < height:
                        small = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
                        x0 = int(np.clip(cx - w / 2 + 30 * t, 0, width - w))
                        y0 = int(np.clip(cy - h / 2, 0, height - h))
                        frame[y0 : y0 + h, x0 : x0 + w] = small
                        for box, who in walker.faces:
                            if who is not None and box.width * f >= MIN_FACE:
                                first.setdefault(who, index)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                index += 1
    finally:
        writer.release()
    return Truth(index, fps, first)


# --- one run, in a child process under a CPU budget ------------------------------------------


class _RecordingSource(FrameSource):
    """A paced file source that notes when each frame was released (monotonic clock)."""

    def __init__(self, source: str) -> None:
        super().__init__(source, reconnect=False, pace=True)
        self.released: dict[int, float] = {}

    def frames(self) -> Generator[Frame, None, None]:
        for frame in super().frames():
            self.released[frame.index] = frame.timestamp
            yield frame


class _TimedSink:
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, ArrivalEvent]] = []

    def put(self, event: ArrivalEvent) -> None:
        self.arrivals.append((time.monotonic(), event))


def _engine_for(video: Path, faces: Path, data_dir: Path, clock: Any = time.monotonic) -> Engine:
    """The edge's default engine with the four members enrolled from their *other* photo."""
    settings = EdgeSettings(source=str(video), data_dir=data_dir, realtime=True)
    detector, embedder = build_models(settings)
    enrol = DlibHogDetector(upsample=1)  # as the server enrols
    ids, vectors = [], []
    for identity, (photo, _) in MEMBERS.items():
        image = load_image_file(faces / "people" / photo)
        boxes = enrol.detect(image)
        vectors.append(embedder.embed(image, boxes)[0].vector)
        ids.append(identity)
    index = GalleryIndex.build(ids, np.stack(vectors), embedder.model_id)
    gallery = StaticGallery(index)
    return Engine(settings, detector=detector, embedder=embedder, gallery=gallery, clock=clock)


def run_child(video: Path, faces: Path, data_dir: Path) -> dict[str, Any]:
    """Enrol the members, play ``video`` through the edge in real time; what happened."""
    engine = _engine_for(video, faces, data_dir)
    source = _RecordingSource(str(video))
    sink = _TimedSink()
    pipeline = Pipeline(engine, source, sink, realtime=True)
    pipeline.start()
    try:
        if not pipeline.wait(timeout=600):
            raise SystemExit("the pipeline did not finish the video within 600 s")
    finally:
        pipeline.shutdown()
    m = engine.metrics.snapshot()
    detected = max(1.0, m.get("frames_detected", 0.0))
    return {
        "arrivals": [[t, e.subject_id] for t, e in sink.arrivals],
        "released": {str(k): v for k, v in source.released.items()},
        "detect_ms": 1000 * m.get("stage_seconds_detect", 0.0) / detected,
        "frames_processed": m.get("frames_processed", 0.0),
        "frames_detected": m.get("frames_detected", 0.0),
        "frames_dropped": float(pipeline.frames_dropped),
        "embeddings": m.get("embeddings", 0.0),
    }


def cpu_clock_child(video: Path, faces: Path, data_dir: Path, share: float) -> dict[str, Any]:
    """The edge on ``video`` as a camera feeding one core of which it gets ``share``, on a
    clock made of its own CPU time, so the machine's other load barely counts.

    Frame ``i`` is released at ``i / fps``. Every frame is decoded (the capture stage never
    skips one), and its decoding CPU time, divided by ``share``, delays whatever the engine is
    doing then, as a decoding thread on the same core would. When the engine is free it takes
    the newest decoded frame (the realtime ``LatestFrameSlot``: older ones are dropped) and
    runs detect/track and embed/match on it in this thread; that CPU time divided by ``share``
    is how long the frame keeps it busy. An arrival leaves when the frame that confirmed it is
    done. The engine's own clock (confirmation windows, cooldown) reads this virtual time.
    CPU time is the process's (onnxruntime's worker threads included), pinned to one core.
    """
    now = [0.0]
    engine = _engine_for(video, faces, data_dir, clock=lambda: now[0])
    capture = cv2.VideoCapture(str(video))
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or 25.0
    released: dict[str, float] = {}
    arrivals: list[list[Any]] = []
    free_at = 0.0  # when the engine is next free
    waiting: tuple[Frame, float] | None = None  # newest decoded frame, when it was ready
    processed = dropped = 0
    cpu_decode = cpu_engine = cpu_detect = 0.0

    def run(frame: Frame, start: float) -> float:
        nonlocal processed, cpu_engine
        nonlocal cpu_detect
        now[0] = start
        c0 = time.process_time()
        job = engine.detect_stage.process(frame)  # Engine.process_frame, its stages timed
        c1 = time.process_time()
        events = [] if job is None else [*job.arrivals, *engine.match_stage.process(job)]
        cost = time.process_time() - c0
        cpu_detect += c1 - c0
        cpu_engine += cost
        processed += 1
        end = start + cost / share
        arrivals.extend([end, e.subject_id] for e in events)
        return end

    index = 0
    while True:
        c0 = time.process_time()
        ok, bgr = capture.read()
        cost = time.process_time() - c0
        if not ok:
            break
        cpu_decode += cost
        t = index / fps
        released[str(index)] = t
        while waiting is not None and max(free_at, waiting[1]) <= t:
            frame, ready = waiting
            waiting = None
            free_at = run(frame, max(free_at, ready))
        if free_at > t:  # decoding this frame takes the core from the engine for a while
            free_at += cost / share
        if waiting is not None:
            dropped += 1
        waiting = (Frame(index=index, timestamp=t, bgr=np.asarray(bgr, np.uint8)), t + cost / share)
        index += 1
    capture.release()
    if waiting is not None:
        free_at = run(waiting[0], max(free_at, waiting[1]))
    now[0] = free_at
    arrivals.extend([free_at, e.subject_id] for e in engine.finish())
    m = engine.metrics.snapshot()
    detected = max(1.0, m.get("frames_detected", 0.0))
    return {
        "arrivals": arrivals,
        "released": released,
        "detect_ms": 1000 * cpu_detect / detected,  # CPU time, as everything on this clock
        "frames_processed": float(processed),
        "frames_detected": m.get("frames_detected", 0.0),
        "frames_dropped": float(dropped),
        "embeddings": m.get("embeddings", 0.0),
        "cpu_ms_decode": 1000 * cpu_decode / max(index, 1),
        "cpu_ms_engine": 1000 * cpu_engine / max(processed, 1),
    }


SCHEDULES = ("blazeface", "blazeface_every_frame", "dlib_hog")
"""The detect stage's schedules measured per frame: the default (whole zone every
``detect_full_every`` frames; between, windows around tracked faces, else the part of the zone
that moved), the previous one (BlazeFace on the whole zone on every frame) and dlib HOG (the old
default, whole zone every frame)."""


def detect_child(video: Path) -> dict[str, Any]:
    """The edge's detect/track stage (motion gate, zone, detection, tracker) over every frame of
    ``video`` with each schedule in :data:`SCHEDULES`; its CPU time a frame (this thread's, so
    other processes' load does not count) and how many zone faces it passed on."""
    from edge.metrics import EngineMetrics
    from edge.pipeline import DetectStage

    gallery = StaticGallery(GalleryIndex.build(["nobody"], np.ones((1, 128), np.float32), "x"))
    out: dict[str, Any] = {}
    for name in SCHEDULES:
        if name == "dlib_hog":
            settings = EdgeSettings(detector="dlib_hog", detect_full_every=1)
        elif name == "blazeface_every_frame":
            settings = EdgeSettings(detector="blazeface", detect_full_every=1)
        else:
            settings = EdgeSettings(detector="blazeface")
        detector = create_settings_detector(settings)
        detector.load()
        metrics = EngineMetrics()
        stage = DetectStage(settings, detector, gallery, metrics, queue.SimpleQueue())
        per_frame: list[float] = []
        for frame in FrameSource(str(video), reconnect=False).frames():
            started = time.thread_time()  # decoding is not counted, only the stage
            stage.process(frame)
            per_frame.append(time.thread_time() - started)
        out["frames"] = len(per_frame)
        m = metrics.snapshot()
        out[name] = {
            "median_ms": 1000 * float(np.median(per_frame)),
            "mean_ms": 1000 * float(np.mean(per_frame)),
            "p90_ms": 1000 * float(np.percentile(per_frame, 90)),
            "faces_in_zone": m.get("faces_in_zone", 0.0),
            "frames_windows": m.get("frames_detected_windows", 0.0),
            "frames_motion": m.get("frames_detected_motion", 0.0),
            "frames_detected": m.get("frames_detected", 0.0),
        }
    return out


# --- budgets -----------------------------------------------------------------------------------


class Budget:
    """How a child is confined: CPU affinity and, for core30, a cgroup with a CPU quota."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cgroup: Path | None = None
        self.procs_file: Path | None = None
        self.problem: str | None = None
        if name == "core30":
            self._make_cgroup()

    def _make_cgroup(self) -> None:
        tag = f"vertrouwd-walkby-{os.getpid()}"
        period = 100_000
        v1 = Path("/sys/fs/cgroup/cpu")
        v2 = Path("/sys/fs/cgroup")
        try:
            if (v1 / "cpu.cfs_quota_us").exists():
                group = v1 / tag
                group.mkdir(exist_ok=True)
                (group / "cpu.cfs_period_us").write_text(str(period))
                (group / "cpu.cfs_quota_us").write_text(str(int(period * CPU_QUOTA)))
                self.cgroup, self.procs_file = group, group / "cgroup.procs"
            elif (v2 / "cgroup.controllers").exists():
                group = v2 / tag
                group.mkdir(exist_ok=True)
                (group / "cpu.max").write_text(f"{int(period * CPU_QUOTA)} {period}")
                self.cgroup, self.procs_file = group, group / "cgroup.procs"
            else:
                self.problem = "no cgroup CPU controller found (v1 cpu or v2 cpu.max)"
        except OSError as exc:
            self.problem = f"cannot set a cgroup CPU quota: {exc} (needs root)"

    def preexec(self) -> None:
        """Runs in the child before exec: confine it."""
        if self.name in ("core1", "core30"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        if self.procs_file is not None:
            self.procs_file.write_text(str(os.getpid()))

    def close(self) -> None:
        if self.cgroup is not None:
            with contextlib.suppress(OSError):  # a child still in it: left for the OS
                self.cgroup.rmdir()


def run_under(
    budget: Budget,
    video: Path,
    faces: Path,
    scratch: Path,
    *,
    detect: bool = False,
    cpu_share: float | None = None,
) -> dict[str, Any]:
    out = scratch / f"result-{time.monotonic_ns()}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(video),
        "--faces",
        str(faces),
        "--result",
        str(out),
        *(["--detect-child"] if detect else []),
        *(["--cpu-share", str(cpu_share)] if cpu_share is not None else []),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, preexec_fn=budget.preexec, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the edge run failed under {budget.name} (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def score(truth: Truth, result: dict[str, Any]) -> tuple[int, int, int, list[float]]:
    """(arrived, missed, false, latencies in seconds) of one run against the truth."""
    released = {int(k): float(v) for k, v in result["released"].items()}
    seen: dict[str, float] = {}
    false = 0
    for t, who in result["arrivals"]:
        if who in truth.first_in_zone and who not in seen:
            seen[who] = float(t)
        else:
            false += 1
    latencies = []
    for who, at in seen.items():
        start = released.get(truth.first_in_zone[who])
        if start is not None:
            latencies.append(max(0.0, at - start))
    missed = len(truth.first_in_zone) - len(seen)
    return len(seen), missed, false, latencies


def print_detect(res: str, d: dict[str, Any]) -> None:
    """One ``detect:`` line: the default schedule's CPU time a frame against its peers."""
    now, every, hog = (d[name] for name in SCHEDULES)
    print(
        f"detect: res={res} budget=core1 frames={d['frames']} cpu_ms_per_frame median/mean: "
        f"blazeface={now['median_ms']:.1f}/{now['mean_ms']:.1f} "
        f"blazeface_every_frame={every['median_ms']:.1f}/{every['mean_ms']:.1f} "
        f"dlib_hog={hog['median_ms']:.1f}/{hog['mean_ms']:.1f} "
        f"every_frame_vs_now={every['mean_ms'] / max(now['mean_ms'], 1e-9):.1f} "
        f"hog_vs_now={hog['mean_ms'] / max(now['mean_ms'], 1e-9):.1f} "
        f"zone_faces now/every_frame/hog={now['faces_in_zone']:.0f}/"
        f"{every['faces_in_zone']:.0f}/{hog['faces_in_zone']:.0f} "
        f"(of {now['frames_detected']:.0f} frames: track windows on {now['frames_windows']:.0f}, "
        f"the moving part on {now['frames_motion']:.0f})",
        flush=True,
    )


def run_budget(
    args: argparse.Namespace,
    truth: Truth,
    video: Path,
    scratch: Path,
    res: str,
    fps: float,
    name: str,
    clock: str,
) -> bool:
    """The ``walkby:`` lines of one budget and clock; True when a run missed or added one."""
    failed = False
    budget = Budget(name if clock == "wall" else "core1")  # the CPU clock: pinned, no quota
    try:
        if budget.problem is not None:
            print(f"walkby: res={res} fps_in={fps:g} budget={name} clock={clock} skipped: "
                  f"{budget.problem}")  # fmt: skip
            return False
        share = CPU_SHARE[name] if clock == "cpu" else None
        for _ in range(args.repeat):
            result = run_under(budget, video, args.faces, scratch, cpu_share=share)
            arrived, missed, false, lat = score(truth, result)
            p95 = f"{np.percentile(lat, 95) * 1000:.0f}" if lat else "none"
            cpu = (
                f", cpu_ms decode {result['cpu_ms_decode']:.1f}/frame engine "
                f"{result['cpu_ms_engine']:.1f}/processed frame"
                if clock == "cpu"
                else ""
            )
            print(
                f"walkby: res={res} fps_in={fps:g} budget={name} clock={clock} "
                f"expected={len(truth.first_in_zone)} arrived={arrived} "
                f"missed={missed} false={false} p95_ms={p95} "
                f"detect_ms={result['detect_ms']:.1f} "
                f"(processed {result['frames_processed']:.0f}/{truth.frames}, "
                f"embeddings {result['embeddings']:.0f}{cpu})",
                flush=True,
            )
            failed = failed or missed > 0 or false > 0
    finally:
        budget.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument("--res", nargs="+", default=list(RESOLUTIONS), choices=list(RESOLUTIONS))
    parser.add_argument("--fps", nargs="+", type=float, default=[10.0, 25.0])
    parser.add_argument("--budget", nargs="+", default=list(BUDGETS), choices=BUDGETS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration")
    parser.add_argument(
        "--detect-only", action="store_true", help="only the detect: lines (no walk-by runs)"
    )
    parser.add_argument(
        "--no-detect", action="store_true", help="no detect: lines (they take long at 1080p)"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--detect-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu-share", type=float, help=argparse.SUPPRESS)
    parser.add_argument(
        "--clock",
        nargs="+",
        default=list(CLOCKS),
        choices=CLOCKS,
        help="wall: real time under the budget; cpu: a clock of the edge's own CPU time "
        "(one core, or 30 %% of one), which the machine's other load barely changes",
    )
    args = parser.parse_args(argv)

    if args.child is not None:
        with tempfile.TemporaryDirectory(prefix="walkby-edge-") as data:
            if args.detect_child:
                result = detect_child(args.child)
            elif args.cpu_share is not None:
                result = cpu_clock_child(args.child, args.faces, Path(data), args.cpu_share)
            else:
                result = run_child(args.child, args.faces, Path(data))
        args.result.write_text(json.dumps(result))
        return 0

    if not (args.faces / "people").is_dir():
        print(f"error: {args.faces}/people not found (see ../shared/faces)", file=sys.stderr)
        return 2
    failed = False
    with tempfile.TemporaryDirectory(prefix="walkby-") as tmp:
        scratch = Path(tmp)
        walkers = _walkers(args.faces, DlibHogDetector(upsample=1))
        print(
            f"walkby: {len(walkers)} walkers ({len(MEMBERS)} members, {len(NON_MEMBERS)} "
            f"non-members, a group with a passer-by); face {FACE_FROM:g}->{FACE_TO:g} px over "
            f"{ZOOM_S:g} s, pause {PAUSE_S:g} s; min_face_size {MIN_FACE}; edge defaults "
            f"{EdgeSettings().detector} + {EdgeSettings().embedder}; load average at start "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        for res in args.res:
            for fps in args.fps:
                video = scratch / f"walkby-{res}-{fps:g}.mp4"
                truth = build_video(video, walkers, RESOLUTIONS[res], fps)
                if fps == args.fps[0] and not args.no_detect:
                    print_detect(res, run_under(Budget("core1"), video, args.faces, scratch,
                                                detect=True))  # fmt: skip
                for name in [] if args.detect_only else args.budget:
                    for clock in args.clock:
                        if clock == "cpu" and name not in CPU_SHARE:
                            continue
                        failed = (
                            run_budget(args, truth, video, scratch, res, fps, name, clock) or failed
                        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
