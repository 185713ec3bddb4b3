"""Kill -9 the server while an edge posts arrivals and two tablets listen, then start it again:
the edge queues what it cannot send on disk and replays it, the tablets reconnect and catch up,
and every event becomes exactly one receipt, one visit and one card on each tablet."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from server.db.clienteling import Visit
from server.db.recognition import EventReceipt
from server.settings import ServerSettings
from tests.faults.harness import (
    Edge,
    ServerProcess,
    Tablet,
    closing_all,
    count_rows,
    login,
    record,
    seed_store,
    visit_ids,
    wait_until,
)
from tests.waiting import HANG_S

pytestmark = pytest.mark.faults

MEMBERS = 40
RATE_S = 0.1
"""The scripted camera confirms one arrival every 0.1 s (far above a real entrance)."""
KILL_AFTER = 8
"""Events put before the kill."""
DOWN_S = 2.0
"""How long the killed server stays down before it is started again."""


def test_server_killed_and_restarted_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path / "server", environment="test")
    seeded = seed_store(settings, members=MEMBERS)
    server = ServerProcess(settings)
    server.start()
    edge = Edge(
        server_url=server.base, enrolment_code=seeded.enrolment_code, data_dir=tmp_path / "edge"
    )
    tablets = [Tablet(server.base, login(server.base, "sales")) for _ in range(2)]
    late = Tablet(server.base, login(server.base, "sales"))
    """Loses its connection at the kill and comes back only after the backlog was replayed:
    everything it missed must come from the catch-up."""
    tablets.append(late)
    with closing_all(server, edge, *tablets):
        for tablet in tablets:
            tablet.start()
        wait_until(lambda: all(t.connects for t in tablets), HANG_S, "tablets connected")
        edge.start()

        # the scripted camera: one arrival per member, paced, across the kill and restart
        put_done = threading.Event()

        def camera() -> None:
            for n, subject in enumerate(seeded.subjects):
                if n == KILL_AFTER:
                    kill_now.set()
                edge.arrival(subject)
                time.sleep(RATE_S)  # the pace of the scripted source, not synchronisation
            put_done.set()

        kill_now = threading.Event()
        threading.Thread(target=camera, daemon=True).start()
        assert kill_now.wait(HANG_S)
        late.away.set()
        killed_at = time.monotonic()
        server.kill()
        time.sleep(DOWN_S)  # the length of the fault, not synchronisation
        restart_s = server.start()  # same port, same data
        ready_at = time.monotonic()
        outage_s = ready_at - killed_at

        assert put_done.wait(HANG_S)
        drained = edge.sender.drain(HANG_S)
        assert drained, f"edge still holds {edge.sender.pending} events"
        drained_at = time.monotonic()
        missed = visit_ids(settings) - late.visits()
        late.away.clear()
        for tablet in tablets:
            wait_until(
                lambda t=tablet: len(t.visits()) >= MEMBERS,  # type: ignore[misc]
                HANG_S,
                lambda t=tablet: f"every card on the tablets; {t.describe()}",  # type: ignore[misc]
            )
        cards_at = time.monotonic()

        receipts = count_rows(settings, EventReceipt)
        visits = visit_ids(settings)
        sent_in_outage = sum(1 for at in edge.put_at.values() if killed_at <= at < ready_at)
        queue = edge.sender.offline_queue
        assert queue is not None
        # every event exactly once: one receipt, one visit (one member each)
        assert receipts == MEMBERS
        assert len(visits) == MEMBERS
        assert count_rows(settings, Visit) == MEMBERS
        assert edge.sender.sent == MEMBERS  # accepted once each (duplicates are not accepted)
        # events put while the server was dead went through the encrypted disk queue
        assert sent_in_outage >= 1
        assert queue.written >= sent_in_outage
        assert edge.sender.replayed == queue.written
        assert queue.files() == []  # nothing left on disk after the replay
        assert edge.sender.dropped_by_reason == {}
        for tablet in tablets:
            assert tablet.errors == []
            assert tablet.visits() == visits  # every card, on every tablet
            pushes = Counter(tablet.pushed)
            assert max(pushes.values()) == 1, "a card was pushed twice"
            assert len(tablet.connects) >= 2, "the tablet did not reconnect"
        assert missed, "the late tablet missed nothing: the scenario did not happen"
        assert missed <= late.caught_up  # caught up on reconnect, as the page does
        assert not missed & set(late.pushed)
        reconnect_s = (
            max(min(c for c in t.connects if c >= killed_at) for t in tablets[:2]) - ready_at
        )

    record(
        "server_kill",
        {
            "events": MEMBERS,
            "outage_s": round(outage_s, 2),
            "server_restart_s": round(restart_s, 2),
            "events_put_during_outage": sent_in_outage,
            "events_queued_on_disk": queue.written,
            "events_replayed": edge.sender.replayed,
            "duplicates_seen_by_server": edge.sender.duplicates,
            "receipts": receipts,
            "visits": len(visits),
            "tablet_reconnect_after_ready_s": round(max(0.0, reconnect_s), 2),
            "edge_drained_after_ready_s": round(drained_at - ready_at, 2),
            "all_cards_after_ready_s": round(cards_at - ready_at, 2),
            "cards_by_catch_up": [len(t.caught_up - set(t.pushed)) for t in tablets],
            "late_tablet_cards_by_catch_up": len(missed),
        },
    )
