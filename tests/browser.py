"""Browser-test support: Debian's chromium driven by Playwright, a live in-process server, and
a folder for the screenshots each run saves (``test-artifacts/screenshots``).

Use: ``from tests.browser import *`` is not needed; fixtures are registered by
``tests/conftest.py`` via ``pytest_plugins``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: `make test` installs it (apt)")
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


AXE_REPORTS = REPO / "test-artifacts" / "axe"


def assert_accessible(page: Any, name: str) -> dict[str, int]:
    """axe-core (bundled by ``axe-playwright-python``) on the page as it stands: no critical and
    no serious violation. Writes the counts per impact and the violations to
    ``test-artifacts/axe/<name>.json`` (for the notes) and returns the counts."""
    import json

    from axe_playwright_python.sync_playwright import Axe

    # colours are measured as painted: let entrance animations (a card fading in) finish
    # (one awaited evaluate, not wait_for_function: that evaluates a string in the page, which
    # the pages' Content-Security-Policy refuses)
    page.evaluate(
        "() => Promise.all(document.getAnimations().filter(a => a.playState === 'running' && "
        "isFinite(a.effect?.getComputedTiming().endTime ?? Infinity)).map(a => a.finished))"
        ".then(() => true)"
    )
    violations = Axe().run(page).response["violations"]
    counts = dict.fromkeys(("critical", "serious", "moderate", "minor"), 0)
    for v in violations:
        counts[v.get("impact") or "minor"] = counts.get(v.get("impact") or "minor", 0) + 1
    AXE_REPORTS.mkdir(parents=True, exist_ok=True)
    (AXE_REPORTS / f"{name}.json").write_text(
        json.dumps({"url": page.url, "counts": counts, "violations": violations}, indent=1)
    )
    bad = [
        f"{v['impact']} {v['id']}: {v['help']} ({[n['target'] for n in v['nodes']][:3]})"
        for v in violations
        if v.get("impact") in ("critical", "serious")
    ]
    assert not bad, f"axe on {name} ({page.url}):\n" + "\n".join(bad)
    return counts
