"""The demo's printing tablet (``server.demo.CardPrinter``) against the real server: a card it
may not reveal (the visit ended, the session expired: the server answers with an error) is
reported and skipped; the thread goes on and prints the next member's card (issue 16, item 11:
``--serve`` used to crash with ``KeyError: 'last_visit_at'``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.api.tablet_text import tablet_texts
from server.demo import CardPrinter, login
from server.realtime import tablet_channel
from server.runtime import Runtime
from server.serve import ServerThread
from tests.server.conftest import PASSWORD, StoreFixture
from tests.server.test_tablet_browser import arrival, device_token, enrol_lin

# the same on any database: the demo's printing thread
pytestmark = [pytest.mark.faces, pytest.mark.db_agnostic]


def test_a_refused_reveal_is_skipped_and_the_next_card_printed(
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    faces: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, subject = enrol_lin(runtime, store, faces)
    token = device_token(runtime, live, store)
    printer = CardPrinter(
        live.base_url, login(live.base_url, "sales", PASSWORD), runtime.settings.staff_language
    )
    printer.start()
    try:
        # an arrival message for a visit the server does not show: its reveal is refused
        runtime.broker.publish(tablet_channel(store.id), {"type": "arrival", "visit_id": 987654})
        assert arrival(live, token, subject)["accepted"] == 1
        assert printer.wait_for(1, timeout=60)
        assert printer.thread.is_alive()
    finally:
        printer.stop()
    out = capsys.readouterr().out
    assert "card 987654 not shown (404)" in out
    assert "Lin (Lin Manuel Miranda)" in out
    # labels in the salesperson's language, as the server's reasons on the card are
    words = tablet_texts(runtime.settings.staff_language)
    assert f"│ {words['last_bought']}: " in out
    assert f"│ {words['suggest']}: " in out
    assert [c["preferred_name"] for c in printer.cards] == ["Lin"]
