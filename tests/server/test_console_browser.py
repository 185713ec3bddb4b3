"""The privacy officer's console in a real browser (Debian chromium via Playwright) against a
live in-process server: sign in, find a customer's consent history, verify the audit chain when
it is clean (intact) and after an entry was edited in the database (the bad entry is shown),
download an export and the Art. 30 record (parsed), record an incident's outcome, revoke a
device, take a store live; then the public /privacy page and the entrance sign as an image.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from server.db.audit import AuditEntry, AuditVerification
from server.db.recognition import EdgeDevice, Incident, StoreMode, StoreZone
from server.db.stores import Store
from server.runtime import Runtime
from server.serve import ServerThread
from server.settings import ServerSettings
from tests.server.conftest import PASSWORD, StoreFixture
from tests.server.console_world import OFFICER, World, add_history, build_world
from tests.server.live_pages import decode_qr

# the world is in the database before the live server starts
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("world")]
DESK = {"width": 1280, "height": 900}


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(
        update={
            "privacy_contact": "privacy@vertrouwd.example",
            "controller_name": "Vertrouwd Retail B.V.",
        }
    )


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    add_history(runtime, store)
    return build_world(runtime, store)


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/console")
    page.wait_for_selector("#login")
    page.fill("#username", OFFICER)
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("nav.side")


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / name), full_page=True)


def test_the_officer_audits_in_the_browser(
    browser: Any,
    runtime: Runtime,
    world: World,
    live: ServerThread,
    screenshot_dir: Path,
    tmp_path: Path,
) -> None:
    base = live.base_url
    page = browser.new_context(viewport=DESK, accept_downloads=True).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # JavaScript errors and CSP refusals ("Refused to ..."); a 401 sign-in page or a missing
    # favicon is not an error of the page
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )

    # -- sign in: the overview ------------------------------------------------------------
    sign_in(page, base)
    assert "Officer · privacy officer" in page.inner_text("#who")
    # local time: the side note names the zone, and times carry CET or CEST, never UTC
    assert "Times are local: Europe/Amsterdam (CET/CEST)" in page.inner_text("#zone-note")
    assert page.locator("svg.chart").count() == 4
    shot(page, screenshot_dir, "console-overview.png")

    # -- find a customer and open her consent history ------------------------------------
    page.click("nav.side >> text=Consent log")
    page.fill("#customer", "anna")
    page.click("#consent-filters button[type=submit]")
    page.wait_for_selector("#consents")
    rows = page.locator("#consents tbody tr")
    assert rows.count() == 2
    assert page.locator("#consents").inner_text().count("Anna de Vries") == 2
    shot(page, screenshot_dir, "console-consents.png")
    page.locator("#consents tbody tr", has_text="active").locator("text=History").click()
    page.wait_for_selector("#timeline")
    timeline = page.inner_text("#timeline")
    assert "Consent renewed" in timeline
    assert "Profile opened by staff" in timeline
    assert "Anna de Vries" in page.inner_text("#consent-head")
    shot(page, screenshot_dir, "console-consent-history.png")

    # -- verify the audit chain: clean ---------------------------------------------------
    page.click("nav.side >> text=Audit chain")
    assert page.get_attribute("#chain-status", "data-state") == "never"
    page.click("#verify-now")
    page.wait_for_selector("#chain-status[data-state=ok]")
    assert "Intact" in page.inner_text("#chain-status")
    assert "Verification finished" in page.inner_text("#flash")
    shot(page, screenshot_dir, "console-audit-ok.png")

    # -- someone edits Bram's withdrawal in the database; verify again -------------------
    with runtime.sessions() as session:
        seq = session.scalars(
            select(AuditEntry.seq).where(AuditEntry.kind == "consent.withdrawn")
        ).first()
    with runtime.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = :seq"), {"seq": seq}
        )
    page.click("#verify-now")
    page.wait_for_selector("#chain-status[data-state=bad]")
    assert f"Broken at entry {seq}" in page.inner_text("#chain-status")
    bad = page.inner_text("#bad-entry")
    assert f"First bad entry: #{seq}" in bad
    assert "staff:mallory" in bad
    assert "changed after it was written" in bad
    assert page.locator("#bad-entry code.mismatch").count() == 1
    page.locator("#bad-entry").scroll_into_view_if_needed()
    shot(page, screenshot_dir, "console-audit-bad.png")
    with runtime.sessions() as session:
        runs = [r.ok for r in session.scalars(select(AuditVerification))]
    assert runs == [True, False]

    # -- download an export and parse it ---------------------------------------------------
    page.click("nav.side >> text=Consent log")
    with page.expect_download() as download:
        page.click("a[data-export=consents-csv]")
    csv_path = Path(download.value.path())
    assert download.value.suggested_filename.startswith("vertrouwd-consents-")
    exported = list(csv.DictReader(io.StringIO(csv_path.read_text("utf-8-sig"))))
    names = {r["customer_name"] for r in exported}
    assert {"Anna de Vries", "Bram Bakker", "Dirk Smit"} <= names
    assert {r["status"] for r in exported} >= {"active", "withdrawn", "erased", "renewed"}
    assert all(r["given_at"].endswith("+00:00") for r in exported)  # exports: UTC, explicit
    page.click("nav.side >> text=Deletion proofs")
    with page.expect_download() as download:
        page.click("a[data-export=deletions-json]")
    doc = json.loads(Path(download.value.path()).read_text())
    assert doc["view"] == "deletions"
    assert {r["kind"] for r in doc["rows"]} == {"withdrawn", "erased", "expired"}
    assert "not confirmed yet" in page.inner_text("main")
    shot(page, screenshot_dir, "console-deletions.png")

    # -- the Art. 30 record: PDF and Markdown --------------------------------------------
    page.click("nav.side >> text=Art. 30 record")
    assert "In-store recognition and personalised service" in page.inner_text("#ropa")
    shot(page, screenshot_dir, "console-ropa.png")
    with page.expect_download() as download:
        page.click("#ropa-pdf")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        plain = subprocess.run(
            ["pdftotext", str(download.value.path()), "-"], capture_output=True, check=True
        ).stdout.decode()
        assert "In-store recognition and personalised service" in " ".join(plain.split())
    if shutil.which("pdftoppm"):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(download.value.path()),
                str(screenshot_dir / "art30-page1"),
            ],
            check=True,
        )
    with page.expect_download() as download:
        page.click("#ropa-md")
    md = Path(download.value.path()).read_text()
    assert md.startswith("# Record of processing activities (GDPR Art. 30)")
    assert "Vertrouwd Retail B.V." in md

    # -- staff access ---------------------------------------------------------------------
    page.click("nav.side >> text=Staff access")
    flags = page.inner_text("#flags")
    assert "No arrival" in flags
    assert "refused access 5 times" in flags
    assert "Safari on iPad" in page.inner_text("#access")
    assert re.search(r"\d{4} \d{2}:\d{2}:\d{2} CES?T\b", page.inner_text("#access"))
    assert not re.search(r"\d{2}:\d{2}(:\d{2})? UTC", page.inner_text("main"))
    shot(page, screenshot_dir, "console-access.png")

    # -- an incident's outcome -------------------------------------------------------------
    page.click("nav.side >> text=Incidents")
    card = page.locator(f"#incident-{world.incident_id}")
    assert "entrance left" in card.inner_text()
    card.locator("input[value=confirmed]").check()
    card.locator("textarea").fill("A look-alike; the member was not in the store.")
    card.locator("button[type=submit]").click()
    page.wait_for_selector(f"#incident-{world.incident_id}[data-outcome=confirmed]")
    assert "recorded" in page.inner_text("#flash")
    with runtime.sessions() as session:
        incident = session.get(Incident, world.incident_id)
        assert incident is not None
        assert (incident.outcome, incident.resolved_by) == ("confirmed", OFFICER)
    shot(page, screenshot_dir, "console-incidents.png")

    # -- devices: revoke the one that never confirmed ------------------------------------
    page.click("nav.side >> text=Devices")
    assert page.locator("#devices tbody tr").count() == 2
    shot(page, screenshot_dir, "console-devices.png")
    page.once("dialog", lambda d: d.accept())
    page.locator(f"tr[data-device='{world.device_late}'] button").click()
    page.wait_for_selector(f"tr[data-device='{world.device_late}'].dev-revoked")
    with runtime.sessions() as session:
        device = session.get(EdgeDevice, world.device_late)
        assert device is not None
        assert device.revoked_at is not None

    # -- take the second store live through the gate -------------------------------------
    page.click("nav.side >> text=Stores & go-live")
    form = page.locator("#store-amsterdam form.go-live")
    form.locator("button[type=submit]").click()  # the browser refuses: signage not ticked
    assert page.get_attribute("#store-amsterdam", "data-live") == "false"
    form.locator("input[name=signage_confirmed]").check()
    form.locator("input[name=dpia_reference]").fill("DPIA-2026-031")
    form.locator("input[name='zone.x']").fill("25")
    form.locator("input[name='zone.w']").fill("50")
    form.locator("input[name='zone.min_face_size']").fill("96")
    assert page.get_attribute("#store-amsterdam .zone-rect", "width") == "80.0"  # live preview
    # the recognition mode: picking "door" shows the legal position and asks for the
    # acknowledgement; the browser refuses to submit without it
    legal = form.locator("[data-door-legal]")
    assert not legal.is_visible()
    form.locator("input[name=mode][value=door]").check()
    assert legal.is_visible()
    assert "Autoriteit Persoonsgegevens" in legal.inner_text()
    form.locator("button[type=submit]").click()
    assert page.get_attribute("#store-amsterdam", "data-live") == "false"
    form.locator("input[name=door_acknowledged]").check()
    shot(page, screenshot_dir, "console-go-live-door.png")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#store-amsterdam[data-live=true]")
    with runtime.sessions() as session:
        store = session.scalars(select(Store).where(Store.code == "amsterdam")).one()
        zone = session.get(StoreZone, store.id)
        assert store.live
        assert store.dpia_reference == "DPIA-2026-031"
        assert zone is not None
        assert (zone.zone_x, zone.zone_w, zone.min_face_size) == (0.25, 0.5, 96)
        mode = session.get(StoreMode, store.id)
        assert mode is not None
        assert (mode.mode, mode.door_acknowledged) == ("door", True)
    assert page.get_attribute("#store-amsterdam dd.mode", "data-mode") == "door"
    shot(page, screenshot_dir, "console-stores.png")
    assert errors == []

    # -- the public page: no sign-in, Dutch by default, English one click away -----------
    public = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
    public.goto(f"{base}/privacy")
    assert "Wat het niet doet" in public.inner_text("main")
    assert "Amsterdam" in public.inner_text("#stores")  # live now
    shot(public, screenshot_dir, "privacy.png")
    public.click("a.lang[lang=en]")
    public.wait_for_selector("html[lang=en]")
    assert "It does not recognise anyone who did not opt in" in public.inner_text("main")
    shot(public, screenshot_dir, "privacy-en.png")

    # -- the entrance sign, as the printer sees it ---------------------------------------
    r = public.request.get(f"{base}/privacy/sign.pdf?store=amsterdam&lang=nl")
    assert r.ok
    sign = tmp_path / "sign.pdf"
    sign.write_bytes(r.body())
    if shutil.which("pdftoppm"):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "100",
                "-singlefile",
                str(sign),
                str(screenshot_dir / "sign-nl"),
            ],
            check=True,
        )
        png = (screenshot_dir / "sign-nl.png").read_bytes()
        assert decode_qr(png) == f"{base}/privacy?lang=nl"
