"""Cross-site request forgery in a real browser (Debian chromium): a page served from another
port of the same host (same *site*, so the ``SameSite=Strict`` cookie goes along) tries to act
with a signed-in cashier's session: a ``fetch``, a ``fetch`` with the pages' header, a form post
and the tablet's WebSocket. Everything is refused and audited; the session is untouched and the
app's own pages keep working with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from server.db.audit import AuditEntry
from server.db.staff import StaffSession
from server.runtime import Runtime
from server.serve import ServerThread
from tests.server.conftest import StoreFixture
from tests.server.live_pages import sign_in_register

pytestmark = [pytest.mark.browser]

EVIL_PAGE = b"""<!doctype html><html><body><h1>Win a prize</h1>
<iframe name="sink" title="sink"></iframe>
<form id="f" method="post" target="sink" enctype="text/plain"><input name="a" value="b"></form>
</body></html>"""


@pytest.fixture
def evil() -> Iterator[str]:
    """Another web server on the same host: the attacker's page."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(EVIL_PAGE)))
            self.end_headers()
            self.wfile.write(EVIL_PAGE)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def origin_denials(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.kind == "access.denied").order_by(AuditEntry.seq)
        )
        return [r for r in rows if r.data.get("what") == "origin"]


def open_sessions(rt: Runtime) -> int:
    with rt.sessions() as s:
        return len(list(s.scalars(select(StaffSession).where(StaffSession.ended_at.is_(None)))))


def test_a_page_on_another_port_cannot_act_with_the_cashiers_session(
    browser: Any,
    runtime: Runtime,
    store: StoreFixture,
    live: ServerThread,
    evil: str,
) -> None:
    base = live.base_url
    context = browser.new_context()
    page = context.new_page()
    sign_in_register(page, base, "cashier")
    assert open_sessions(runtime) == 1

    page.goto(f"{evil}/prize.html")
    logout = f"{base}/api/v1/auth/logout"
    # A simple request (no pre-flight): it reaches the server with the cookie and is refused.
    with page.expect_response(lambda r: r.url == logout) as sent:
        kind = page.evaluate(
            """async (u) => { try {
                 const r = await fetch(u, {method: 'POST', credentials: 'include',
                                            mode: 'no-cors'});
                 return r.type; } catch (e) { return 'error'; } }""",
            logout,
        )
    assert kind == "opaque"
    assert sent.value.status == 403
    # With the pages' header: the browser asks first (CORS pre-flight), is not allowed, and
    # never sends the POST.
    assert (
        page.evaluate(
            """async (u) => { try {
                 await fetch(u, {method: 'POST', credentials: 'include',
                                 headers: {'X-Vertrouwd': '1'}});
                 return 'sent'; } catch (e) { return 'blocked'; } }""",
            logout,
        )
        == "blocked"
    )
    # A form post into a hidden frame.
    with page.expect_response(lambda r: r.url == logout) as posted:
        page.evaluate(
            "(u) => { const f = document.getElementById('f'); f.action = u; f.submit(); }", logout
        )
    assert posted.value.status == 403
    # The tablet's socket: never opened, no card received.
    ws = page.evaluate(
        """(u) => new Promise(done => {
             const ws = new WebSocket(u); let opened = false; const got = [];
             ws.onopen = () => { opened = true; };
             ws.onmessage = (e) => got.push(e.data);
             ws.onclose = (e) => done({opened, got, code: e.code}); })""",
        f"ws://127.0.0.1:{live.port}/ws/tablet",
    )
    assert ws["opened"] is False
    assert ws["got"] == []

    denied = origin_denials(runtime)
    assert [d.data["path"] for d in denied] == [
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/logout",
        "WEBSOCKET /ws/tablet",
    ]
    assert {d.actor for d in denied} == {"staff:cashier"}
    assert {d.data["origin"] for d in denied} == {evil}
    assert open_sessions(runtime) == 1  # not signed out

    # The app's own pages still work with the same session: the tablet's socket goes live,
    # and signing out from the register (a POST the page sends) works.
    page.goto(f"{base}/tablet")
    page.wait_for_selector("#status:has-text('live')")
    page.goto(f"{base}/register")
    page.wait_for_selector("#app:not([hidden])")
    page.click("#sign-out")
    page.wait_for_selector("#login-view:not([hidden])")
    assert open_sessions(runtime) == 0
    assert len(origin_denials(runtime)) == 3
    context.close()
