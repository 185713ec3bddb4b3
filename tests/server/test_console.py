"""The privacy officer's console through its JSON API, against a world written by the real
services (``tests/server/console_world.py``): the consent log and each record's history, audit
chain verification (clean, edited, deleted, kept across a restart), deletion proofs with device
confirmations, the staff access log and its flags, incidents, retention, devices, the go-live
gate, and the exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from server.app import create_app
from server.db.audit import AuditEntry, AuditVerification
from server.db.recognition import StoreZone
from server.db.session import transaction
from server.db.stores import Store
from server.runtime import Runtime, build_runtime
from server.services import localtime
from server.services.clienteling import visits
from server.services.console import views as console
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.console_world import OFFICER, World, build_world, identity
from tests.server.factories import device_token, make_member, make_visit

API = "/api/v1/console"


@pytest.fixture
def world(runtime: Runtime, store: StoreFixture) -> World:
    return build_world(runtime, store)


@pytest.fixture
def officer(settings: ServerSettings, runtime: Runtime, world: World) -> Iterator[TestClient]:
    """A client signed in as the privacy officer (started after the world was written)."""
    with TestClient(create_app(settings, runtime=runtime)) as c:
        sign_in(c, OFFICER)
        yield c


def entries(rt: Runtime, kind: str) -> list[AuditEntry]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.kind == kind).order_by(AuditEntry.seq)
            )
        )


# -- consent log ---------------------------------------------------------------------------


def test_consent_log_finds_a_customer_and_filters(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    rows = officer.get(f"{API}/consents", params={"customer": "anna"}).json()
    assert [r["customer_name"] for r in rows] == ["Anna de Vries", "Anna de Vries"]
    assert sorted(r["status"] for r in rows) == ["active", "renewed"]
    renewed = next(r for r in rows if r["status"] == "renewed")
    active = next(r for r in rows if r["status"] == "active")
    assert renewed["renewed_by"] == active["consent_id"]
    assert active["renewed_from"] == renewed["consent_id"]
    assert (
        officer.get(f"{API}/consents", params={"customer": "L-1001"}).json()[0]["customer_name"]
        == "Anna de Vries"
    )  # by loyalty number

    def names(**params: str) -> list[str | None]:
        r = officer.get(f"{API}/consents", params=params)
        assert r.status_code == 200, r.text
        return sorted((x["customer_name"] or "(erased)") for x in r.json())

    assert names(status="withdrawn") == ["Bram Bakker"]
    assert names(status="erased") == ["(erased)"]
    assert names(status="expired") == ["Eva Visser"]
    assert names(status="renewed") == ["Anna de Vries"]
    assert names(store="amsterdam") == ["Eva Visser"]  # her consent covers every store ("*")
    assert names(version="2026-11-v1") == ["Anna de Vries"]  # the renewal used the current text
    assert names(channel="portal") == []
    today = localtime.day_of(world.anna.created_at, runtime.settings.zone)  # a local day
    assert len(names(**{"from": str(today), "to": str(today)})) == 6
    tomorrow = str(today + timedelta(days=1))
    assert names(**{"from": tomorrow, "to": tomorrow}) == []
    bad = officer.get(f"{API}/consents", params={"status": "maybe"})
    assert bad.status_code == 422
    assert "status" in bad.json()["detail"]
    bad = officer.get(f"{API}/consents", params={"from": "yesterday"})
    assert bad.status_code == 422
    assert "YYYY-MM-DD" in bad.json()["detail"]


def test_a_records_full_history_and_opening_it_is_audited(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    rows = officer.get(f"{API}/consents", params={"customer": "Anna", "status": "renewed"}).json()
    h = officer.get(f"{API}/consents/{rows[0]['consent_id']}").json()
    assert h["subject"] == world.anna.subject_id
    assert [r["status"] for r in h["related"]] == ["renewed", "active"]
    kinds = [e["kind"] for e in h["events"]]
    assert "consent.renewed" in kinds
    # the first record was written without an audit entry: its own date fills the gap
    given = [e for e in h["events"] if e["kind"] == "consent.given"]
    assert [(e["seq"], e["details"]["source"]) for e in given] == [(None, "consent record")]
    assert "profile.viewed" in kinds  # the tablet opening during her visit
    viewed = entries(runtime, "console.viewed")
    assert viewed[-1].actor == f"staff:{OFFICER}"
    assert viewed[-1].subject == world.anna.subject_id
    assert viewed[-1].data["consent_id"] == rows[0]["consent_id"]

    # an erased customer's record: found by the pseudonym on its withdrawal entry; no name
    erased = officer.get(f"{API}/consents", params={"status": "erased"}).json()[0]
    h = officer.get(f"{API}/consents/{erased['consent_id']}").json()
    assert h["record"]["customer_name"] is None
    assert h["subject"] == world.carla_subject
    assert {"consent.withdrawn", "customer.erased"} <= {e["kind"] for e in h["events"]}
    assert "Carla" not in json.dumps(h)
    assert officer.get(f"{API}/consents/nope").status_code == 404
    page = officer.get("/console/consents/nope")
    assert page.status_code == 404
    assert "There is no such consent record" in page.text


# -- audit chain ---------------------------------------------------------------------------


def test_verify_now_on_a_clean_then_an_edited_chain_survives_a_restart(
    officer: TestClient, settings: ServerSettings, runtime: Runtime, world: World
) -> None:
    assert officer.get(f"{API}/audit").json()["last_run"] is None
    cp = officer.post(f"{API}/audit/checkpoint").json()
    ok = officer.post(f"{API}/audit/verify").json()
    assert ok["ok"] is True
    assert ok["first_bad_seq"] is None
    assert ok["checkpoints"] == 1
    assert ok["entries"] == ok["checked"] == cp["seq"]

    # someone edits entry 5 in the database, behind the application's back
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 5"))
    bad = officer.post(f"{API}/audit/verify").json()
    assert bad["ok"] is False
    assert bad["first_bad_seq"] == 5
    assert bad["checked"] == 4
    assert "hash does not match" in bad["reason"]
    entry = bad["first_bad_entry"]
    assert entry["actor"] == "staff:mallory"
    assert entry["stored_hash"] != entry["recomputed_hash"]

    # the result survives a restart: a new process reads the last run from the database
    rt2 = build_runtime(settings)
    try:
        with TestClient(create_app(settings, runtime=rt2)) as c2:
            sign_in(c2, OFFICER)
            status = c2.get(f"{API}/audit").json()
            assert status["last_run"]["ok"] is False
            assert status["first_bad_entry"]["seq"] == 5
            assert [r["ok"] for r in status["runs"]] == [False, True]
            page = c2.get("/console/audit").text
            assert "Broken at entry 5" in page
            assert "staff:mallory" in page
    finally:
        rt2.close()
    with runtime.sessions() as session:
        runs = list(session.scalars(select(AuditVerification).order_by(AuditVerification.id)))
    assert [(r.ok, r.actor) for r in runs] == [(True, "staff:officer"), (False, "staff:officer")]


def test_a_deleted_entry_is_reported_missing(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 7"))
    bad = officer.post(f"{API}/audit/verify").json()
    assert bad["ok"] is False
    assert bad["first_bad_seq"] == 7
    assert bad["first_bad_entry"]["present"] is False
    assert "Entry #7 is <strong>missing</strong>" in officer.get("/console/audit").text


# -- deletion proofs -----------------------------------------------------------------------


def test_deletion_proofs_name_the_gallery_version_and_each_devices_confirmation(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    proofs = officer.get(f"{API}/deletions").json()
    kinds = [p["kind"] for p in proofs]
    assert sorted(kinds) == ["erased", "expired", "withdrawn"]
    bram = next(p for p in proofs if p["kind"] == "withdrawn")
    assert bram["customer_name"] == "Bram Bakker"
    assert bram["gallery_versions"] == {"utrecht": world.withdrawal_version}
    states = {d["device_id"]: d for d in bram["devices"]}
    assert states[world.device_ok]["state"] == "confirmed"
    assert states[world.device_ok]["version"] == world.withdrawal_version
    assert states[world.device_ok]["delay_s"] == pytest.approx(2.0, abs=0.5)
    assert states[world.device_late]["state"] == "waiting"
    assert bram["complete"] is False
    assert bram["devices_waiting"] == 1
    erased = next(p for p in proofs if p["kind"] == "erased")
    assert erased["customer_name"] is None
    assert erased["subject"] == world.carla_subject
    assert erased["devices_waiting"] == 2  # neither device has the erasure's version yet

    page = officer.get("/console/deletions").text
    assert "not confirmed yet" in page
    assert "2 not yet confirmed by every device" in page

    # both devices install the newest gallery: every proof is complete
    from server.db.recognition import EdgeDevice
    from server.services.recognition import devices

    with transaction(runtime.sessions) as session:
        store = session.get(Store, world.store.id)
        assert store is not None
        for device_id in (world.device_ok, world.device_late):
            device = session.get(EdgeDevice, device_id)
            assert device is not None
            devices.acknowledge(
                session, device=device, version=store.gallery_version, now=runtime.now()
            )
    proofs = officer.get(f"{API}/deletions").json()
    assert all(p["complete"] for p in proofs), proofs
    # a revoked device that never confirmed is shown as revoked, not as waiting
    with transaction(runtime.sessions) as session:
        from server.services.membership.lifecycle import withdraw

        withdraw(session, runtime.context(), customer_id=world.anna.id, actor="portal",
                 channel="portal")  # fmt: skip
    assert officer.post(f"{API}/devices/{world.device_late}/revoke").status_code == 200
    anna = next(
        p for p in officer.get(f"{API}/deletions").json() if p["customer_name"] == "Anna de Vries"
    )
    assert {d["device_id"]: d["state"] for d in anna["devices"]} == {
        world.device_ok: "waiting",
        world.device_late: "revoked",
    }


# -- staff access log ----------------------------------------------------------------------


def test_access_log_shows_the_tablet_and_flags_openings_without_a_visit_and_refusals(
    officer: TestClient, world: World
) -> None:
    log = officer.get(f"{API}/access").json()
    rows = log["rows"]
    anna = next(r for r in rows if r["customer_name"] == "Anna de Vries")
    assert anna["staff"] == "sales"
    assert anna["what"] == "card"
    assert anna["flags"] == []
    assert anna["tablet"].startswith("Safari on iPad #")
    assert "session " in anna["tablet"]
    assert anna["visit_arrived_at"] is not None
    dirk = next(r for r in rows if r["customer_name"] == "Dirk Smit")
    assert dirk["flags"] == ["no visit on record for this opening"]
    kinds = sorted(f["kind"] for f in log["flags"])
    assert kinds == ["denials", "no_visit"]
    burst = next(f for f in log["flags"] if f["kind"] == "denials")
    assert burst["staff"] == "sales"
    assert burst["count"] == 5
    assert officer.get(f"{API}/access", params={"staff": "nobody"}).json()["rows"] == []


def test_one_account_opening_many_members_within_an_hour_is_flagged(
    officer: TestClient, runtime: Runtime, world: World, store: StoreFixture
) -> None:
    sales = identity(runtime, "sales")

    def open_cards(n: int) -> None:
        for i in range(n):
            member = make_member(runtime, f"Member {len(names) + i}", stores=["utrecht"])
            visit = make_visit(runtime, member.id, store.id)
            with transaction(runtime.sessions) as session:
                visits.reveal(session, who=sales, visit_id=visit, now=runtime.now())
        names.extend(range(n))

    names: list[int] = []
    # with Anna's card and Dirk's profile: exactly the limit, not more
    open_cards(console.MANY_PROFILES_PER_HOUR - 2)
    flags = officer.get(f"{API}/access").json()["flags"]
    assert "many_profiles" not in {f["kind"] for f in flags}
    open_cards(1)
    flags = officer.get(f"{API}/access").json()["flags"]
    many = [f for f in flags if f["kind"] == "many_profiles"]
    assert len(many) == 1
    assert many[0]["staff"] == "sales"
    assert many[0]["count"] == console.MANY_PROFILES_PER_HOUR + 1


# -- incidents -----------------------------------------------------------------------------


def test_the_officer_records_an_incidents_outcome(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    rows = officer.get(f"{API}/incidents").json()
    assert len(rows) == 1
    i = rows[0]
    assert (i["customer_name"], i["device_name"], i["outcome"]) == (
        "Dirk Smit",
        "entrance left",
        "open",
    )
    assert i["score"] == pytest.approx(0.41)
    assert i["margin"] == pytest.approx(0.3)
    url = f"{API}/incidents/{world.incident_id}/outcome"
    r = officer.post(url, json={"outcome": "confirmed", "note": ""})
    assert r.status_code == 422
    assert "note" in r.json()["detail"]
    assert officer.post(url, json={"outcome": "dunno", "note": "x"}).status_code == 422
    assert officer.post(f"{API}/incidents/424242/outcome",
                        json={"outcome": "confirmed", "note": "x"}).status_code == 404  # fmt: skip
    r = officer.post(url, json={"outcome": "confirmed", "note": "Twin brother; re-enrol advised"})
    assert r.status_code == 200
    assert r.json()["resolved_by"] == OFFICER
    row = officer.get(f"{API}/incidents", params={"outcome": "confirmed"}).json()[0]
    assert row["officer_note"] == "Twin brother; re-enrol advised"
    assert officer.get(f"{API}/incidents", params={"outcome": "open"}).json() == []
    resolved = entries(runtime, "incident.resolved")
    assert len(resolved) == 1
    assert resolved[0].data == {
        "incident_id": world.incident_id,
        "outcome": "confirmed",
        "previous": "open",
        "device": world.device_ok,
        "note": True,
    }
    assert resolved[0].subject == world.dirk.subject_id  # a pseudonym, never the note or name
    assert "Twin" not in json.dumps(resolved[0].data)


# -- retention -----------------------------------------------------------------------------


def test_retention_lists_expiring_consents_destroyed_templates_and_the_limits(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    view = officer.get(f"{API}/retention").json()
    assert [(r["customer_name"], r["days_left"]) for r in view["expiring"]] == [("Dirk Smit", 10)]
    assert [(r["customer_name"], r["reason"], r["templates"]) for r in view["destroyed"]] == [
        ("Eva Visser", "expiry", 1)
    ]
    assert view["limits"]["consent_months"] == runtime.settings.consent_months
    assert view["limits"]["retention_years"] == 3
    assert view["limits"]["gallery_ttl_s"] == runtime.settings.gallery_ttl_s


# -- devices -------------------------------------------------------------------------------


def test_devices_show_their_gallery_and_a_revoked_one_is_shut_out(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    token = device_token(runtime, officer, "utrecht", name="back door")
    rows = {d["name"]: d for d in officer.get(f"{API}/devices").json()}
    assert rows["entrance left"]["gallery_version"] == world.withdrawal_version
    assert rows["entrance left"]["status"] == "behind"  # the erasure came after its last ack
    assert rows["entrance right"]["status"] == "behind"
    assert rows["back door"]["credential"] == "valid"
    headers = {"Authorization": f"Bearer {token}"}
    assert officer.get("/api/v1/device/gallery", headers=headers).status_code == 200
    back = rows["back door"]["id"]
    assert officer.post(f"{API}/devices/{back}/revoke").status_code == 200
    assert officer.get("/api/v1/device/gallery", headers=headers).status_code == 401
    rows = {d["name"]: d for d in officer.get(f"{API}/devices").json()}
    assert rows["back door"]["status"] == "revoked"
    assert rows["back door"]["revoked_at"]
    assert [e.data["device"] for e in entries(runtime, "device.revoked")] == [back]
    assert officer.post(f"{API}/devices/nope/revoke").status_code == 404


# -- the go-live gate ----------------------------------------------------------------------

ZONE = {"x": 0.2, "y": 0.1, "w": 0.6, "h": 0.8, "min_face_size": 90}


def test_no_gallery_before_go_live_and_a_refused_go_live_writes_nothing(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    token = device_token(runtime, officer, "amsterdam", name="amsterdam door")
    headers = {"Authorization": f"Bearer {token}"}
    r = officer.get("/api/v1/device/gallery", headers=headers)
    assert r.status_code == 403
    assert "signage" in r.json()["detail"]
    url = f"{API}/stores/amsterdam/go-live"
    before = len(entries(runtime, "store.live"))
    refusals = [
        ({"signage_confirmed": False, "dpia_reference": "DPIA-9", "zone": ZONE,
          "mode": "checkin"}, "signage"),
        ({"signage_confirmed": True, "dpia_reference": "  ", "zone": ZONE, "mode": "pass"},
         "DPIA"),
        (
            {"signage_confirmed": True, "dpia_reference": "DPIA-9",
             "zone": {**ZONE, "x": 0.5, "w": 0.6}, "mode": "checkin"},
            "inside the camera frame",
        ),
        ({"signage_confirmed": True, "dpia_reference": "DPIA-9",
          "zone": {**ZONE, "min_face_size": 5}, "mode": "checkin"}, "min_face_size"),
        ({"signage_confirmed": True, "dpia_reference": "DPIA-9", "zone": ZONE}, "mode"),
        ({"signage_confirmed": True, "dpia_reference": "DPIA-9", "zone": ZONE,
          "mode": "doorway"}, "mode"),
        ({"signage_confirmed": True, "dpia_reference": "DPIA-9", "zone": ZONE,
          "mode": "door"}, "acknowledge the legal position"),
    ]  # fmt: skip
    for body, reason in refusals:
        r = officer.post(url, json=body)
        assert r.status_code == 422, r.text
        assert reason in r.text
    with runtime.sessions() as session:
        assert session.scalars(select(Store).where(Store.code == "amsterdam")).one().live is False
        assert session.scalars(select(StoreZone)).all() == []
    assert len(entries(runtime, "store.live")) == before
    assert officer.get("/api/v1/device/gallery", headers=headers).status_code == 403

    r = officer.post(
        url,
        json={"signage_confirmed": True, "dpia_reference": "DPIA-9", "zone": ZONE,
              "mode": "checkin"},
    )  # fmt: skip
    assert r.status_code == 200
    assert r.json()["live"] is True
    assert officer.get("/api/v1/device/gallery", headers=headers).status_code == 200
    row = {s["code"]: s for s in officer.get(f"{API}/stores").json()}["amsterdam"]
    assert row["zone"] == ZONE
    assert row["dpia_reference"] == "DPIA-9"
    assert row["zone_recorded_by"] == f"staff:{OFFICER}"
    zone_entry = entries(runtime, "store.zone_recorded")[-1]
    assert zone_entry.data == {"store": "amsterdam", **ZONE}

    r = officer.post(f"{API}/stores/amsterdam/pause", json={"reason": "camera moved"})
    assert r.status_code == 200
    assert r.json()["live"] is False
    assert officer.get("/api/v1/device/gallery", headers=headers).status_code == 403
    assert entries(runtime, "store.paused")[-1].data == {
        "store": "amsterdam",
        "reason": "camera moved",
    }
    assert officer.post(f"{API}/stores/nowhere/pause", json={"reason": "x"}).status_code == 404


# -- exports -------------------------------------------------------------------------------


def parse_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_every_view_exports_as_csv_and_json_for_a_period_and_each_export_is_audited(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    from server.services.console.exports import VIEWS

    today = localtime.today(runtime.now(), runtime.settings.zone)
    period = {"from": str(today - timedelta(days=7)), "to": str(today)}
    before = len(entries(runtime, "console.exported"))
    for view in VIEWS:
        c = officer.get(f"{API}/export/{view}", params={**period, "format": "csv"})
        assert c.status_code == 200, (view, c.text)
        assert c.headers["content-type"].startswith("text/csv")
        assert f"vertrouwd-{view}-" in c.headers["content-disposition"]
        rows = parse_csv(c.content)
        j = officer.get(f"{API}/export/{view}", params={**period, "format": "json"})
        doc = j.json()
        assert doc["view"] == view
        assert doc["period"] == {**period, "timezone": "Europe/Amsterdam"}
        assert doc["timestamps"] == "ISO 8601, UTC (offset +00:00)"
        assert len(rows) == int(c.headers["x-rows"]), view
        # the audit log export also holds the entry that recorded the CSV export just before
        assert len(doc["rows"]) == len(rows) + (view == "audit"), view
    assert len(entries(runtime, "console.exported")) == before + 2 * len(VIEWS)

    consents = parse_csv(officer.get(f"{API}/export/consents", params=period).content)
    assert {r["customer_name"] for r in consents} >= {"Anna de Vries", "Bram Bakker", ""}
    deletions = officer.get(f"{API}/export/deletions", params={**period, "format": "json"}).json()
    assert {r["kind"] for r in deletions["rows"]} == {"withdrawn", "erased", "expired"}
    audit_rows = officer.get(f"{API}/export/audit", params={**period, "format": "json"}).json()
    seqs = [r["seq"] for r in audit_rows["rows"]]
    assert seqs == sorted(seqs)
    assert seqs[0] == 1
    # nothing outside the period
    old = {"from": "2020-01-01", "to": "2020-01-31"}
    assert (
        officer.get(f"{API}/export/consents", params={**old, "format": "json"}).json()["rows"] == []
    )

    assert officer.get(f"{API}/export/consents", params={"format": "xlsx"}).status_code == 422
    assert officer.get(f"{API}/export/everything").status_code == 404
    r = officer.get(f"{API}/export/consents", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert r.status_code == 422
    assert "after it ends" in r.json()["detail"]


def test_a_formula_in_a_name_is_defused_in_csv(
    officer: TestClient, runtime: Runtime, world: World
) -> None:
    make_member(runtime, '=HYPERLINK("http://x")', stores=["utrecht"])
    rows = parse_csv(officer.get(f"{API}/export/consents").content)
    assert '\'=HYPERLINK("http://x")' in {r["customer_name"] for r in rows}


# -- the overview --------------------------------------------------------------------------


def test_overview_counts_and_charts(officer: TestClient, runtime: Runtime, world: World) -> None:
    o = officer.get(f"{API}/overview").json()
    assert o["active_consents"] == 2  # Anna (renewed) and Dirk
    assert (o["live_stores"], o["stores"]) == (1, 2)
    assert o["open_incidents"] == 1
    assert o["pending_deletions"] == 2
    today = localtime.today(runtime.now(), runtime.settings.zone).isoformat()
    day = next(d for d in o["consents_per_day"] if d["day"] == today)
    assert day["given"] == 5  # five members; Anna's renewal is not a new consent
    assert day["ended"] == 3  # Bram withdrew, Carla erased, Eva expired
    arrivals = next(d for d in o["arrivals_per_day"] if d["day"] == today)
    assert (arrivals["arrivals"], arrivals["incidents"]) == (2, 1)
    assert arrivals["incident_rate"] == 50.0
    page = officer.get("/console").text
    assert page.count('<svg class="chart"') == 4
    assert "Consents given and ended per day" in page


def test_pages_render_for_the_officer(officer: TestClient, world: World) -> None:
    for url in (
        "/console",
        "/console/consents",
        "/console/consents?customer=Bram",
        "/console/audit",
        "/console/deletions",
        "/console/access",
        "/console/incidents",
        "/console/retention",
        "/console/devices",
        "/console/stores",
        "/console/ropa",
    ):
        r = officer.get(url)
        assert r.status_code == 200, url
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        assert "<script>" not in r.text, url  # CSP: no inline script ...
        assert " style=" not in r.text, url  # ... and no inline style


def test_a_signed_out_visitor_gets_the_sign_in_form(client: TestClient, world: World) -> None:
    r = client.get("/console/audit")
    assert r.status_code == 401
    assert 'id="login"' in r.text
    assert client.get(f"{API}/audit").status_code == 401
    sign_in(client, OFFICER)
    assert client.get("/console/audit").status_code == 200
