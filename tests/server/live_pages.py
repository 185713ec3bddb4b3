"""Helpers for the page tests in a real browser: sign-in and reading a QR code. The live server
itself is the ``live`` fixture (tests/server/conftest.py)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from tests.server.conftest import PASSWORD


def sign_in_register(page: Any, base: str, username: str = "cashier") -> None:
    page.goto(f"{base}/register")
    page.wait_for_selector("#login-view:not([hidden])")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def decode_qr(png: bytes) -> str:
    """The text of the QR code in a screenshot (OpenCV's detector)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    # The detector misses some codes at screen size (a module is 2-3 px): also try a white
    # quiet zone and nearest-neighbour enlargements, which keep the modules sharp.
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    _, sharp = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Two detectors: the classic one and the ArUco-based one (finds finder patterns another way).
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        for source in (image, sharp):  # as rendered, then without anti-aliasing
            framed = cv2.copyMakeBorder(
                source, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(255, 255, 255)
            )
            for scale in (1, 2, 3, 4):
                candidate = cv2.resize(
                    framed, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST
                )
                text, _points, _ = detector.detectAndDecode(candidate)
                if text:
                    return str(text)
    return ""
