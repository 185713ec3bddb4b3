"""The tablet socket's session checks (server/session_watch.py): a ping costs no query while the
session cannot have run out, and what ends a session without a sign-out message (an account
deactivated by another program) is still found by the process's sweep within a ping interval.
The sign-out and idle-timeout closes are tested in test_access_control.py."""

from __future__ import annotations

import operator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from starlette.websockets import WebSocketDisconnect

from server.api.tablet import PING_S
from server.db.session import transaction
from server.db.staff import Staff
from server.runtime import Runtime
from tests.server.conftest import StoreFixture, sign_in


def test_pings_between_sweeps_cost_no_query_and_the_sweep_finds_a_deactivated_account(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    sign_in(client, "sales")
    start = runtime.now()
    runtime.clock = lambda: start
    session_queries: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "staff_sessions" in statement:
            session_queries.append(statement)

    with client.websocket_connect("/ws/tablet") as ws:
        assert ws.receive_json()["type"] == "hello"
        event.listen(runtime.engine, "before_cursor_execute", seen)
        try:
            for second in range(6):  # within the first interval: no sweep, and no query
                runtime.clock = partial(operator.add, start, timedelta(seconds=second))
                ws.send_text("ping")
            # deactivated behind the server's back: no broker message tells the socket
            with transaction(runtime.sessions) as session:
                sales = session.scalar(select(Staff).where(Staff.username == "sales"))
                assert sales is not None
                sales.active = False
            runtime.clock = lambda: start + timedelta(seconds=PING_S + 1)
            ws.send_text("ping")  # the sweep is due: it finds the account gone
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
        finally:
            event.remove(runtime.engine, "before_cursor_execute", seen)
    # seven pings, one sweep (one query), no query of its own for any ping
    assert len(session_queries) == 1, session_queries


def test_a_sign_out_closes_every_tablet_socket_of_that_session_at_once(
    client: TestClient, runtime: Runtime, store: StoreFixture
) -> None:
    """Two tablets on one session: the sign-out's broker message closes both, before either
    pings again (a ping alone would not query the database yet)."""
    sign_in(client, "sales")
    with (
        client.websocket_connect("/ws/tablet") as first,
        client.websocket_connect("/ws/tablet") as second,
    ):
        assert first.receive_json()["type"] == "hello"
        assert second.receive_json()["type"] == "hello"
        assert client.post("/api/v1/auth/logout").status_code == 204
        for ws in (first, second):
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
