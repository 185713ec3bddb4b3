"""Membership without a face in a real browser (Debian chromium): the register offers the two
kinds of membership as equal choices, a pass-only enrolment never asks for the camera and prints
the pass as text and QR code on the receipt; the self-service page issues a new pass and switches
a face member to pass-only; a pass arrival shows on the tablet as "checked in with pass", without
a photo, with the 1:1 face result in pass+face mode."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from consent.gallery import MemberZone
from consent.passes import parse_pass_token, pass_digest
from consent.records import current_pass_consent_text
from server.db.membership import ConsentRecord, Customer, FaceTemplate, MemberPass
from server.db.session import transaction
from server.runtime import Runtime
from server.serve import ServerThread
from server.services.membership import kinds as membership
from server.services.recognition import devices, golive
from tests.server.conftest import PASSWORD, StoreFixture
from tests.server.live_pages import decode_qr, sign_in_register
from tests.server.members import enrol_member, new_link
from tests.server.test_passes import enrol_pass_member
from tests.server.test_tablet_browser import device_token
from tests.waiting import HANG_S

pytestmark = [pytest.mark.browser, pytest.mark.faces]
TABLET = {"width": 1024, "height": 900}

COUNT_CAMERA = """
window.__cameraRequests = 0;
if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (...args) => {
    window.__cameraRequests++;
    return original(...args);
  };
}
"""


def test_the_register_offers_both_memberships_and_a_pass_only_one_never_asks_for_the_camera(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    screenshot_dir: Path,
) -> None:
    context = browser.new_context(viewport=TABLET)
    context.add_init_script(COUNT_CAMERA)
    page = context.new_page()
    sign_in_register(page, live.base_url)
    page.fill("#name", "Fenna Visser")
    page.select_option("#language", "en")

    # two equal choices, neither picked for the customer
    face, plain = page.locator("label.kind").nth(0), page.locator("label.kind").nth(1)
    assert face.get_attribute("class") == plain.get_attribute("class")
    assert face.is_visible()
    assert plain.is_visible()
    assert not page.is_checked("#kind-face")
    assert not page.is_checked("#kind-pass")
    assert not page.locator("#photos-section").is_visible()
    assert "chooses a kind of membership" in page.inner_text("#missing")
    page.screenshot(path=str(screenshot_dir / "register-choice.png"), full_page=True)

    page.check("#kind-pass")
    text = current_pass_consent_text("en")
    shown = page.locator(".consent[data-lang=en][data-version='2026-12-pass-v1']")
    assert shown.is_visible()
    assert text.title in shown.inner_text()
    assert f"{text.version} · SHA-256 {text.sha256[:12]}" in shown.inner_text()
    assert not page.locator(".consent[data-version='2026-11-v1']").first.is_visible()
    assert not page.locator("#photos-section").is_visible()  # no photo, no camera button
    page.check("#consent_confirmed")
    page.fill("#confirmation_name", "Fenna Visser")
    page.wait_for_selector("#submit:not([disabled])")
    assert "membership pass, no photo" in page.inner_text("#missing")
    page.screenshot(path=str(screenshot_dir / "register-pass.png"), full_page=True)
    page.click("#submit")
    page.wait_for_url("**/register/receipt/**", timeout=60_000)

    token = page.inner_text("#pass-token")
    assert parse_pass_token(token) == token
    assert decode_qr(page.locator("#pass-qr").screenshot()) == token
    assert "/me/" in page.inner_text("#self-service-link")
    page.screenshot(path=str(screenshot_dir / "register-pass-receipt.png"), full_page=True)
    assert page.evaluate("window.__cameraRequests") == 0
    assert token not in page.url

    with runtime.sessions() as s:
        customer = next(c for c in s.scalars(select(Customer)) if c.name == "Fenna Visser")
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 0
        assert s.scalars(select(MemberPass.digest)).one() == pass_digest(token)
        record = s.scalars(
            select(ConsentRecord).where(ConsentRecord.customer_id == customer.id)
        ).one()
        assert record.text_sha256 == text.sha256

    # a reprint shows no pass (it is kept nowhere) and no link either: only the audited
    # re-issue of a link (issue 14); "New pass" prints a new pass
    page.goto(f"{live.base_url}/register/receipt/{customer.id}")
    assert page.locator("#pass-token").count() == 0
    assert page.locator("#reissue").is_visible()
    assert token not in page.content()
    page.goto(f"{live.base_url}/register")
    page.wait_for_selector("#app:not([hidden])")
    page.fill("#search", "fenna")
    page.press("#search", "Enter")
    row = page.locator(f"#results li[data-customer='{customer.id}']")
    row.wait_for()
    assert row.locator("[data-action=add-face]").count() == 1  # pass-only: a face can be added
    page.once("dialog", lambda d: d.accept())
    row.locator("[data-action=new-pass]").click()
    page.wait_for_url("**/register/receipt/**", timeout=60_000)
    again = page.inner_text("#pass-token")
    assert again != token
    # a new pass, not a new self-service link (that needs its own audited re-issue)
    assert page.locator("#self-service-link").count() == 0
    with runtime.sessions() as s:
        active = s.scalars(select(MemberPass.digest).where(MemberPass.revoked_at.is_(None))).one()
    assert active == pass_digest(again)


def test_the_self_service_page_issues_a_new_pass_and_switches_to_pass_only(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    member = enrol_member(runtime, store, faces, "obama")
    page = browser.new_context(viewport=TABLET).new_page()
    page.goto(f"{live.base_url}/me/{new_link(runtime, member.customer_id)}?lang=en")
    assert page.get_attribute("#membership", "data-membership") == "face"

    page.once("dialog", lambda d: d.accept())
    page.click("#new-pass")
    page.wait_for_selector("#pass-shown:not([hidden])")
    token = page.inner_text("#pass-token")
    assert parse_pass_token(token) == token
    assert decode_qr(page.locator("#pass-qr").screenshot()) == token
    with runtime.sessions() as s:
        active = s.scalars(select(MemberPass.digest).where(MemberPass.revoked_at.is_(None))).one()
    assert active == pass_digest(token)
    page.screenshot(path=str(screenshot_dir / "me-new-pass.png"), full_page=True)

    page.once("dialog", lambda d: d.accept())
    page.click("[data-action=switch-pass]")
    page.wait_for_selector("#done")
    assert "works without a face" in page.inner_text("#done")
    assert page.get_attribute("#membership", "data-membership") == "pass"
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 0
    page.screenshot(path=str(screenshot_dir / "me-pass-only.png"), full_page=True)
    # the first screen no longer says the camera recognises them or that a face code is kept
    assert "camera does not recognise you" in page.inner_text("#camera")
    assert "face code" not in page.inner_text("#keep")
    page.goto(page.url.replace("?lang=en", "?lang=nl"))
    assert page.inner_text("#camera").startswith("De camera herkent u niet")
    assert "gezichtscode" not in page.inner_text("#keep")
    assert "herkent de camera bij de ingang u" not in page.inner_text("#recognition")
    page.screenshot(path=str(screenshot_dir / "i16-me-pass-only-nl.png"), full_page=True)


def test_a_pass_arrival_shows_on_the_tablet_as_checked_in_with_pass(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    with transaction(runtime.sessions) as session:
        golive.go_live(
            session,
            runtime.context(),
            store=devices.store_by_code(session, store.code),
            dpia_reference="DPIA-P-2",
            signage_confirmed=True,
            zone=MemberZone(0.3, 0.3, 0.4, 0.5, 160),
            mode="pass+face",
            door_acknowledged=False,
            actor="test",
        )
    plain = enrol_pass_member(runtime, store, "Fenna Visser")
    face = enrol_member(runtime, store, faces, "obama")
    with transaction(runtime.sessions) as session:
        face_token = membership.reissue_pass(
            session,
            runtime.context(),
            customer_id=face.customer_id,
            actor="test",
        ).token
    token = device_token(runtime, live, store)

    page = browser.new_context(viewport=TABLET).new_page()
    page.goto(f"{live.base_url}/tablet")
    page.fill("input[name=username]", "sales")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#status:has-text('live')")

    def arrive(subject_id: str, pass_token: str, face_verified: bool | None) -> None:
        r = httpx.post(
            f"{live.base_url}/api/v1/device/events",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "events": [
                    {
                        "id": secrets.token_hex(8),
                        "kind": "arrival",
                        "subject_id": subject_id,
                        "at": datetime.now(UTC).isoformat(),
                        "score": 0.0,
                        "margin": None,
                        "frames": 2,
                        "method": "pass",
                        "pass_digest": pass_digest(pass_token),
                        "face_verified": face_verified,
                    }
                ]
            },
            timeout=HANG_S,
        )
        assert r.status_code == 202, r.text

    arrive(plain.subject_id, plain.pass_token, None)
    card = page.wait_for_selector("article.card[data-method=pass]")
    assert "Checked in with pass" in card.inner_text()
    assert "ask their name" in card.inner_text()
    assert card.query_selector("img") is None  # no photo to compare
    assert "They said their name: Fenna" in card.inner_text()

    arrive(face.subject_id, face_token, False)
    page.wait_for_selector("article.card [data-face=not-matched]")
    bad = page.locator("article.card", has_text="Barack")
    assert "face did NOT match" in bad.inner_text()
    assert bad.locator("img").count() == 0
    page.screenshot(path=str(screenshot_dir / "tablet-pass-cards.png"), full_page=True)

    # the two-step reveal still works from a pass card
    page.locator("article.card", has_text="Fenna").locator("[data-action=reveal]").click()
    page.wait_for_selector("article.card.revealed")
