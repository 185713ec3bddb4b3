"""``/docs`` and ``/redoc`` run in a real browser from this server's own copies of their scripts
(no request leaves the server, no CSP violation), and production settings refuse a public URL
that is not https (the sign-in cookie would not be Secure)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from server.serve import ServerThread
from server.settings import ServerSettings

# the same on any database: documentation pages and settings
pytestmark = pytest.mark.db_agnostic

SECRET = "x" * 40


def test_docs_pages_load_only_local_assets(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert refs, path
        assert all(ref.startswith("/docs-assets/") for ref in refs), refs
        for ref in refs:
            assert client.get(ref).status_code == 200, ref
        nonce = re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"])
        assert nonce is not None
        inline = re.findall(r"<script([^>]*)>", r.text)
        assert all("src=" in attrs or nonce.group(1) in attrs for attrs in inline)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


@pytest.mark.browser
def test_docs_render_in_chromium_without_outside_requests(
    browser: Any, live: ServerThread, screenshot_dir: Path
) -> None:
    page = browser.new_context().new_page()
    outside: list[str] = []
    violations: list[str] = []
    # Anything fetched from elsewhere (a response arrived). ReDoc's sidebar asks for its
    # maker's logo on cdn.redoc.ly: the CSP (img-src 'self') refuses it, so it never loads.
    page.on(
        "response",
        lambda resp: (
            outside.append(resp.url)
            if not resp.url.startswith(live.base_url)
            and not resp.url.startswith(("data:", "blob:"))
            else None
        ),
    )
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{live.base_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('Vertrouwd')", timeout=60_000)
    page.wait_for_selector(".opblock-summary-path:has-text('/api/v1/auth/login')", timeout=60_000)
    page.screenshot(path=str(screenshot_dir / "docs-swagger.png"))
    page.goto(f"{live.base_url}/redoc")
    page.wait_for_selector("h1:has-text('Vertrouwd')", timeout=60_000)
    assert "/api/v1/auth/login" in page.content()  # rendered from the schema
    page.screenshot(path=str(screenshot_dir / "docs-redoc.png"))
    assert outside == []
    assert all("cdn.redoc.ly" in v for v in violations), violations


def test_production_refuses_a_public_url_without_https(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="https:// URL in production"):
        ServerSettings(
            environment="production",
            secret_key=SECRET,
            public_url="http://winkel.example",
            data_dir=tmp_path,
        )
    ok = ServerSettings(
        environment="production",
        secret_key=SECRET,
        public_url="https://winkel.example",
        data_dir=tmp_path,
    )
    assert ok.public_url == "https://winkel.example"
    # A self-service link must fit in 80 characters with the public URL.
    with pytest.raises(ValidationError, match="at most 54 characters"):
        ServerSettings(public_url="https://" + "a" * 50 + ".example", data_dir=tmp_path)
