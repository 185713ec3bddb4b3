"""Motion gate: off on static frames, on with motion, held on while a track is alive."""

from __future__ import annotations

import numpy as np

from edge.motion import MotionGate


def _scene(shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
    image = np.ascontiguousarray(np.full((120, 160, 3), 90, dtype=np.uint8))
    image[30:90, 40 + shift : 100 + shift] = base[30:90, 40:100]
    return image


def test_static_frames_turn_the_gate_off_after_the_hold() -> None:
    gate = MotionGate(threshold=0.002, hold_frames=2)
    static = _scene()
    results = [gate.update(static) for _ in range(6)]
    assert results[0] is True  # no background yet: look once
    assert results[1:3] == [True, True]  # hold
    assert results[3:] == [False, False, False]


def test_motion_turns_it_on_and_tracks_keep_it_on() -> None:
    gate = MotionGate(threshold=0.002, hold_frames=0)
    gate.update(_scene())
    assert gate.update(_scene()) is False
    assert gate.update(_scene(shift=30)) is True
    assert gate.last_fraction > 0.002
    # the scene settles again, but a track is alive: detection keeps running
    for _ in range(30):
        gate.update(_scene(shift=30))
    assert gate.update(_scene(shift=30)) is False
    assert gate.update(_scene(shift=30), tracks_alive=True) is True


def test_sensor_noise_below_the_delta_is_not_motion() -> None:
    gate = MotionGate(threshold=0.01, pixel_delta=18, hold_frames=0)
    base = _scene().astype(np.int16)
    gate.update(base.astype(np.uint8))
    noise = np.random.default_rng(1).integers(-4, 5, size=base.shape)
    assert gate.update(np.clip(base + noise, 0, 255).astype(np.uint8)) is False


def _region(gate: MotionGate) -> tuple[float, float, float, float] | None:
    return gate.region  # read through a call: mypy keeps no narrowing across update()


def test_region_is_where_the_scene_changed() -> None:
    gate = MotionGate(threshold=0.002, hold_frames=1)
    gate.update(_scene())
    assert gate.region is None  # first frame: everything is new
    gate.update(_scene(shift=30))
    region = _region(gate)
    assert region is not None
    left, top, right, bottom = region
    # the patch moved from columns 40-100 to 70-130 of 160, rows 30-90 of 120 (blur widens it)
    assert 0.2 <= left <= 0.3
    assert 0.75 <= right <= 0.88
    assert 0.2 <= top <= 0.27
    assert 0.73 <= bottom <= 0.8
    gate.reset()
    assert gate.region is None
