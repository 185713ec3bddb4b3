"""The register page in a real browser (Debian chromium): sign in as the cashier, create the
customer, read the consent text, take photos with live quality feedback (upload fallback and a
fake webcam fed with a real photo), enrol, and print the receipt with the self-service link and
its QR code; enrol a customer who withdrew again into the same record. The database is checked
afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import pytest
from sqlalchemy import func, select

from consent.records import current_consent_text
from server.db.clienteling import Sale
from server.db.membership import ConsentRecord, Customer, FaceTemplate
from server.db.session import transaction
from server.runtime import Runtime
from server.serve import ServerThread
from server.services.membership import lifecycle
from tests.browser import CHROMIUM_FLAGS, chromium_path
from tests.server.conftest import StoreFixture
from tests.server.live_pages import decode_qr, sign_in_register
from tests.server.members import enrol_member

pytestmark = [pytest.mark.browser, pytest.mark.faces]
TABLET = {"width": 1024, "height": 900}


def wait_for_checks(page: Any, count: int) -> None:
    """Bounded wait until ``count`` photo slots have a verdict from the server."""
    page.wait_for_function(
        """n => { const s = [...document.querySelectorAll('.slot')];
                  return s.length === n
                    && s.every(x => ['ok', 'bad'].includes(x.dataset.status)); }""",
        arg=count,
        timeout=60_000,
    )


def enrolled(rt: Runtime, name: str) -> tuple[Customer, list[ConsentRecord], int]:
    with rt.sessions() as s:
        (customer,) = [c for c in s.scalars(select(Customer)) if c.name == name]
        consents = list(
            s.scalars(select(ConsentRecord).where(ConsentRecord.customer_id == customer.id))
        )
        templates = s.scalar(
            select(func.count())
            .select_from(FaceTemplate)
            .where(FaceTemplate.customer_id == customer.id)
        )
        s.expunge_all()
        return customer, consents, int(templates or 0)


def test_enrol_obama_with_uploads_feedback_receipt_and_duplicate_refused(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    page = browser.new_context(viewport=TABLET).new_page()
    sign_in_register(page, live.base_url)
    assert "cashier" in page.inner_text("#who")

    page.fill("#name", "Barack Obama")
    page.fill("#preferred_name", "Barack")
    page.select_option("#language", "en")
    page.check("#kind-face")  # the kind of membership: two equal choices, no default
    english = current_consent_text("en")
    consent = page.locator(f".consent[data-lang=en][data-version='{english.version}']")
    assert consent.is_visible()
    assert not page.locator(
        f".consent[data-lang=nl][data-version='{english.version}']"
    ).is_visible()
    assert english.title in consent.inner_text()
    assert f"{english.version} · SHA-256 {english.sha256[:12]}" in consent.inner_text()
    assert page.locator("#submit").is_disabled()
    page.screenshot(path=str(screenshot_dir / "register-form.png"), full_page=True)

    people = faces / "people" / "obama"
    page.set_input_files(
        "#upload",
        [
            str(people / "obama.jpg"),
            str(people / "obama2.jpg"),
            str(faces / "scenes" / "two_people.jpg"),
        ],
    )
    wait_for_checks(page, 3)
    slots = page.locator(".slot")
    for i in (0, 1):
        assert slots.nth(i).get_attribute("data-status") == "ok"
        assert "ok" in slots.nth(i).inner_text()
    rejected = slots.nth(2)
    assert rejected.get_attribute("data-status") == "bad"
    assert "2 faces" in rejected.inner_text()
    page.check("#consent_confirmed")
    page.fill("#confirmation_name", "barack  obama")  # case and spacing do not matter
    assert page.locator("#submit").is_disabled()  # the refused photo must go first
    assert "not usable" in page.inner_text("#missing")
    page.locator(".slot").nth(2).scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "register-feedback.png"), full_page=True)

    rejected.locator("[data-action=remove]").click()
    assert page.locator(".slot").count() == 2
    page.wait_for_selector("#submit:not([disabled])")
    page.click("#submit")
    page.wait_for_url("**/register/receipt/**", timeout=60_000)

    link = page.locator("#self-service-link")
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(f"{live.base_url}/me/")
    assert link.inner_text() == href
    svg = page.locator("#qr svg")
    assert svg.count() == 1
    path = svg.locator("path").first.get_attribute("d") or ""
    assert path.count("z") > 200  # hundreds of QR modules
    assert decode_qr(page.locator("#qr").screenshot()) == href
    assert "Barack" in page.inner_text("#receipt")
    page.screenshot(path=str(screenshot_dir / "register-receipt.png"), full_page=True)

    customer, consents, templates = enrolled(runtime, "Barack Obama")
    assert customer.preferred_name == "Barack"
    assert customer.language == "en"
    assert templates == 2
    assert [(c.status, c.text_sha256, c.channel, c.collected_by) for c in consents] == [
        ("active", english.sha256, "register", "cashier")
    ]

    # The same face under another name is refused, in plain words, and the photos are dropped.
    page.click("#next")
    page.wait_for_selector("#app:not([hidden])")
    page.fill("#name", "Barry Smith")
    page.check("#kind-face")
    page.set_input_files("#upload", [str(people / "obama2.jpg")])
    wait_for_checks(page, 1)
    page.check("#consent_confirmed")
    page.fill("#confirmation_name", "Barry Smith")
    page.click("#submit")
    page.wait_for_selector("#enrol-error:has-text('already enrolled as another customer')")
    assert page.locator(".slot").count() == 0
    assert page.evaluate("document.querySelectorAll('canvas').length") == 0
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 1

    # Found again by search: recognition on; the cashier renews the consent from the list.
    page.fill("#search", "obama")
    page.press("#search", "Enter")
    row = page.locator(f"#results li[data-customer='{customer.id}']")
    row.wait_for()
    assert "recognition on" in row.inner_text()
    row.locator("[data-action=renew]").click()
    page.wait_for_selector("#customer-message:has-text('Consent renewed: Barack Obama')")
    _, consents, templates = enrolled(runtime, "Barack Obama")
    assert [c.status for c in consents].count("active") == 1
    assert templates == 2
    assert row.locator("[data-action=receipt]").get_attribute("href") == (
        f"/register/receipt/{customer.id}"
    )


def y4m_of(photo: Path, out: Path, frames: int = 5) -> Path:
    """A short raw video (YUV4MPEG2, 4:2:0) showing ``photo``: chromium's fake camera plays it."""
    bgr = cv2.imread(str(photo))
    assert bgr is not None
    h, w = (bgr.shape[0] // 2) * 2, (bgr.shape[1] // 2) * 2
    i420 = cv2.cvtColor(bgr[:h, :w], cv2.COLOR_BGR2YUV_I420).tobytes()
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + i420)
    return out


def test_enrol_with_the_webcam(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    tmp_path: Path,
    screenshot_dir: Path,
) -> None:
    video = y4m_of(faces / "people" / "lin_manuel_miranda" / "img1.png", tmp_path / "lin.y4m")
    flags = [
        *CHROMIUM_FLAGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    # A second chromium from the session's Playwright: the fake camera is a launch flag.
    cam_browser = browser.browser_type.launch(executable_path=chromium_path(), args=flags)
    try:
        page = cam_browser.new_context(viewport=TABLET).new_page()
        sign_in_register(page, live.base_url)
        page.fill("#name", "Lin Manuel Miranda")
        page.fill("#preferred_name", "Lin")
        page.check("#kind-face")
        page.click("#camera-start")
        page.wait_for_function(
            "() => document.getElementById('video').videoWidth > 0", timeout=20_000
        )
        for n in (1, 2, 3):
            page.click("#capture")
            wait_for_checks(page, n)
        statuses = [page.locator(".slot").nth(i).get_attribute("data-status") for i in range(3)]
        assert statuses == ["ok", "ok", "ok"]
        assert "camera" in page.inner_text(".slot >> nth=0")
        page.locator("#slots").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "register-webcam.png"))
        page.check("#consent_confirmed")
        page.fill("#confirmation_name", "Lin Manuel Miranda")
        page.click("#submit")
        page.wait_for_url("**/register/receipt/**", timeout=60_000)
        assert "/me/" in page.inner_text("#self-service-link")
    finally:
        cam_browser.close()
    customer, consents, templates = enrolled(runtime, "Lin Manuel Miranda")
    assert customer.language == "nl"  # the default language
    assert templates == 3
    assert [c.status for c in consents] == ["active"]


def test_enrol_a_withdrawn_customer_again_keeps_one_record(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    """Search a customer who withdrew, "Enrol again" fills step 2 from their record, one photo,
    the customer confirms, the receipt follows; the database holds ONE customer (same id, same
    sale) with a new active consent next to the withdrawn one."""
    member = enrol_member(runtime, store, faces)
    with transaction(runtime.sessions) as s:
        s.add(
            Sale(
                store_id=store.id,
                ref="R-77",
                customer_id=member.customer_id,
                sold_at=runtime.now(),
                source="pos",
            )
        )
        lifecycle.withdraw(
            s,
            runtime.context(),
            customer_id=member.customer_id,
            actor="test",
            channel="register",
        )
    page = browser.new_context(viewport=TABLET).new_page()
    sign_in_register(page, live.base_url)
    page.fill("#search", "obama")
    page.press("#search", "Enter")
    row = page.locator(f"#results li[data-customer='{member.customer_id}']")
    row.wait_for()
    assert "withdrawn" in row.inner_text()
    assert row.locator("[data-action=renew]").count() == 0  # nothing active to renew
    row.locator("[data-action=reenrol]").click()
    page.check("#kind-face")

    banner = page.locator("#reenrol-banner")
    assert banner.is_visible()
    assert banner.inner_text().startswith("Enrolling again: Barack Obama (their history is kept)")
    assert page.input_value("#name") == "Barack Obama"
    assert page.locator("#name").get_attribute("readonly") is not None
    assert page.input_value("#preferred_name") == "Barack"
    assert page.input_value("#language") == "en"
    assert page.input_value("#email") == "barack@example.org"
    assert page.locator(".consent[data-lang=en][data-version='2026-11-v1']").is_visible()
    assert page.inner_text("#submit") == "Enrol again"

    # Cancel goes back to a blank new member; "Enrol again" fills it once more.
    page.click("#reenrol-cancel")
    assert not banner.is_visible()
    assert page.input_value("#name") == ""
    assert page.locator("#name").get_attribute("readonly") is None
    assert page.inner_text("#submit") == "Enrol customer"
    row.locator("[data-action=reenrol]").click()
    assert banner.is_visible()

    page.set_input_files("#upload", [str(faces / "people" / "obama" / "obama.jpg")])
    wait_for_checks(page, 1)
    assert page.locator(".slot").nth(0).get_attribute("data-status") == "ok"
    page.check("#consent_confirmed")
    page.fill("#confirmation_name", "Barack Obama")
    page.wait_for_selector("#submit:not([disabled])")
    page.screenshot(path=str(screenshot_dir / "register-reenrol.png"), full_page=True)
    page.click("#submit")
    page.wait_for_url(f"**/register/receipt/{member.customer_id}", timeout=60_000)
    link = page.locator("#self-service-link").get_attribute("href")
    assert link is not None
    assert link.startswith(f"{live.base_url}/me/")
    assert "Barack" in page.inner_text("#receipt")
    page.screenshot(path=str(screenshot_dir / "register-reenrol-receipt.png"), full_page=True)

    customer, consents, templates = enrolled(runtime, "Barack Obama")
    assert customer.id == member.customer_id
    assert [c.status for c in sorted(consents, key=lambda c: c.given_at)] == [
        "withdrawn",
        "active",
    ]
    assert templates == 1
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert s.scalars(select(Sale.customer_id)).all() == [member.customer_id]
