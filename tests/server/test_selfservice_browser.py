"""The customer's self-service page in a real browser: open the link from the printed receipt,
see everything held (in the customer's language), download the export, stop recognition, forget
everything; the old link then shows that nothing is held. The database is checked each step."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db.clienteling import Allergy, Preference, Purchase, Visit
from server.db.membership import ConsentRecord, Customer, CustomerKey, FaceTemplate
from server.db.session import transaction
from server.runtime import Runtime
from server.serve import ServerThread
from server.services.membership import enrolment
from server.services.recognition import devices
from tests.server.conftest import StoreFixture
from tests.server.live_pages import decode_qr, sign_in_register

pytestmark = [pytest.mark.browser, pytest.mark.faces]
PHONE = {"width": 414, "height": 896}


def enrol_member(rt: Runtime, store: StoreFixture, faces: Path) -> str:
    """Anna (Dutch) enrolled with Rose Leslie's photos, with purchases, a preference, an allergy
    and a visit."""
    photos = [p.read_bytes() for p in sorted((faces / "people" / "rose_leslie").iterdir())]
    now = rt.now()
    with transaction(rt.sessions) as session:
        result = enrolment.enrol(
            session,
            rt.context().at(now),
            request=enrolment.EnrolmentRequest(
                name="Anna de Vries",
                preferred_name="Anna",
                language="nl",
                photos=photos,
                consent_confirmed=True,
                confirmation_name="Anna de Vries",
                channel="register",
                collected_by="cashier",
                email="anna@example.org",
            ),
            store=devices.store_by_code(session, store.code),
            analyser=rt.faces,
            threshold=rt.threshold,
        )
        cid = result.customer_id
        for days, product, category in (
            (30, "Zoethoutstaafjes 200 g", "drop"),
            (3, "Pure chocolade 72%", "chocolade"),
        ):
            session.add(
                Purchase(
                    customer_id=cid,
                    store_id=store.id,
                    purchased_at=now - timedelta(days=days),
                    product_name=product,
                    category=category,
                )
            )
        session.add(Preference(customer_id=cid, kind="brand", value="Venco"))
        session.add(Allergy(customer_id=cid, allergen="hazelnoot", note="ernstig"))
        session.add(
            Visit(
                customer_id=cid,
                store_id=store.id,
                arrived_at=now - timedelta(days=3),
                score=0.4,
                status="ended",
                live_until=now - timedelta(days=3) + timedelta(minutes=30),
            )
        )
        return cid


def count(rt: Runtime, model: Any, customer_id: str) -> int:
    with rt.sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(model).where(model.customer_id == customer_id)
            )
            or 0
        )


def test_receipt_link_overview_export_withdraw_forget(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    cid = enrol_member(runtime, store, faces)
    register = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    sign_in_register(register, live.base_url)
    register.goto(f"{live.base_url}/register/receipt/{cid}")
    # Not enrolled in this session: no link until the cashier explicitly issues a new one.
    assert "/me/" not in register.content()
    register.once("dialog", lambda dialog: dialog.accept())
    register.click("#reissue-button")
    register.wait_for_selector("#reissued:not([hidden])")
    assert decode_qr(register.locator("#qr").screenshot()) == register.locator(
        "#self-service-link"
    ).get_attribute("href")
    link = register.locator("#self-service-link").get_attribute("href")
    assert link is not None
    assert link.startswith(f"{live.base_url}/me/")

    # The customer opens the link on their phone (no staff session there).
    phone = browser.new_context(viewport=PHONE, accept_downloads=True).new_page()
    response = phone.goto(link)
    assert response is not None
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"
    main = phone.locator("main#me")
    assert main.get_attribute("data-state") == "held"
    phone.click("#details > summary")  # the details are folded under the first screen
    text = main.inner_text()
    assert "Uw gegevens bij Vertrouwd" in text  # Dutch: the customer's language
    assert "Anna de Vries" in text
    assert "anna@example.org" in text
    assert "Zoethoutstaafjes 200 g" in text
    assert "Pure chocolade 72%" in text
    assert "Venco" in text
    assert "hazelnoot" in text
    assert "Gezichtscodes bewaard: 2, afgesloten; niemand kan ze zien." in text
    with runtime.sessions() as s:
        consent = s.scalars(select(ConsentRecord).where(ConsentRecord.customer_id == cid)).one()
        sha = consent.text_sha256
    assert f"{consent.text_version} (nl) · {sha[:12]}" in phone.inner_text("#consents")
    assert phone.locator("#visits li").count() == 1
    assert phone.locator("img.thumb").count() == 1  # their own enrolment photo
    for leak in ("undefined", "null", "None", "subject_id", "wrapped_dek"):
        assert leak not in text
    phone.screenshot(path=str(screenshot_dir / "me-overview.png"), full_page=True)

    # English on request, all labels translated.
    phone.click("a.lang[lang=en]")
    phone.wait_for_selector("html[lang=en]")
    assert "Your data at Vertrouwd" in phone.inner_text("main")
    assert "A code made from your photos" in phone.inner_text("#templates")

    with phone.expect_download() as download_info:
        phone.click("#download")
    download = download_info.value
    assert download.suggested_filename.endswith(".json")
    exported = json.loads(Path(download.path()).read_text())
    assert exported["profile"]["name"] == "Anna de Vries"
    assert sorted(p["product_name"] for p in exported["purchases"]) == [
        "Pure chocolade 72%",
        "Zoethoutstaafjes 200 g",
    ]
    assert exported["templates"]["count"] == 2

    # A dismissed confirmation changes nothing.
    phone.once("dialog", lambda dialog: dialog.dismiss())
    phone.click("button[data-action=withdraw]")
    assert phone.locator("button[data-action=withdraw]").is_enabled()  # no request went out
    assert count(runtime, FaceTemplate, cid) == 2
    assert phone.locator("#recognition").get_attribute("data-recognition") == "active"

    phone.once("dialog", lambda dialog: dialog.accept())
    phone.click("button[data-action=withdraw]")
    phone.wait_for_selector("#recognition[data-recognition=withdrawn]")
    assert "Face recognition has been stopped" in phone.inner_text("#done")
    assert "Nothing about your face." in phone.inner_text("#templates")
    assert phone.locator("button[data-action=withdraw]").count() == 0
    assert count(runtime, FaceTemplate, cid) == 0
    assert count(runtime, CustomerKey, cid) == 0
    with runtime.sessions() as s:
        statuses = list(
            s.scalars(select(ConsentRecord.status).where(ConsentRecord.customer_id == cid))
        )
    assert statuses == ["withdrawn"]
    phone.click("#details > summary")
    assert "Zoethoutstaafjes 200 g" in phone.inner_text("main")  # the rest is still held
    phone.screenshot(path=str(screenshot_dir / "me-withdrawn.png"), full_page=True)

    phone.once("dialog", lambda dialog: dialog.accept())
    phone.click("button[data-action=forget]")
    phone.wait_for_selector("main#me[data-state=nothing]")
    assert "Everything about you has been erased." in phone.inner_text("#done")
    text = phone.inner_text("main")
    assert "We hold nothing about you" in text
    assert "Anna" not in text
    with runtime.sessions() as s:
        assert s.get(Customer, cid) is None
    assert count(runtime, Purchase, cid) == 0
    phone.screenshot(path=str(screenshot_dir / "me-forgotten.png"), full_page=True)

    # The old link now only says that nothing is held.
    again = phone.goto(link)
    assert again is not None
    assert again.status == 404
    assert phone.locator("main#me").get_attribute("data-state") == "nothing"
    assert "Wij bewaren niets over u" in phone.inner_text("main")
    assert "Anna" not in phone.content()


def test_bad_link_shows_no_data(browser: Any, live: ServerThread, store: StoreFixture) -> None:
    page = browser.new_context(viewport=PHONE).new_page()
    response = page.goto(f"{live.base_url}/me/gAAAAABnot-a-real-token")
    assert response is not None
    assert response.status == 401
    assert page.locator("main#me").get_attribute("data-state") == "invalid"
    text = page.inner_text("main")
    assert "This link is not valid" in text
    assert "Deze link is niet geldig" in text
    assert page.locator("button, #download, table").count() == 0
