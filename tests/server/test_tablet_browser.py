"""The tablet page in a real browser: sign in, a card arrives over the WebSocket from a real
arrival event, two-step reveal, allergy shown, and a second tablet sees "not this person"."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent.device import DeviceKeyPair
from server.app import create_app
from server.db.models import Allergy, Purchase
from server.db.session import transaction
from server.runtime import Runtime
from server.serve import ServerThread
from server.services import devices, enrolment
from server.settings import ServerSettings
from tests.server.conftest import PASSWORD, StoreFixture

pytestmark = [pytest.mark.browser, pytest.mark.faces]


@pytest.fixture
def live(settings: ServerSettings, runtime: Runtime) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(settings, runtime=runtime))
    srv.start()
    yield srv
    srv.stop()


def enrol_lin(rt: Runtime, store: StoreFixture, faces: Path) -> str:
    photo = (faces / "people" / "lin_manuel_miranda" / "img1.png").read_bytes()
    with transaction(rt.sessions) as session:
        store_row = devices.store_by_code(session, store.code)
        result = enrolment.enrol(
            session,
            request=enrolment.EnrolmentRequest(
                name="Lin Manuel Miranda",
                preferred_name="Lin",
                language="en",
                photos=[photo],
                consent_confirmed=True,
                confirmation_name="Lin Manuel Miranda",
                channel="register",
                collected_by="cashier",
            ),
            store=store_row,
            analyser=rt.faces,
            kek=rt.kek,
            threshold=rt.threshold,
            consent_months=12,
            now=rt.now(),
        )
        session.add(Allergy(customer_id=result.customer_id, allergen="peanut"))
        session.add(
            Purchase(
                customer_id=result.customer_id,
                store_id=store.id,
                purchased_at=rt.now(),
                product_name="Espresso beans 500 g",
                category="coffee",
            )
        )
        return result.subject_id


def device_token(rt: Runtime, live: ServerThread, store: StoreFixture, tmp_path: Path) -> str:
    with transaction(rt.sessions) as session:
        code = devices.create_enrolment_code(
            session, store=devices.store_by_code(session, store.code), now=rt.now()
        )
    keys = DeviceKeyPair.generate()
    r = httpx.post(
        f"{live.base_url}/api/v1/devices/register",
        json={
            "enrolment_code": code,
            "name": "entrance",
            "public_key": base64.b64encode(keys.public_bytes()).decode(),
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def arrival(live: ServerThread, token: str, subject_id: str) -> dict[str, Any]:
    r = httpx.post(
        f"{live.base_url}/api/v1/device/events",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "events": [
                {
                    "id": uuid.uuid4().hex,
                    "kind": "arrival",
                    "subject_id": subject_id,
                    "at": datetime.now(UTC).isoformat(),
                    "score": 0.41,
                    "margin": 0.3,
                    "frames": 3,
                }
            ]
        },
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/tablet")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#status:has-text('live')")


def test_card_arrives_reveals_and_not_this_person_hides_it_everywhere(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    tmp_path: Path,
    screenshot_dir: Path,
) -> None:
    subject = enrol_lin(runtime, store, faces)
    token = device_token(runtime, live, store, tmp_path)
    tablet_a = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    tablet_b = browser.new_context(viewport={"width": 768, "height": 1024}).new_page()
    sign_in(tablet_a, live.base_url, "sales")
    sign_in(tablet_b, live.base_url, "sales")

    assert arrival(live, token, subject)["accepted"] == 1
    card_a = tablet_a.wait_for_selector("article.card")
    tablet_b.wait_for_selector("article.card")
    assert "Lin" in card_a.inner_text()
    # Step one shows a first name and a photo only: no history, no allergy yet.
    assert "Espresso" not in card_a.inner_text()
    assert "peanut" not in card_a.inner_text().lower()
    tablet_a.screenshot(path=str(screenshot_dir / "tablet-teaser.png"))

    tablet_a.click("article.card [data-action=reveal]")
    tablet_a.wait_for_selector("article.card .allergy")
    text = card_a.inner_text()
    assert "PEANUT" in text.upper()
    assert "Espresso beans 500 g" in text
    assert "Lin Manuel Miranda" in text
    assert "null" not in text
    assert "undefined" not in text
    tablet_a.screenshot(path=str(screenshot_dir / "tablet-card.png"))

    # A second arrival during the same visit does not make a second card.
    arrival(live, token, subject)
    assert tablet_a.locator("article.card").count() == 1

    tablet_a.click("article.card [data-action=not-this-person]")
    tablet_a.wait_for_selector("article.card", state="detached")
    tablet_b.wait_for_selector("article.card", state="detached")  # hidden on every tablet
