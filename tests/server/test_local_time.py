"""Local time for the stores (``VERTROUWD_TIMEZONE``, default Europe/Amsterdam): pages show
times in that zone with its abbreviation, the console's days run from local midnight to local
midnight (an event late in the evening UTC counts on the next local day), and exports keep UTC
with an explicit offset. The database holds UTC throughout.

Formatting is checked on both sides of the two daylight-saving changes of 2026 (29 March and
25 October in Europe/Amsterdam); the console through its real HTTP API and pages on SQLite and
PostgreSQL, with the runtime's clock set to a fixed instant."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from server.api import pages
from server.api.console import fmt_day, fmt_dt
from server.app import create_app
from server.db.clienteling import Visit
from server.db.membership import ConsentRecord
from server.db.recognition import Incident
from server.db.session import transaction
from server.runtime import Runtime
from server.services import localtime
from server.services.console import views as console
from server.services.ids import new_id
from server.settings import ServerSettings
from tests.server.conftest import StoreFixture, sign_in
from tests.server.factories import make_member, make_staff

AMS = ZoneInfo("Europe/Amsterdam")
API = "/api/v1/console"
OFFICER = "officer"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, s: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, s, tzinfo=UTC)


# -- formatting across the daylight-saving changes -------------------------------------------


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        # 29 March 2026: at 01:00 UTC the clocks go from 02:00 CET to 03:00 CEST
        (utc(2026, 3, 28, 23, 30), "29 Mar 2026 00:30 CET"),
        (utc(2026, 3, 29, 0, 59), "29 Mar 2026 01:59 CET"),
        (utc(2026, 3, 29, 1, 0), "29 Mar 2026 03:00 CEST"),
        (utc(2026, 3, 29, 12, 0), "29 Mar 2026 14:00 CEST"),
        # 25 October 2026: at 01:00 UTC the clocks go from 03:00 CEST back to 02:00 CET, so
        # 02:30 happens twice; the abbreviation tells them apart
        (utc(2026, 10, 25, 0, 30), "25 Oct 2026 02:30 CEST"),
        (utc(2026, 10, 25, 1, 30), "25 Oct 2026 02:30 CET"),
        (utc(2026, 10, 24, 22, 30), "25 Oct 2026 00:30 CEST"),
        (utc(2026, 11, 25, 14, 5), "25 Nov 2026 15:05 CET"),
    ],
)
def test_the_console_shows_local_time_with_its_abbreviation(instant: datetime, shown: str) -> None:
    assert fmt_dt(instant, AMS) == shown
    assert fmt_dt(instant.replace(tzinfo=None), AMS) == shown  # naive, as stored: UTC
    assert "UTC" not in fmt_dt(instant, AMS)


def test_seconds_days_and_the_self_service_pages_formats_across_both_changes() -> None:
    assert fmt_dt(utc(2026, 3, 29, 0, 59, 59), AMS, seconds=True) == "29 Mar 2026 01:59:59 CET"
    assert fmt_dt(utc(2026, 10, 25, 0, 59, 59), AMS, True) == "25 Oct 2026 02:59:59 CEST"
    assert fmt_dt(None, AMS) == "—"
    # 22:30 UTC is already the next day in Amsterdam, in summer (CEST) and in winter (CET)
    assert fmt_day(utc(2026, 3, 28, 23, 30), AMS) == "29 Mar 2026"
    assert fmt_day(utc(2026, 10, 24, 22, 30), AMS) == "25 Oct 2026"
    assert fmt_day(utc(2026, 10, 25, 22, 30), AMS) == "25 Oct 2026"  # 23:30 CET: same day
    assert fmt_day(date(2026, 10, 25), AMS) == "25 Oct 2026"
    # /me and the receipt: a Dutch date and a clock, both local
    assert pages.format_date(utc(2026, 10, 24, 22, 30), "nl", AMS) == "25 oktober 2026"
    assert pages.format_date("2026-03-28T23:30:00+00:00", "en", AMS) == "29 March 2026"
    assert pages.format_clock("2026-03-29T00:59:00+00:00", AMS) == "01:59 CET"
    assert pages.format_clock("2026-03-29T01:00:00+00:00", AMS) == "03:00 CEST"
    assert pages.format_clock(utc(2026, 10, 25, 0, 30), AMS) == "02:30 CEST"
    assert pages.format_clock(utc(2026, 10, 25, 1, 30), AMS) == "02:30 CET"
    # another zone is only a setting away; a zone without letters gets a readable offset
    assert fmt_dt(utc(2026, 11, 25, 14, 5), ZoneInfo("UTC")) == "25 Nov 2026 14:05 UTC"
    assert fmt_dt(utc(2026, 11, 25, 14, 5), ZoneInfo("Asia/Kolkata")).endswith("19:35 IST")
    assert fmt_dt(utc(2026, 11, 25, 14, 5), ZoneInfo("Asia/Dubai")).endswith("18:05 UTC+04")
    assert localtime.zone_note(AMS, year=2026) == "Europe/Amsterdam (CET/CEST)"
    assert localtime.zone_note(ZoneInfo("UTC"), year=2026) == "UTC"


def test_a_local_day_is_23_or_25_hours_long_on_the_days_the_clocks_change() -> None:
    def hours(day: date) -> float:
        start, end = localtime.day_bounds(day, AMS)
        return (end - start).total_seconds() / 3600

    assert localtime.day_start(date(2026, 3, 29), AMS) == utc(2026, 3, 28, 23)
    assert (hours(date(2026, 3, 29)), hours(date(2026, 10, 25)), hours(date(2026, 11, 25))) == (
        23,
        25,
        24,
    )
    period = console.parse_period(
        "2026-03-28", "2026-03-30", now=utc(2026, 4, 1, 12), tz=AMS, default_days=30
    )
    assert (period.start, period.end) == (utc(2026, 3, 27, 23), utc(2026, 3, 30, 22))
    assert period.days() == [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
    assert period.as_json() == {"from": "2026-03-28", "to": "2026-03-30", "timezone": AMS.key}


def test_a_console_day_is_dd_mm_yyyy_or_iso_and_nothing_else() -> None:
    """The console's date fields take dd-mm-yyyy (issue 16: a browser's own date field showed
    mm/dd/yyyy); links and the JSON API keep ISO. A day that does not exist is refused."""
    for text in ("25-11-2026", "25/11/2026", "25.11.2026", "2026-11-25", " 25-11-2026 "):
        assert console.parse_day(text) == date(2026, 11, 25), text
    assert console.parse_day("3-1-2026") == date(2026, 1, 3)  # day first, not month
    for text in ("31-02-2026", "11/25/2026", "2026", "yesterday", "25-11-26"):
        with pytest.raises(console.PeriodError) as refused:
            console.parse_day(text)
        assert refused.value.code == "bad_date"
        assert refused.value.values == {"value": text}
    with pytest.raises(console.PeriodError) as backwards:
        console.parse_period("25-11-2026", "24-11-2026", now=utc(2026, 12, 1, 12), tz=AMS)
    assert backwards.value.code == "reversed"
    assert backwards.value.values == {"first": "25-11-2026", "last": "24-11-2026"}


def test_today_and_the_default_period_are_local() -> None:
    late = utc(2026, 11, 25, 23, 30)  # 00:30 on 26 November in Amsterdam
    period = console.parse_period(None, None, now=late, tz=AMS)
    assert (period.first_day, period.last_day) == (date(2026, 10, 28), date(2026, 11, 26))
    assert period.end == utc(2026, 11, 26, 23)
    in_utc = console.parse_period(None, None, now=late, tz=ZoneInfo("UTC"))
    assert in_utc.last_day == date(2026, 11, 25)


# -- the setting -------------------------------------------------------------------------------


def test_the_timezone_setting_defaults_to_amsterdam_and_refuses_a_bad_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VERTROUWD_TIMEZONE", raising=False)
    s = ServerSettings(environment="test")
    assert s.timezone == "Europe/Amsterdam"
    assert s.zone == AMS
    assert ServerSettings(environment="test", timezone="Europe/Brussels").zone.key == (
        "Europe/Brussels"
    )
    for bad in ("Europe/Amsterdm", "europe/amsterdam", "Mars/Olympus", "", "../etc/passwd",
                "localtime", "CET+1"):  # fmt: skip
        with pytest.raises(ValidationError) as exc:
            ServerSettings(environment="test", timezone=bad)
        assert "VERTROUWD_TIMEZONE" in str(exc.value)
        assert "not an IANA time zone" in str(exc.value)
    # the way a deployment sets it: the process refuses to start with a clear reason
    monkeypatch.setenv("VERTROUWD_TIMEZONE", "Amsterdam")
    with pytest.raises(ValidationError, match="'Amsterdam' is not an IANA time zone name"):
        ServerSettings(environment="test")
    monkeypatch.setenv("VERTROUWD_TIMEZONE", "America/Curacao")
    assert ServerSettings(environment="test").zone.key == "America/Curacao"


# -- the console: local days over real HTTP ----------------------------------------------------

NOW = utc(2026, 11, 26, 12, 0)
"""The console is looked at on 26 November 2026, 13:00 CET."""
WINTER = utc(2026, 11, 24, 23, 30)
"""24 November 23:30 UTC: 25 November 00:30 CET, so the 25th in Amsterdam."""
SUMMER = utc(2026, 7, 14, 22, 30)
"""14 July 22:30 UTC: 15 July 00:30 CEST."""


def at(rt: Runtime, when: datetime) -> None:
    rt.clock = lambda: when


def arrival_and_report(rt: Runtime, store: StoreFixture, name: str, when: datetime) -> str:
    """A member who joined at ``when``, walked in at ``when`` and was reported 'not this person'
    the same minute. Returns the member's id."""
    at(rt, when)
    member = make_member(rt, name, stores=[store.code])
    with transaction(rt.sessions) as session:
        visit = Visit(
            customer_id=member.id,
            store_id=store.id,
            arrived_at=when,
            score=0.4,
            margin=0.2,
            status="not_this_person",
            ended_at=when + timedelta(minutes=5),
            live_until=when + timedelta(minutes=30),
        )
        session.add(visit)
        session.flush()
        session.add(
            Incident(
                store_id=store.id,
                visit_id=visit.id,
                customer_id=member.id,
                score=0.4,
                margin=0.2,
                reported_by="sales",
                reported_at=when,
            )
        )
    return member.id


@pytest.fixture
def late_night(runtime: Runtime, store: StoreFixture) -> Iterator[TestClient]:
    """One arrival late on a winter evening (UTC) and one on a summer evening; the officer
    signed in at ``NOW``."""
    make_staff(runtime, OFFICER, "privacy_officer", None)
    arrival_and_report(runtime, store, "Winter Avond", WINTER)
    arrival_and_report(runtime, store, "Zomer Avond", SUMMER)
    at(runtime, NOW)
    with TestClient(create_app(runtime.settings, runtime=runtime)) as c:
        sign_in(c, OFFICER)
        yield c


def per_day(client: TestClient, first: str, last: str) -> dict[str, float]:
    r = client.get(f"{API}/overview", params={"from": first, "to": last})
    assert r.status_code == 200, r.text
    return {d["day"]: d["arrivals"] for d in r.json()["arrivals_per_day"]}


def test_an_event_at_2330_utc_counts_on_the_next_local_day(late_night: TestClient) -> None:
    c = late_night
    assert per_day(c, "2026-11-24", "2026-11-25") == {"2026-11-24": 0, "2026-11-25": 1}
    assert per_day(c, "2026-07-14", "2026-07-15") == {"2026-07-14": 0, "2026-07-15": 1}
    o = c.get(f"{API}/overview", params={"from": "2026-11-24", "to": "2026-11-25"}).json()
    consents = {d["day"]: d["given"] for d in o["consents_per_day"]}
    assert consents == {"2026-11-24": 0, "2026-11-25": 1}
    incidents = {d["day"]: d["incidents"] for d in o["arrivals_per_day"]}
    assert incidents == {"2026-11-24": 0, "2026-11-25": 1}
    assert o["period"] == {"from": "2026-11-24", "to": "2026-11-25", "timezone": AMS.key}
    # the default period ends today in Amsterdam and holds the last 30 local days
    o = c.get(f"{API}/overview").json()
    assert o["period"]["to"] == "2026-11-26"
    assert len(o["arrivals_per_day"]) == 30
    assert {d["day"]: d["arrivals"] for d in o["arrivals_per_day"]}["2026-11-25"] == 1


def test_the_period_filter_includes_and_excludes_by_the_local_day(
    late_night: TestClient,
) -> None:
    c = late_night

    def incidents(first: str, last: str) -> list[str]:
        r = c.get(f"{API}/incidents", params={"from": first, "to": last})
        assert r.status_code == 200, r.text
        return [i["customer_name"] for i in r.json()]

    def consents(first: str, last: str) -> list[str]:
        r = c.get(f"{API}/consents", params={"from": first, "to": last})
        assert r.status_code == 200, r.text
        return [i["customer_name"] for i in r.json()]

    # on the 24th in UTC, but on the 25th in Amsterdam
    assert incidents("2026-11-24", "2026-11-24") == []
    assert incidents("2026-11-25", "2026-11-25") == ["Winter Avond"]
    assert consents("2026-11-24", "2026-11-24") == []
    assert consents("2026-11-25", "2026-11-25") == ["Winter Avond"]
    assert incidents("2026-07-14", "2026-07-14") == []
    assert incidents("2026-07-15", "2026-07-15") == ["Zomer Avond"]
    assert consents("2026-07-01", "2026-07-14") == []
    assert consents("2026-07-15", "2026-07-31") == ["Zomer Avond"]
    # the exports take the same local days, and keep UTC timestamps with their offset
    r = c.get(f"{API}/export/incidents", params={"from": "2026-11-25", "to": "2026-11-25"})
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["reported_at"] for row in rows] == ["2026-11-24T23:30:00+00:00"]
    assert r.headers["x-rows"] == "1"
    doc = c.get(
        f"{API}/export/consents",
        params={"from": "2026-11-25", "to": "2026-11-25", "format": "json"},
    ).json()
    assert doc["period"] == {"from": "2026-11-25", "to": "2026-11-25", "timezone": AMS.key}
    assert doc["timestamps"] == "ISO 8601, UTC (offset +00:00)"
    assert [row["given_at"] for row in doc["rows"]] == ["2026-11-24T23:30:00+00:00"]
    assert doc["generated_at"] == "2026-11-26T12:00:00+00:00"
    empty = c.get(f"{API}/export/incidents", params={"from": "2026-11-24", "to": "2026-11-24"})
    assert empty.headers["x-rows"] == "0"


def test_the_day_buckets_follow_the_zone_they_are_given(
    runtime: Runtime, late_night: TestClient
) -> None:
    """The same rows, bucketed in another zone: the zone is an argument, not a global."""
    with runtime.sessions() as session:

        def arrivals(tz: ZoneInfo) -> dict[date, float]:
            period = console.parse_period("2026-11-24", "2026-11-25", now=NOW, tz=tz)
            days = console.daily_arrivals(session, period=period)
            return {d.day: d.values["arrivals"] for d in days}

        assert arrivals(AMS) == {date(2026, 11, 24): 0, date(2026, 11, 25): 1}
        assert arrivals(ZoneInfo("UTC")) == {date(2026, 11, 24): 1, date(2026, 11, 25): 0}
        assert arrivals(ZoneInfo("America/New_York")) == {
            date(2026, 11, 24): 1,
            date(2026, 11, 25): 0,
        }


TIME = re.compile(r"\b\d{2}:\d{2}(?::\d{2})?\s+([A-Z]{2,5})")
"""A shown time and the zone after it (``UTC`` of ``UTC+04`` too)."""


def test_console_pages_show_cet_and_cest_and_never_utc(late_night: TestClient) -> None:
    c = late_night
    winter = c.get("/console/incidents").text  # the last 30 local days
    assert "25 Nov 2026 00:30:00 CET" in winter
    assert "Europe/Amsterdam (CET/CEST)" in winter  # the side note names the zone
    assert "Times are UTC" not in winter
    summer = c.get("/console/incidents", params={"from": "2026-07-15", "to": "2026-07-15"}).text
    assert "15 Jul 2026 00:30:00 CEST" in summer
    for url in (
        "/console",
        "/console/consents",
        "/console/audit",
        "/console/access",
        "/console/retention",
        "/console/devices",
        "/console/stores",
        "/console/ropa",
    ):
        page = c.get(url)
        assert page.status_code == 200, url
        zones = set(TIME.findall(page.text))
        assert zones <= {"CET", "CEST"}, (url, zones)
    consents = c.get("/console/consents", params={"from": "2026-11-25", "to": "2026-11-25"}).text
    assert "25 Nov 2026 00:30 CET" in consents
    assert 'value="25-11-2026"' in consents  # the date form shows the local day asked for


def test_the_art30_record_is_in_local_time(late_night: TestClient) -> None:
    md = late_night.get(f"{API}/ropa.md")
    assert "| Record generated | 2026-11-26 13:00 CET |" in md.text
    assert "| Times in this record | Europe/Amsterdam (CET/CEST) |" in md.text
    assert "UTC" not in md.text
    assert 'filename="vertrouwd-art30-2026-11-26.md"' in md.headers["content-disposition"]


def test_late_in_the_evening_utc_the_pages_already_show_tomorrow(
    runtime: Runtime, store: StoreFixture
) -> None:
    """At 23:30 UTC on 25 November it is 00:30 on the 26th in Amsterdam: the receipt, /me, the
    public page and the Art. 30 record all say the 26th."""
    from tests.server.members import new_link
    from tests.server.test_pages import add_customer

    at(runtime, utc(2026, 11, 25, 23, 30))
    cid = add_customer(runtime, store.id)  # a Dutch customer
    with transaction(runtime.sessions) as session:
        session.add(
            Visit(
                customer_id=cid,
                store_id=store.id,
                arrived_at=SUMMER,
                score=0.4,
                margin=0.2,
                status="greeted",
                live_until=SUMMER + timedelta(minutes=30),
            )
        )
    make_staff(runtime, OFFICER, "privacy_officer", None)
    with TestClient(create_app(runtime.settings, runtime=runtime)) as c:
        sign_in(c, "cashier")
        with transaction(runtime.sessions) as session:  # enrolled by her, in this session
            session.add(
                ConsentRecord(
                    id=new_id(),
                    customer_id=cid,
                    purpose="recognition",
                    scope=[store.code],
                    text_version="test",
                    text_language="nl",
                    text_sha256="0" * 64,
                    channel="register",
                    collected_by="cashier",
                    given_at=runtime.now(),
                    expires_at=runtime.now() + timedelta(days=365),
                    status="active",
                )
            )
        receipt = c.get(f"/register/receipt/{cid}")
        assert receipt.status_code == 200, receipt.text
        assert "26 november 2026" in receipt.text
        assert "25 november 2026" not in receipt.text

        me = c.get(f"/me/{new_link(runtime, cid)}").text
        assert "26 november 2026" in me  # member since: joined at 00:30 local on the 26th
        assert "15 juli 2026 00:30 CEST" in me  # the summer visit
        assert "UTC" not in me

        privacy = c.get("/privacy").text
        assert "26 november 2026" in privacy

        sign_in(c, OFFICER)
        md = c.get(f"{API}/ropa.md").text
        assert "| Record generated | 2026-11-26 00:30 CET |" in md
    with runtime.sessions() as session:  # the database itself still holds UTC
        stored = session.scalars(select(Visit.arrived_at).where(Visit.customer_id == cid)).one()
    assert stored == SUMMER
    assert stored.utcoffset() == timedelta(0)


def test_the_store_metrics_on_the_tablet_count_by_the_local_day(
    runtime: Runtime, store: StoreFixture
) -> None:
    """The salesperson's metrics page: the winter arrival at 23:30 UTC is on the next local
    day (as the console counts it)."""
    make_staff(runtime, "sales-late", "sales", store.id)
    arrival_and_report(runtime, store, "Winter Avond", WINTER)
    at(runtime, WINTER + timedelta(days=2))
    with TestClient(create_app(runtime.settings, runtime=runtime)) as c:
        sign_in(c, "sales-late")
        r = c.get("/api/v1/metrics", params={"days": 7})
        assert r.status_code == 200, r.text
        days = {d["day"]: d["arrivals"] for d in r.json()["days"]}
    utc_day = WINTER.date()
    assert days[(utc_day + timedelta(days=1)).isoformat()] == 1
    assert days.get(utc_day.isoformat(), 0) == 0
