"""``vertrouwd demo`` end to end: the door round on the real clip, then the check-in and pass
rounds on deterministic scenes, one summary line per mode (the door line first and unchanged in
names, the last line of the output a summary line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server import demo

pytestmark = [pytest.mark.faces, pytest.mark.slow]
FACES = Path(__file__).resolve().parents[1].parent / "shared" / "faces"


def test_the_demo_runs_every_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (FACES / "people").is_dir():
        pytest.skip(f"real face data not found at {FACES}")
    code = demo.main(["--faces", str(FACES), "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.strip().splitlines()
    summaries = [line for line in lines if re.match(r"^demo: mode=", line)]
    assert summaries == [
        "demo: mode=door 1 arrivals: Lin Manuel Miranda",
        "demo: mode=checkin 1 arrivals: Lin Manuel Miranda",
        "demo: mode=pass 3 arrivals: Rose Leslie, Kit Harington, Anna de Vries",
    ]
    assert lines[-1] == summaries[-1]
    # the scenes were written for the edge only into the demo's own folder
    assert sorted(p.name for p in (tmp_path / "scenes").iterdir()) == [
        "checkin-scene.avi",
        "pass-scene.avi",
    ]
