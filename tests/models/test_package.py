"""Package rules: nothing heavy at import time (dependencies: tests/test_architecture.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import models

REPO = Path(__file__).resolve().parents[2]


def test_import_loads_no_backend() -> None:
    code = (
        "import sys, models\n"
        "print(sorted(m for m in ('dlib', 'cv2', 'face_recognition', 'onnxruntime')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_public_api_is_exported() -> None:
    for name in models.__all__:
        assert hasattr(models, name), name
    for verb in (
        "decode_image",
        "create_detector",
        "create_embedder",
        "load_calibration",
        "assess_face",
        "GalleryIndex",
    ):
        assert verb in models.__all__
