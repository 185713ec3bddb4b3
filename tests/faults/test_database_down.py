"""PostgreSQL stops for 10 s under a running server: the server answers 503 with Retry-After
(never a 500), the edge keeps its events in the encrypted disk queue, and once the database is
back every event is replayed exactly once and every card reaches the tablets."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
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
from tests.faults.pg import private_postgres
from tests.waiting import HANG_S

pytestmark = pytest.mark.faults

DOWN_S = 10.0
BEFORE, DURING, AFTER = 3, 6, 3


def test_database_down_for_10_s_then_everything_recovers(tmp_path: Path) -> None:
    with private_postgres() as pg:
        settings = ServerSettings(
            data_dir=tmp_path / "server",
            environment="test",
            database_url=pg.create_database("vertrouwd"),
        )
        seeded = seed_store(settings, members=BEFORE + DURING + AFTER)
        subjects = iter(seeded.subjects)
        server = ServerProcess(settings)
        server.start()
        edge = Edge(
            server_url=server.base,
            enrolment_code=seeded.enrolment_code,
            data_dir=tmp_path / "edge",
        )
        tablets = [Tablet(server.base, login(server.base, "sales")) for _ in range(2)]
        with closing_all(server, edge, *tablets):
            for tablet in tablets:
                tablet.start()
            wait_until(lambda: all(t.connects for t in tablets), HANG_S, "tablets connected")
            edge.start()
            for _ in range(BEFORE):
                edge.arrival(next(subjects))
            assert edge.sender.drain(HANG_S)
            for tablet in tablets:
                wait_until(lambda t=tablet: len(t.visits()) == BEFORE, HANG_S, "first cards")  # type: ignore[misc]

            stopped_s = pg.stop()
            down_at = time.monotonic()
            try:
                # the server says "unavailable, retry", not 500
                probe = httpx.post(
                    f"{server.base}/api/v1/device/events",
                    headers={"Authorization": f"Bearer {edge.identity.token}"},
                    json={"events": []},
                    timeout=10,
                )
                assert probe.status_code == 503, probe.text
                assert probe.headers["Retry-After"] == "5"
                assert "database" in probe.json()["detail"]
                with httpx.Client(timeout=10, cookies={"vt_session": tablets[0].cookie}) as c:
                    assert c.get(f"{server.base}/api/v1/visits/live").status_code == 503

                for _ in range(DURING):
                    edge.arrival(next(subjects))
                queued_s = wait_until(
                    lambda: edge.sender.queued_on_disk == DURING, HANG_S, "events on disk"
                )
                assert edge.sender.offline
                assert edge.sender.retry_after == 5.0  # the server's Retry-After is honoured
                assert count_rows_safe_is_unavailable(settings)
                remaining = DOWN_S - (time.monotonic() - down_at)
                time.sleep(max(0.0, remaining))  # the length of the fault, not synchronisation
            finally:
                started_s = pg.start()  # always: other work may need it again
            up_at = time.monotonic()
            outage_s = up_at - down_at

            for _ in range(AFTER):
                edge.arrival(next(subjects))
            assert edge.sender.drain(HANG_S), f"edge still holds {edge.sender.pending} events"
            drained_at = time.monotonic()
            total = BEFORE + DURING + AFTER
            for tablet in tablets:
                wait_until(lambda t=tablet: len(t.visits()) == total, HANG_S, "every card")  # type: ignore[misc]
            cards_at = time.monotonic()

            visits = visit_ids(settings)
            assert count_rows(settings, EventReceipt) == total
            assert count_rows(settings, Visit) == total
            assert edge.sender.sent == total
            assert edge.sender.replayed >= DURING
            assert edge.sender.failures >= 1
            assert edge.sender.offline_queue is not None
            assert edge.sender.offline_queue.files() == []
            for tablet in tablets:
                assert tablet.errors == []
                assert tablet.visits() == visits
                assert len(tablet.pushed) == len(set(tablet.pushed))
            healthy = httpx.get(f"{server.base}/healthz", timeout=5)
            assert healthy.status_code == 200
            server_log = server.log_tail()
            assert "Traceback" not in server_log, server_log

    record(
        "database_down",
        {
            "database_down_s": round(outage_s, 2),
            "pg_stop_s": round(stopped_s, 2),
            "pg_start_s": round(started_s, 2),
            "events_before": BEFORE,
            "events_during": DURING,
            "events_after": AFTER,
            "events_on_disk_within_s": round(queued_s, 2),
            "events_replayed": edge.sender.replayed,
            "send_failures": edge.sender.failures,
            "edge_drained_after_db_up_s": round(drained_at - up_at, 2),
            "all_cards_after_db_up_s": round(cards_at - up_at, 2),
        },
    )


def count_rows_safe_is_unavailable(settings: ServerSettings) -> bool:
    """The database really is down (not just the server refusing)."""
    import sqlalchemy.exc

    try:
        count_rows(settings, EventReceipt)
    except sqlalchemy.exc.OperationalError:
        return True
    return False
