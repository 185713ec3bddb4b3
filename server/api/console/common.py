"""What the console's pages and JSON share: who may (the officer guard), the period of a view,
and the one service call behind each view that has both a page and a JSON twin."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy.orm import Session

from consent.audit import read_reason
from server.api.console_text import DENIALS, console_texts
from server.api.pages import CSP, zone_in
from server.deps import (
    SESSION_COOKIE,
    ContextDep,
    RoleRule,
    RuntimeDep,
    SessionDep,
    staff_from_token,
)
from server.services import localtime
from server.services.console import ropa
from server.services.console import views as console
from server.services.console.views import Period
from server.services.context import ServiceContext
from server.services.errors import Forbidden, ServiceError, Unauthorized
from server.services.membership import epochs
from server.services.staff.accounts import StaffIdentity

templates = Jinja2Templates(
    directory=str(Path(__file__).resolve().parent.parent.parent / "templates")
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}


# -- formatting for the templates ------------------------------------------------------------
# Times are shown in the stores' zone (``settings.timezone``), which every page's context
# carries as ``tz`` (see ``page_context``); the filters read it from there, so a page rendered
# without it fails loudly instead of quietly showing another zone.


def fmt_dt(value: datetime | None, tz: tzinfo, seconds: bool = False, language: str = "en") -> str:
    """``25 Nov 2026 15:05 CET`` (``CEST`` in summer; ``25 nov 2026`` in Dutch)."""
    return localtime.format_datetime(value, tz, seconds=seconds, language=language)


def fmt_day(value: datetime | date | None, tz: tzinfo, language: str = "en") -> str:
    """``25 Nov 2026``: the local calendar day."""
    return localtime.format_day(value, tz, language=language)


def _lang_in(ctx: Context) -> str:
    return str(ctx.get("lang") or "en")


@pass_context
def _dt_filter(ctx: Context, value: datetime | None, seconds: bool = False) -> str:
    return fmt_dt(value, zone_in(ctx), seconds, _lang_in(ctx))


@pass_context
def _day_filter(ctx: Context, value: datetime | date | None) -> str:
    return fmt_day(value, zone_in(ctx), _lang_in(ctx))


@pass_context
def _duration_filter(ctx: Context, seconds: float | None) -> str:
    text = fmt_duration(seconds)
    if text.endswith(" days") and _lang_in(ctx) == "nl":
        return text.replace(" days", " dagen")
    return text


def fmt_duration(seconds: float | None) -> str:
    """``0.4 s``, ``12 s``, ``5 min``, ``3 h 10 min``, ``2 days``."""
    if seconds is None:
        return "—"
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        h, m = divmod(int(s // 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{s / 86400:.0f} days"


@pass_context
def _iso_dt_filter(ctx: Context, value: str) -> str:
    """An instant an audit entry's data holds as ISO 8601 text (in UTC), shown like every other
    time on the console; text that is not one is shown as it is."""
    try:
        when = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    return fmt_dt(when, zone_in(ctx), False, _lang_in(ctx))


def fmt_dmy(day: date | None) -> str:
    """``25-11-2026``: what the console's date fields show and take (a browser's own date field
    follows the browser's locale, mm/dd/yyyy in many, ambiguous to a Dutch officer)."""
    return f"{day:%d-%m-%Y}" if day else ""


def fmt_number(value: int | float) -> str:
    return f"{value:,}".replace(",", " ")


def chain_reason(t: dict[str, str], reason: str | None) -> str:
    """Why the audit chain failed verification, in the words ``t``: the run stores the
    verifier's English sentence, which names a fixed reason and its record numbers."""
    known = read_reason(reason)
    if known is None:
        return reason or ""
    code, values = known
    return t["chain_reason:" + code].format(**values)


def _denial_pattern(template: str) -> re.Pattern[str]:
    """The English sentence ``template`` as a pattern: each ``{name}`` a named group."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(
            re.escape(part) if i % 2 == 0 else rf"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
    )


_DENIALS = tuple((code, _denial_pattern(template)) for code, template in DENIALS)


# Where the words for a refusal's parts are in ``t`` (a method or a header name stays as is).
_DENIAL_PARTS = {"site": "denial_site:"}


def denial_words(t: dict[str, str], reason: str | None) -> str:
    """Why a request was refused, in the words ``t``: the origin guard's ``access.denied``
    entries store an English sentence (``console_text.DENIALS``), said here in the officer's
    language, its site too; another reason is looked up as a fixed word, else shown as stored."""
    for code, pattern in _DENIALS:
        found = pattern.fullmatch(reason or "")
        if found is not None:
            parts = {
                name: t.get(_DENIAL_PARTS[name] + value, value) if name in _DENIAL_PARTS else value
                for name, value in found.groupdict().items()
            }
            return t["denial:" + code].format(**parts)
    return t.get("value:reason:" + (reason or ""), reason or "")


_TABLET = re.compile(
    r"(?P<browser>.+?) on (?P<device>.+?) #(?P<hash>[0-9a-f]{6})(?: · session (?P<session>\w+))?"
)


def tablet_words(t: dict[str, str], label: str | None) -> str:
    """The tablet an opening came from (``Safari on iPad #8e6a27 · session 638bd38b``, as the
    access log's service writes it from the entry's ``agent`` and ``session``) in the words
    ``t``; the browser and device names stay, the fixed words are said in the staff language."""
    found = _TABLET.fullmatch(label or "")
    if found is None:
        return label or "—"
    device = found["device"]
    text = t["tablet_agent"].format(
        browser=t.get("agent:" + found["browser"], found["browser"]),
        device=t.get("agent:" + device, device),
        hash=found["hash"],
    )
    if found["session"]:
        text += " · " + t["tablet_session"].format(session=found["session"])
    return text


templates.env.filters["dt"] = _dt_filter
templates.env.filters["day"] = _day_filter
templates.env.filters["duration"] = _duration_filter
templates.env.filters["num"] = fmt_number
templates.env.filters["dmy"] = fmt_dmy
templates.env.filters["iso_dt"] = _iso_dt_filter
templates.env.globals["label"] = console.label
templates.env.globals["chain_reason"] = chain_reason
templates.env.globals["denial_words"] = denial_words
templates.env.globals["tablet_words"] = tablet_words

NAV = (  # each section's name is the staff words' ``nav_<section>``
    ("overview", "/console"),
    ("consents", "/console/consents"),
    ("audit", "/console/audit"),
    ("deletions", "/console/deletions"),
    ("access", "/console/access"),
    ("incidents", "/console/incidents"),
    ("retention", "/console/retention"),
    ("devices", "/console/devices"),
    ("stores", "/console/stores"),
    ("ropa", "/console/ropa"),
)


def words(ctx: ServiceContext) -> dict[str, str]:
    """The officer's words in the stores' staff language (``VERTROUWD_STAFF_LANGUAGE``)."""
    return console_texts(ctx.settings.staff_language)


def language(ctx: ServiceContext) -> dict[str, Any]:
    """``lang`` for ``<html>`` and the date filters, ``t`` for the templates."""
    return {"lang": ctx.settings.staff_language, "t": words(ctx)}


# -- who may ---------------------------------------------------------------------------------

# Privacy officers and admins; anyone else signed in gets an audited 403 (``access.denied``
# with the method and path), through the one access-control path (``access.require_role``).
OFFICER = RoleRule(console.OFFICER_ROLES, "console", reason=console.OFFICER_REFUSAL, with_path=True)
# JSON: someone not signed in gets 401, anyone else refused 403 (the app's error answers).
Officer = Annotated[StaffIdentity, OFFICER.dependency()]


class PageRefused(ServiceError):
    """A console page answered instead by the sign-in form (401) or the refusal page (403).
    ``keep_writes``: what the check wrote (the refusal's ``access.denied`` entry) is committed
    with the request, as for a page answered normally."""

    def __init__(self, response: HTMLResponse, *, keep_writes: bool) -> None:
        super().__init__("console page refused", keep_writes=keep_writes)
        self.status_code = response.status_code
        self.response = response


async def page_refused(_request: Request, exc: Exception) -> Response:
    """The app's handler for :class:`PageRefused` (more specific than ``ServiceError``'s)."""
    assert isinstance(exc, PageRefused)
    return exc.response


@dataclass(frozen=True)
class Page:
    """A console page being answered for a signed-in officer."""

    request: Request
    ctx: ServiceContext
    who: StaffIdentity

    def context(self, context: dict[str, Any]) -> dict[str, Any]:
        """A page's context with the stores' zone: ``tz`` for the filters, ``zone_note`` for
        the side note (``Europe/Amsterdam (CET/CEST)``)."""
        tz = self.ctx.settings.zone
        note = localtime.zone_note(tz, year=localtime.today(self.ctx.now(), tz).year)
        return {
            "tz": tz,
            "zone_note": note,
            "who": self.who,
            "nav": NAV,
            **language(self.ctx),
            **context,
        }

    def render(
        self, name: str, section: str, context: dict[str, Any], *, status_code: int = 200
    ) -> HTMLResponse:
        return templates.TemplateResponse(
            self.request,
            name,
            self.context({"section": section, **context}),
            status_code=status_code,
            headers=HEADERS,
        )


def officer_page(request: Request, rt: RuntimeDep, ctx: ContextDep, session: SessionDep) -> Page:
    """The signed-in officer's page, checked by the same rule as the JSON; anyone else gets
    the sign-in page (401) or the refusal page (403, audited) instead."""
    try:
        who = staff_from_token(rt, session, request.cookies.get(SESSION_COOKIE))
    except Unauthorized:
        login = templates.TemplateResponse(
            request,
            "console_login.html",
            {"next": request.url.path, **language(ctx)},
            status_code=401,
            headers=HEADERS,
        )
        raise PageRefused(login, keep_writes=True) from None
    try:
        OFFICER.check(request, rt, session, who)
    except Forbidden as exc:
        refused = templates.TemplateResponse(
            request,
            "console_forbidden.html",
            {"who": who, "reason": exc.reason, **language(ctx)},
            status_code=403,
            headers=HEADERS,
        )
        raise PageRefused(refused, keep_writes=True) from None
    return Page(request, ctx, who)


OfficerPage = Annotated[Page, Depends(officer_page)]


# -- the period of a view --------------------------------------------------------------------

PeriodFrom = Annotated[str | None, Query(alias="from", max_length=32)]
PeriodTo = Annotated[str | None, Query(alias="to", max_length=32)]


def period_of(
    ctx: ServiceContext, start: str | None, end: str | None, *, default_days: int = 30
) -> Period:
    """``from``/``to`` as calendar days in the stores' zone (``dd-mm-yyyy`` or ISO)."""
    return console.parse_period(
        start or None,
        end or None,
        now=ctx.now(),
        tz=ctx.settings.zone,
        default_days=default_days,
    )


def period(ctx: ContextDep, start: PeriodFrom = None, end: PeriodTo = None) -> Period:
    """A JSON view's period; a bad one is the app's 422 (``console.PeriodError``)."""
    return period_of(ctx, start, end)


PeriodDep = Annotated[Period, Depends(period)]


def bad_period(
    page: Page, exc: console.PeriodError, start: str | None, end: str | None
) -> PageRefused:
    """A date that is not one, or a period that runs backwards, on a page: a 422 in the
    console's frame that says what is wrong in the officer's language and gives the form back
    with what was typed."""
    path = page.request.url.path
    section = next((key for key, href in NAV if href == path), "overview")
    response = page.render(
        "console_bad_period.html",
        section,
        {
            "problem": words(page.ctx)["period_" + exc.code].format(**exc.values),
            "action": path,
            "typed": {"from": start or "", "to": end or ""},
        },
        status_code=422,
    )
    return PageRefused(response, keep_writes=True)


def page_period(page: OfficerPage, start: PeriodFrom = None, end: PeriodTo = None) -> Period:
    """A page's period (``dd-mm-yyyy`` or ISO), or the bad-period page instead."""
    try:
        return period_of(page.ctx, start, end)
    except console.PeriodError as exc:
        raise bad_period(page, exc, start, end) from None


PagePeriodDep = Annotated[Period, Depends(page_period)]


# -- one service call per view, for the page and its JSON twin --------------------------------


def gallery_ttl(ctx: ServiceContext) -> timedelta:
    return timedelta(seconds=ctx.settings.gallery_ttl_s)


def limits(ctx: ServiceContext) -> dict[str, Any]:
    s = ctx.settings
    return {
        "consent_months": s.consent_months,
        "retention_years": s.retention_years,
        "gallery_ttl_s": s.gallery_ttl_s,
        "gallery_validity_s": s.gallery_validity_s,
        "retention_interval_s": s.retention_interval_s,
        "visit_live_s": s.visit_live_s,
        "self_service_ttl_days": s.self_service_ttl_days,
        "audit_checkpoint_every": s.audit_checkpoint_every,
    }


@dataclass(frozen=True)
class OverviewData:
    overview: console.Overview
    consents_per_day: list[console.DayCount]
    arrivals_per_day: list[console.DayCount]


def overview(session: Session, ctx: ServiceContext, period: Period) -> OverviewData:
    now = ctx.now()
    return OverviewData(
        console.overview(session, period=period, gallery_ttl=gallery_ttl(ctx), now=now),
        console.daily_consents(session, period=period, now=now),
        console.daily_arrivals(session, period=period),
    )


def consent_filter(
    ctx: ContextDep,
    customer: Annotated[str, Query(max_length=200)] = "",
    store: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    channel: Annotated[str, Query(max_length=20)] = "",
    version: Annotated[str, Query(max_length=40)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> console.ConsentFilter:
    """The consent log's filters (page and JSON); all time unless a period is given."""
    chosen = period_of(ctx, start, end) if (start or end) else None
    return console.ConsentFilter(customer, store, status, channel, version, chosen)


ConsentFilterDep = Annotated[console.ConsentFilter, Depends(consent_filter)]


def backups(ctx: ServiceContext) -> Callable[[datetime], datetime]:
    """When every backup made before an erasure at a given time is unreadable (issue 18)."""
    return lambda at: epochs.unreadable_by(ctx.kek, erased_at=at, settings=ctx.settings)


def deletions(session: Session, ctx: ServiceContext, period: Period) -> list[console.DeletionProof]:
    return console.deletion_proofs(
        session, period=period, gallery_ttl=gallery_ttl(ctx), now=ctx.now(), backups=backups(ctx)
    )


def access_log(
    session: Session, ctx: ServiceContext, period: Period, staff: str
) -> console.AccessLog:
    return console.access_log(session, period=period, staff=staff.strip(), now=ctx.now())


def retention(session: Session, ctx: ServiceContext, period: Period) -> console.RetentionView:
    return console.retention_view(session, period=period, limits=limits(ctx), now=ctx.now())


def device_rows(session: Session, ctx: ServiceContext) -> list[console.DeviceRow]:
    return console.device_rows(session, gallery_ttl=gallery_ttl(ctx), now=ctx.now())


def key_info(ctx: ServiceContext) -> ropa.KeyInfo:
    ids = getattr(ctx.kek, "key_ids", None)
    return ropa.KeyInfo(ctx.kek.key_id, len(ids) if ids else 1)


def ropa_record(session: Session, ctx: ServiceContext) -> ropa.Record:
    return ropa.build(
        session,
        settings=ctx.settings,
        keys=key_info(ctx),
        now=ctx.now(),
        language=ctx.settings.staff_language,
    )
