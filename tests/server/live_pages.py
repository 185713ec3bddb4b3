"""Helpers for the page tests in a real browser: a live server whose ``public_url`` is its
own address (so the self-service link on a receipt opens in the same test), and sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from server.app import create_app
from server.runtime import Runtime
from server.serve import ServerThread
from server.settings import ServerSettings
from tests.server.conftest import PASSWORD


@contextmanager
def live_server(settings: ServerSettings, runtime: Runtime, port: int) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(settings, runtime=runtime), port=port)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


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
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)
