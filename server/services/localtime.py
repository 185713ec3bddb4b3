"""Local time for people: the stores' zone (``ServerSettings.timezone``) on pages and in the
console's days, while the database and machine-readable exports keep UTC.

Every function takes the zone as an argument (never a global), so a test can pass any zone and
an instant on either side of a daylight-saving change. A naive datetime is taken as UTC (the
database stores UTC). A calendar day in the zone is ``[day_start(d), day_start(d + 1))``: 23
hours on the day summer time begins, 25 on the day it ends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_NL = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
"""The console's month abbreviations in Dutch (a Dutch officer reads ``3 mrt``, not ``3 Mar``)."""


def _months(language: str) -> tuple[str, ...]:
    return MONTHS_NL if language == "nl" else MONTHS


def month_abbreviation(month: int, language: str = "en") -> str:
    """``Mar`` (``mrt`` in Dutch) for month 3."""
    return _months(language)[month - 1]


def local(value: datetime, tz: tzinfo) -> datetime:
    """``value`` (aware, or naive meaning UTC) as a wall-clock time in ``tz``."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware.astimezone(tz)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive means UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def abbreviation(value: datetime, tz: tzinfo) -> str:
    """The zone's name at that instant: ``CET``/``CEST``; ``UTC+03`` where the zone has only a
    number (``+03``)."""
    name = local(value, tz).tzname() or ""
    if not name or name[0] in "+-":
        offset = local(value, tz).utcoffset() or timedelta()
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        h, m = divmod(abs(minutes), 60)
        return f"UTC{sign}{h:02d}" + (f":{m:02d}" if m else "")
    return name


def format_datetime(
    value: datetime | None, tz: tzinfo, *, seconds: bool = False, language: str = "en"
) -> str:
    """``25 Nov 2026 15:05 CET`` (``15:05:09`` with ``seconds``); ``—`` for none."""
    if value is None:
        return "—"
    t = local(value, tz)
    clock = f"{t:%H:%M:%S}" if seconds else f"{t:%H:%M}"
    month = _months(language)[t.month - 1]
    return f"{t.day} {month} {t.year} {clock} {abbreviation(value, tz)}"


def format_day(value: datetime | date | None, tz: tzinfo, *, language: str = "en") -> str:
    """``25 Nov 2026``: the local calendar day of an instant (a ``date`` is shown as is)."""
    if value is None:
        return "—"
    day = day_of(value, tz) if isinstance(value, datetime) else value
    return f"{day.day} {_months(language)[day.month - 1]} {day.year}"


def format_clock(value: datetime, tz: tzinfo) -> str:
    """``15:05 CET``."""
    return f"{local(value, tz):%H:%M} {abbreviation(value, tz)}"


def day_of(value: datetime, tz: tzinfo) -> date:
    """The calendar day in ``tz`` on which the instant ``value`` falls."""
    return local(value, tz).date()


def today(now: datetime, tz: tzinfo) -> date:
    return day_of(now, tz)


def day_start(day: date, tz: tzinfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz`` (its local midnight; where a zone
    skips midnight, the first moment of the day that exists)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of the local calendar day ``day``, as UTC instants."""
    return day_start(day, tz), day_start(day + timedelta(days=1), tz)


def zone_name(tz: tzinfo) -> str:
    """``Europe/Amsterdam`` (the IANA key where there is one)."""
    key = getattr(tz, "key", None)
    return str(key) if key else str(tz)


def zone_note(tz: tzinfo, *, year: int) -> str:
    """``Europe/Amsterdam (CET/CEST)``: the zone and the abbreviations it uses in ``year``."""
    names = list(
        dict.fromkeys(
            abbreviation(datetime(year, month, 15, 12, tzinfo=UTC), tz) for month in (1, 7)
        )
    )
    shown = "/".join(names)
    name = zone_name(tz)
    return name if shown == name else f"{name} ({shown})"
