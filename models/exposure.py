"""Expected false matches per 1,000 non-member visitors, read off a model's calibration.

The go-live gate and the console show this per store: how many of 1,000 people who are *not*
members would be matched to some member's card, at the store's number of members and in its
recognition mode. It comes from the open-set curve that ``vertrouwd models calibrate DIR
--gallery N ...`` measured at the calibration's own threshold and margin
(:class:`~models.calibration.OpenSetCalibration`):

* ``door``: the non-member false-match rate per passer-by at ``members``, interpolated linearly
  between the measured gallery sizes; below the smallest it falls linearly to 0 at 0 members
  (for small galleries the rate is about proportional to the number of members), above the
  largest the last segment is extended (the measured curve flattens as it grows, so a straight
  extension over-estimates rather than under-estimates).
* ``checkin``: the same rate, per 1,000 non-members who step onto the check-in spot (nobody
  else is looked at).
* ``pass+face``: 1:1 verification, the false-match rate that ``verify_threshold`` was set for,
  per 1,000 presentations of a member's pass by somebody else.
* ``pass``: no face is processed, so 0.

``None`` when the calibration holds no figure for that mode (no open-set curve, no 1:1 point).

The edge decides a walk-by from the mean of its frames at the track threshold the calibration
maps the frame threshold to (``Calibration.track_threshold``), chosen so that strangers'
walk-bys (LFW's mix: mostly one photo repeated, some of several photos) are matched no more
often than single frames, so the single-frame rate read here holds for that mix; strangers whose
frames differ as much as photos of different days are matched somewhat more often by the mean
(hardware.md, ``bench/track_vote.py``).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from models.calibration import Calibration

__all__ = ["MODES", "Mode", "expected_false_matches_per_1000"]

Mode = Literal["door", "checkin", "pass", "pass+face"]
"""The recognition modes of a store (the same names as ``consent.modes``; ``models`` imports no
other project package, so they are repeated here)."""
MODES: tuple[str, ...] = get_args(Mode)


def expected_false_matches_per_1000(
    calibration: Calibration, members: int, mode: Mode | str
) -> float | None:
    """Non-members matched to a member per 1,000 (see the module docstring for each mode)."""
    if mode not in MODES:
        raise ValueError(f"unknown recognition mode {mode!r}: one of {', '.join(MODES)}")
    if members < 0:
        raise ValueError("members must be >= 0")
    if mode == "pass":
        return 0.0
    if mode == "pass+face":
        if calibration.verify_target_fmr is None or calibration.verify_threshold is None:
            return None
        return 1000.0 * calibration.verify_target_fmr
    if members == 0:
        return 0.0
    open_set = calibration.open_set
    if open_set is None:
        return None
    points = sorted((p.gallery, p.fmr) for p in open_set.curve)
    sizes = [0.0, *(float(n) for n, _ in points)]
    rates = [0.0, *(f for _, f in points)]
    if members <= sizes[-1]:
        rate = float(np.interp(members, sizes, rates))
    else:
        slope = max(0.0, (rates[-1] - rates[-2]) / (sizes[-1] - sizes[-2]))
        rate = rates[-1] + slope * (members - sizes[-1])
    return round(1000.0 * min(1.0, rate), 3)
