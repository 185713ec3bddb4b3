"""The register as a cashier sees it (issue 16, items 5-7), in a real browser against the real
server: "Start over" clears every field and photo (a privacy matter at a shared counter), a
message about photos that no longer applies goes, the heading says what is required, progress is
shown while a photo is checked and while a member is enrolled, and the camera preview leaves
"Take photo" on screen on a tablet. axe-core runs on the register and receipt pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.runtime import Runtime
from server.serve import ServerThread
from tests.browser import CHROMIUM_FLAGS, assert_accessible, chromium_path
from tests.server.conftest import PASSWORD, StoreFixture
from tests.server.live_pages import sign_in_register
from tests.server.test_register_browser import wait_for_checks, y4m_of
from tests.server.test_tablet_browser import enrol_lin

pytestmark = [pytest.mark.browser, pytest.mark.faces]


class Held:
    """Requests to one path held back until the test lets them go (no sleeps): while held, the
    page shows what it shows during a slow check or enrolment."""

    def __init__(self, page: Any, pattern: str) -> None:
        self.routes: list[Any] = []
        self.page, self.pattern = page, pattern
        page.route(pattern, lambda route: self.routes.append(route))

    def wait(self, page: Any, n: int = 1) -> None:
        for _ in range(1200):  # bounded: 60 s at most
            if len(self.routes) >= n:
                return
            page.wait_for_timeout(50)  # lets Playwright dispatch the route events
        raise AssertionError(f"{n} requests expected, {len(self.routes)} came")

    def release(self) -> None:
        for r in self.routes:
            r.continue_()
        self.routes.clear()
        self.page.unroute(self.pattern)


def test_start_over_clears_everything_and_the_page_says_what_it_is_doing(
    browser: Any,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    page = browser.new_context(viewport={"width": 1024, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_register(page, live.base_url)
    assert_accessible(page, "register")
    page.check("#kind-face")  # membership with a face: the photo step appears
    heading = page.inner_text("#photos-title")
    assert "one required" in heading.lower()
    assert "three recommended" in heading.lower()

    page.fill("#search", "Obama")
    page.fill("#name", "Barack Obama")
    page.fill("#preferred_name", "Barack")
    page.fill("#email", "barack@example.org")
    page.select_option("#language", "en")
    page.check("#consent_confirmed")
    page.fill("#confirmation_name", "Barack Obama")

    people = faces / "people"
    four = [people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg",
            people / "biden" / "biden.jpg", people / "biden" / "biden2.jpg"]  # fmt: skip
    check = Held(page, "**/api/v1/enrolments/check-photo")
    page.set_input_files("#upload", [str(p) for p in four])
    assert "Only 3 more photo(s) fit" in page.inner_text("#camera-status")
    check.wait(page, 3)
    # while the server checks, each photo shows that it is being checked
    assert page.locator(".slot progress").count() == 3
    assert "Checking the photo" in page.inner_text("#slots")
    page.screenshot(path=str(screenshot_dir / "i16-register-checking.png"))
    check.release()
    wait_for_checks(page, 3)
    page.locator(".slot [data-action=remove] >> nth=2").click()
    assert "Only" not in page.inner_text("#camera-status")  # the message no longer applies
    page.screenshot(path=str(screenshot_dir / "i16-register-filled.png"), full_page=True)

    page.click("#reset")
    page.screenshot(path=str(screenshot_dir / "i16-register-after-start-over.png"), full_page=True)
    assert errors == []
    for field in ("#search", "#name", "#preferred_name", "#email", "#confirmation_name"):
        assert page.input_value(field) == "", field
    assert not page.is_checked("#consent_confirmed")
    assert page.locator(".slot").count() == 0
    assert page.input_value("#language") == "nl"
    assert "Barack" not in page.inner_text("#app")
    assert "Obama" not in page.inner_text("#app")

    assert not page.is_checked("#kind-face")  # the kind of membership is chosen again
    # Enrol: the page says it is working until the receipt opens.
    page.check("#kind-face")
    page.fill("#name", "Barack Obama")
    page.check("#consent_confirmed")
    page.fill("#confirmation_name", "Barack Obama")
    page.set_input_files("#upload", str(four[0]))
    wait_for_checks(page, 1)
    enrol = Held(page, "**/api/v1/enrolments")
    page.click("#submit")
    enrol.wait(page)
    assert page.is_visible("#enrol-progress")
    assert "receipt opens by itself" in page.inner_text("#enrol-progress")
    page.screenshot(path=str(screenshot_dir / "i16-register-enrolling.png"))
    enrol.release()
    page.wait_for_url("**/register/receipt/**", timeout=60_000)
    assert_accessible(page, "receipt")
    assert errors == []


@pytest.mark.parametrize(
    "viewport", [{"width": 1024, "height": 768}, {"width": 768, "height": 1024}]
)
def test_the_camera_preview_leaves_take_photo_on_screen_on_a_tablet(
    browser: Any,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    tmp_path: Path,
    screenshot_dir: Path,
    viewport: dict[str, int],
) -> None:
    video = y4m_of(faces / "people" / "lin_manuel_miranda" / "img1.png", tmp_path / "lin.y4m")
    flags = [
        *CHROMIUM_FLAGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    cam_browser = browser.browser_type.launch(executable_path=chromium_path(), args=flags)
    try:
        page = cam_browser.new_context(viewport=viewport).new_page()
        sign_in_register(page, live.base_url)
        page.check("#kind-face")
        page.click("#camera-start")
        page.wait_for_function("() => document.getElementById('video').videoWidth > 0")
        page.wait_for_function(
            "() => { const b = document.getElementById('capture').getBoundingClientRect();"
            " return b.height > 0 && b.bottom <= innerHeight && b.top >= 0; }"
        )
        shown = page.locator("#video").bounding_box()
        assert shown["height"] <= 0.4 * viewport["height"]
        name = f"i16-register-camera-{viewport['width']}x{viewport['height']}.png"
        page.screenshot(path=str(screenshot_dir / name))
    finally:
        cam_browser.close()


def test_the_register_speaks_dutch_to_a_dutch_cashier(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    screenshot_dir: Path,
) -> None:
    enrol_lin(runtime, store, faces)
    page = browser.new_context(viewport={"width": 1024, "height": 900}).new_page()
    page.goto(f"{live.base_url}/register?lang=nl")
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert "Gebruikersnaam" in page.inner_text("#login")
    page.fill("#username", "cashier")
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.check("#kind-face")
    app = page.inner_text("#app")
    for words in ("Zoek de klant", "Volledige naam", "Foto's: één verplicht, drie aanbevolen",
                  "Klant inschrijven", "Opnieuw beginnen", "Nog nodig:"):  # fmt: skip
        assert words in app, words
    page.fill("#name", "Anna de Vries")
    page.fill("#confirmation_name", "Anna de Vries")
    assert page.inner_text("#name-match") == "✓ De getypte naam klopt."
    assert "kassa" in page.inner_text("#who")  # the role, in Dutch (not "cashier")
    # a member found by search: her status and what can be done, in Dutch
    page.fill("#search", "Lin")
    page.click("#search-form button[type=submit]")
    row = page.wait_for_selector("[data-customer]")
    found = row.inner_text()
    for words in ("herkenning aan", "Link naar de eigen pagina afdrukken", "Nieuwe pas",
                  "Toestemming verlengen", "Herkenning stoppen", "Wissen"):  # fmt: skip
        assert words in found, words
    # a photo: its slot and what the check found, in Dutch
    page.set_input_files("#upload", str(faces / "people" / "obama" / "obama.jpg"))
    wait_for_checks(page, 1)
    slot = page.inner_text(".slot")
    assert "Foto 1 · gekozen bestand" in slot, slot
    assert "één gezicht, " in slot, slot
    # a refused photo: the check's reason and what to do, in Dutch too
    page.set_input_files("#upload", str(faces / "scenes" / "two_people.jpg"))
    wait_for_checks(page, 2)
    refused = page.locator(".slot").nth(1)
    assert refused.get_attribute("data-status") == "bad"
    said = refused.inner_text()
    assert "2 gezichten gevonden: er mag precies één persoon op de foto." in said, said
    assert "vraag anderen even opzij te gaan" in said, said
    app = page.inner_text("#app")
    for english in ("Full name", "Still needed", "The typed name", "Start over", "Search",
                    "faces found", "step aside",
                    "Photo 1", "uploaded", "one face", "sharpness", "frontal",
                    "recognition on", "Print self-service link", "New pass", "Renew consent",
                    "Stop recognition", "Erase"):  # fmt: skip
        assert english not in app, english
    page.screenshot(path=str(screenshot_dir / "i16-register-dutch.png"), full_page=True)
    assert_accessible(page, "register-nl")
