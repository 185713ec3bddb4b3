"""The privacy officer's console: HTML pages under ``/console`` and JSON under
``/api/v1/console``.

Both are for ``privacy_officer`` and ``admin`` accounts only. Anyone else signed in gets 403 on
every route (a page says so in words), and each refusal is written to the audit log as
``access.denied``; someone not signed in gets the sign-in form (pages) or 401 (JSON). The pages
are rendered on the server from the same services as the JSON; ``/static/console.js`` only
signs in and out and sends the few actions (verify now, an incident's outcome, revoke a
device, take a store live or pause it) to the JSON API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat
from sqlalchemy.orm import Session

from consent.signing import Ed25519PublicKey
from models.calibration import load_calibration
from server.api.pages import CSP, zone_in
from server.db.modes import RECOGNITION_MODES
from server.deps import SESSION_COOKIE, CurrentStaff, RuntimeDep, SessionDep, staff_from_token
from server.runtime import Runtime
from server.services import localtime
from server.services.console import charts, ropa, verification
from server.services.console import exports as console_export
from server.services.console import views as console
from server.services.console.views import Period
from server.services.errors import Forbidden, NotFound, Unauthorized
from server.services.membership import epochs
from server.services.recognition import aiact, false_matches, golive, signage
from server.services.staff.accounts import StaffIdentity

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}


# -- formatting for the templates ------------------------------------------------------------
# Times are shown in the stores' zone (``settings.timezone``), which every page's context
# carries as ``tz`` (see ``_context``); the filters read it from there, so a page rendered
# without it fails loudly instead of quietly showing another zone.


def fmt_dt(value: datetime | None, tz: tzinfo, seconds: bool = False) -> str:
    """``25 Nov 2026 15:05 CET`` (``CEST`` in summer)."""
    return localtime.format_datetime(value, tz, seconds=seconds)


def fmt_day(value: datetime | date | None, tz: tzinfo) -> str:
    """``25 Nov 2026``: the local calendar day."""
    return localtime.format_day(value, tz)


@pass_context
def _dt_filter(ctx: Context, value: datetime | None, seconds: bool = False) -> str:
    return fmt_dt(value, zone_in(ctx), seconds)


@pass_context
def _day_filter(ctx: Context, value: datetime | date | None) -> str:
    return fmt_day(value, zone_in(ctx))


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


def fmt_number(value: int | float) -> str:
    return f"{value:,}".replace(",", " ")


templates.env.filters["dt"] = _dt_filter
templates.env.filters["day"] = _day_filter
templates.env.filters["duration"] = fmt_duration
templates.env.filters["num"] = fmt_number
templates.env.globals["label"] = console.label

NAV = (
    ("overview", "/console", "Overview"),
    ("consents", "/console/consents", "Consent log"),
    ("audit", "/console/audit", "Audit chain"),
    ("deletions", "/console/deletions", "Deletion proofs"),
    ("access", "/console/access", "Staff access"),
    ("incidents", "/console/incidents", "Incidents"),
    ("retention", "/console/retention", "Retention"),
    ("devices", "/console/devices", "Devices"),
    ("stores", "/console/stores", "Stores & go-live"),
    ("ropa", "/console/ropa", "Art. 30 record"),
)


# -- who may ---------------------------------------------------------------------------------


def officer(
    request: Request, rt: RuntimeDep, session: SessionDep, who: CurrentStaff
) -> StaffIdentity:
    """The signed-in privacy officer or admin; anyone else: an audited 403."""
    console.authorise(session, who=who, what=f"{request.method} {request.url.path}", now=rt.now())
    return who


Officer = Annotated[StaffIdentity, Depends(officer)]

pages = APIRouter(tags=["console"])
api = APIRouter(prefix="/api/v1/console", tags=["console"], dependencies=[Depends(officer)])


def _page_officer(request: Request, rt: Runtime, session: Session) -> StaffIdentity | HTMLResponse:
    """The officer, or the page to show instead: sign-in (401) or refused (403, audited)."""
    try:
        who = staff_from_token(rt, session, request.cookies.get(SESSION_COOKIE))
    except Unauthorized:
        return templates.TemplateResponse(
            request,
            "console_login.html",
            {"next": request.url.path},
            status_code=401,
            headers=HEADERS,
        )
    try:
        console.authorise(
            session, who=who, what=f"{request.method} {request.url.path}", now=rt.now()
        )
    except Forbidden as exc:  # the access.denied entry is committed with the request
        return templates.TemplateResponse(
            request,
            "console_forbidden.html",
            {"who": who, "reason": exc.reason},
            status_code=403,
            headers=HEADERS,
        )
    return who


def _context(rt: Runtime, context: dict[str, Any]) -> dict[str, Any]:
    """A page's context with the stores' zone: ``tz`` for the filters, ``zone_note`` for the
    side note (``Europe/Amsterdam (CET/CEST)``)."""
    tz = rt.settings.zone
    note = localtime.zone_note(tz, year=localtime.today(rt.now(), tz).year)
    return {"tz": tz, "zone_note": note, **context}


def _render(
    request: Request,
    rt: Runtime,
    name: str,
    who: StaffIdentity,
    section: str,
    context: dict[str, Any],
) -> HTMLResponse:
    context = _context(rt, {"who": who, "nav": NAV, "section": section, **context})
    return templates.TemplateResponse(request, name, context, headers=HEADERS)


def _backups(rt: Runtime) -> Callable[[datetime], datetime]:
    """When every backup made before an erasure at a given time is unreadable (issue 18)."""
    return lambda at: epochs.unreadable_by(rt.kek, erased_at=at, settings=rt.settings)


def _ttl(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.gallery_ttl_s)


def limits(rt: Runtime) -> dict[str, Any]:
    s = rt.settings
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


def _public_key(rt: Runtime) -> Ed25519PublicKey:
    return rt.signing_key.public_key()


def _key_info(rt: Runtime) -> ropa.KeyInfo:
    ids = getattr(rt.kek, "key_ids", None)
    return ropa.KeyInfo(rt.kek.key_id, len(ids) if ids else 1)


PeriodFrom = Annotated[str | None, Query(alias="from", max_length=32)]
PeriodTo = Annotated[str | None, Query(alias="to", max_length=32)]


def _period(rt: Runtime, start: str | None, end: str | None, *, default_days: int = 30) -> Period:
    """``from``/``to`` as calendar days in the stores' zone."""
    return console.parse_period(
        start or None, end or None, now=rt.now(), tz=rt.settings.zone, default_days=default_days
    )


# -- charts ----------------------------------------------------------------------------------


def chart_set(session: Session, period: Period, now: datetime) -> list[dict[str, Any]]:
    """The overview's charts, each with its numbers for a table under it."""
    consents = console.daily_consents(session, period=period, now=now)
    arrivals = console.daily_arrivals(session, period=period)
    days = [d.day for d in consents]
    return [
        {
            "title": "Consents given and ended per day",
            "svg": charts.chart(
                days,
                [
                    charts.Series("Given", [d.values["given"] for d in consents], "#2f6f5e"),
                    charts.Series("Ended", [d.values["ended"] for d in consents], "#9aa3b2"),
                ],
                title="Consents given and ended per day",
                description="Bars per day: consents given (renewals not counted) and consents "
                "that ended (withdrawn, expired or erased).",
                chart_id="chart-consents",
            ),
            "columns": ["Given", "Ended"],
            "rows": [(d.day, [d.values["given"], d.values["ended"]]) for d in consents],
        },
        {
            "title": "Members with an active consent",
            "svg": charts.chart(
                days,
                [
                    charts.Series(
                        "Active", [d.values["active"] for d in consents], "#1a56db", "line"
                    )
                ],
                title="Members with an active consent",
                description="At the end of each day, how many consents were active.",
                chart_id="chart-active",
            ),
            "columns": ["Active"],
            "rows": [(d.day, [d.values["active"]]) for d in consents],
        },
        {
            "title": "Arrivals per day",
            "svg": charts.chart(
                [d.day for d in arrivals],
                [
                    charts.Series("Arrivals", [d.values["arrivals"] for d in arrivals], "#2f6f5e"),
                    charts.Series(
                        "Not this person", [d.values["incidents"] for d in arrivals], "#b3261e"
                    ),
                ],
                title="Arrivals per day",
                description="Members recognised at the entrance per day, and 'not this "
                "person' reports.",
                chart_id="chart-arrivals",
            ),
            "columns": ["Arrivals", "Not this person"],
            "rows": [(d.day, [d.values["arrivals"], d.values["incidents"]]) for d in arrivals],
        },
        {
            "title": "Incident rate",
            "svg": charts.chart(
                [d.day for d in arrivals],
                [
                    charts.Series(
                        "'Not this person' per 100 arrivals",
                        [d.values["incident_rate"] for d in arrivals],
                        "#b3261e",
                        "line",
                    )
                ],
                title="Incident rate",
                description="'Not this person' reports per 100 arrivals, per day.",
                unit="%",
                chart_id="chart-rate",
            ),
            "columns": ["Per 100 arrivals"],
            "rows": [(d.day, [d.values["incident_rate"]]) for d in arrivals],
        },
    ]


# == HTML pages ==============================================================================


@pages.get("/console", response_class=HTMLResponse)
def overview_page(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    now = rt.now()
    period = _period(rt, start, end)
    status = verification.status(session, runs=1, checkpoints=1)
    return _render(
        request,
        rt,
        "console.html",
        who,
        "overview",
        {
            "period": period,
            "overview": console.overview(session, period=period, gallery_ttl=_ttl(rt), now=now),
            "chain": status,
            "charts": chart_set(session, period, now),
            "stores": signage.store_rows(session),
        },
    )


@pages.get("/console/consents", response_class=HTMLResponse)
def consents_page(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    customer: Annotated[str, Query(max_length=200)] = "",
    store: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    channel: Annotated[str, Query(max_length=20)] = "",
    version: Annotated[str, Query(max_length=40)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    now = rt.now()
    period = _period(rt, start, end) if (start or end) else None
    filters = console.ConsentFilter(customer, store, status, channel, version, period)
    rows = console.consent_log(session, filters=filters, now=now)
    return _render(
        request,
        rt,
        "console_consents.html",
        who,
        "consents",
        {
            "rows": rows,
            "filters": filters,
            "choices": console.consent_choices(session),
            "limit": console.MAX_ROWS,
            "export_period": period or _period(rt, None, None, default_days=365),
        },
    )


@pages.get("/console/consents/{consent_id}", response_class=HTMLResponse)
def consent_page(
    consent_id: str, request: Request, rt: RuntimeDep, session: SessionDep
) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    try:
        history = console.consent_history(
            session, consent_id=consent_id[:64], who=who, now=rt.now()
        )
    except NotFound as exc:
        context = _context(
            rt,
            {
                "who": who,
                "nav": NAV,
                "section": "consents",
                "reason": exc.reason,
                "back": "/console/consents",
            },
        )
        return templates.TemplateResponse(
            request, "console_missing.html", context, status_code=404, headers=HEADERS
        )
    return _render(
        request, rt, "console_consent.html", who, "consents", {"h": history, "r": history.record}
    )


@pages.get("/console/audit", response_class=HTMLResponse)
def audit_page(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    return _render(
        request,
        rt,
        "console_audit.html",
        who,
        "audit",
        {
            "chain": verification.status(session),
            "period": _period(rt, None, None),
            "every": rt.settings.audit_checkpoint_every,
        },
    )


@pages.get("/console/deletions", response_class=HTMLResponse)
def deletions_page(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    period = _period(rt, start, end)
    proofs = console.deletion_proofs(
        session, period=period, gallery_ttl=_ttl(rt), now=rt.now(), backups=_backups(rt)
    )
    return _render(
        request,
        rt,
        "console_deletions.html",
        who,
        "deletions",
        {
            "period": period,
            "proofs": proofs,
            "ttl_s": rt.settings.gallery_ttl_s,
            "backup": epochs.promise(rt.settings),
        },
    )


@pages.get("/console/access", response_class=HTMLResponse)
def access_page(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    staff: Annotated[str, Query(max_length=80)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    period = _period(rt, start, end)
    log = console.access_log(session, period=period, staff=staff.strip(), now=rt.now())
    return _render(
        request,
        rt,
        "console_access.html",
        who,
        "access",
        {
            "period": period,
            "log": log,
            "staff": staff.strip(),
            "limit": console.MAX_ROWS,
            "many": console.MANY_PROFILES_PER_HOUR,
            "burst": console.DENIAL_BURST,
        },
    )


@pages.get("/console/incidents", response_class=HTMLResponse)
def incidents_page(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    outcome: Annotated[str, Query(max_length=20)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    now = rt.now()
    period = _period(rt, start, end)
    rows = console.incidents(session, period=period, outcome=outcome)
    rate = chart_set(session, period, now)[3]
    return _render(
        request,
        rt,
        "console_incidents.html",
        who,
        "incidents",
        {"period": period, "rows": rows, "outcome": outcome, "rate": rate},
    )


@pages.get("/console/retention", response_class=HTMLResponse)
def retention_page(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    period = _period(rt, start, end)
    view = console.retention_view(session, period=period, limits=limits(rt), now=rt.now())
    return _render(
        request, rt, "console_retention.html", who, "retention", {"period": period, "view": view}
    )


@pages.get("/console/devices", response_class=HTMLResponse)
def devices_page(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    return _render(
        request,
        rt,
        "console_devices.html",
        who,
        "devices",
        {
            "rows": console.device_rows(session, gallery_ttl=_ttl(rt), now=rt.now()),
            "ttl_s": rt.settings.gallery_ttl_s,
            "period": _period(rt, None, None),
        },
    )


@pages.get("/console/stores", response_class=HTMLResponse)
def stores_page(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    rows = signage.store_rows(session)
    return _render(
        request,
        rt,
        "console_stores.html",
        who,
        "stores",
        {
            "stores": rows,
            "false_matches": false_matches.by_store(
                session,
                bound=rt.settings.max_false_matches_per_1000,
                now=rt.now(),
                modes={row.code: row.mode for row in rows},
            ),
            "modes": RECOGNITION_MODES,
            "mode_labels": golive.MODE_LABELS,
            "door_legal": golive.DOOR_LEGAL_POSITION,
            "ttl_s": rt.settings.gallery_ttl_s,
            "period": _period(rt, None, None),
        },
    )


@pages.get("/console/ropa", response_class=HTMLResponse)
def ropa_page(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    who = _page_officer(request, rt, session)
    if isinstance(who, HTMLResponse):
        return who
    record = ropa.build(session, settings=rt.settings, keys=_key_info(rt), now=rt.now())
    return _render(request, rt, "console_ropa.html", who, "ropa", {"record": record})


# == JSON ===================================================================================


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(min_length=1, max_length=20)
    note: str = Field("", max_length=2000)


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: FiniteFloat = Field(ge=0, lt=1, description="left edge, fraction of the frame width")
    y: FiniteFloat = Field(ge=0, lt=1, description="top edge, fraction of the frame height")
    w: FiniteFloat = Field(gt=0, le=1)
    h: FiniteFloat = Field(gt=0, le=1)
    min_face_size: int = Field(ge=20, le=2000, description="smallest face side, pixels")


class GoLiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signage_confirmed: bool
    dpia_reference: str = Field(max_length=200)
    zone: ZoneIn
    mode: Literal["door", "checkin", "pass", "pass+face"] = Field(
        description="how members are recognised at this store (issue 12)"
    )
    door_acknowledged: bool = Field(
        default=False,
        description="door mode only: the officer read the legal position and chooses it knowingly",
    )


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=300)


def _rows(items: list[Any]) -> list[dict[str, Any]]:
    return [i.as_row() for i in items]


@api.get("/overview")
def overview(
    who: Officer,
    rt: RuntimeDep,
    session: SessionDep,
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> dict[str, Any]:
    period = _period(rt, start, end)
    now = rt.now()
    return {
        "period": period.as_json(),
        **asdict(console.overview(session, period=period, gallery_ttl=_ttl(rt), now=now)),
        "consents_per_day": [
            {"day": d.day, **d.values}
            for d in console.daily_consents(session, period=period, now=now)
        ],
        "arrivals_per_day": [
            {"day": d.day, **d.values} for d in console.daily_arrivals(session, period=period)
        ],
    }


@api.get("/consents")
def consents(
    who: Officer,
    rt: RuntimeDep,
    session: SessionDep,
    customer: Annotated[str, Query(max_length=200)] = "",
    store: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    channel: Annotated[str, Query(max_length=20)] = "",
    version: Annotated[str, Query(max_length=40)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> list[dict[str, Any]]:
    now = rt.now()
    period = _period(rt, start, end) if (start or end) else None
    filters = console.ConsentFilter(customer, store, status, channel, version, period)
    return _rows(console.consent_log(session, filters=filters, now=now))


@api.get("/consents/{consent_id}")
def consent(consent_id: str, who: Officer, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    h = console.consent_history(session, consent_id=consent_id[:64], who=who, now=rt.now())
    return {
        "record": h.record.as_row(),
        "subject": h.subject,
        "related": _rows(h.related),
        "events": _rows(h.events),
    }


@api.get("/audit")
def audit_status(who: Officer, session: SessionDep) -> dict[str, Any]:
    st = verification.status(session)
    return {
        "entries": st.entries,
        "last_entry_at": st.last_entry_at,
        "last_run": verification.run_as_row(st.last_run) if st.last_run else None,
        "runs": [verification.run_as_row(r) for r in st.runs],
        "checkpoints": [
            {"seq": c.seq, "hash": c.hash, "at": c.at, "signature": c.signature.hex()}
            for c in st.checkpoints
        ],
        "checkpoint_count": st.checkpoint_count,
        "first_bad_entry": asdict(st.bad) if st.bad else None,
        "unverified_since": st.unverified_since,
    }


@api.post("/audit/verify")
def verify_now(who: Officer, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    run = verification.run(
        session, public_key=_public_key(rt), actor=console.actor_of(who), now=rt.now()
    )
    out = verification.run_as_row(run)
    if not run.ok and run.first_bad_seq is not None:
        out["first_bad_entry"] = asdict(verification.bad_entry(session, run.first_bad_seq))
    return out


@api.post("/audit/checkpoint")
def sign_checkpoint(who: Officer, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    cp = verification.sign_checkpoint(session, signing_key=rt.signing_key, now=rt.now())
    if cp is None:
        return {"seq": None}
    return {"seq": cp.seq, "hash": cp.hash, "at": cp.at, "signature": cp.signature.hex()}


@api.get("/deletions")
def deletions(
    who: Officer,
    rt: RuntimeDep,
    session: SessionDep,
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> list[dict[str, Any]]:
    period = _period(rt, start, end)
    return _rows(
        console.deletion_proofs(
            session, period=period, gallery_ttl=_ttl(rt), now=rt.now(), backups=_backups(rt)
        )
    )


@api.get("/access")
def access(
    who: Officer,
    rt: RuntimeDep,
    session: SessionDep,
    staff: Annotated[str, Query(max_length=80)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> dict[str, Any]:
    log = console.access_log(
        session, period=_period(rt, start, end), staff=staff.strip(), now=rt.now()
    )
    sign_ins = [
        {"seq": e.seq, "at": e.at, "kind": e.kind, "actor": e.actor, **e.data}
        for e in log.sign_ins[-console.MAX_ROWS :]
    ]
    return {
        "rows": _rows(log.rows[: console.MAX_ROWS]),
        "flags": _rows(log.flags),
        "sign_ins": sign_ins,
    }


@api.get("/incidents")
def incident_list(
    who: Officer,
    rt: RuntimeDep,
    session: SessionDep,
    outcome: Annotated[str, Query(max_length=20)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> list[dict[str, Any]]:
    return _rows(console.incidents(session, period=_period(rt, start, end), outcome=outcome))


@api.post("/incidents/{incident_id}/outcome")
def incident_outcome(
    incident_id: int, body: OutcomeIn, who: Officer, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    incident = console.record_outcome(
        session,
        incident_id=incident_id,
        outcome=body.outcome,
        note=body.note,
        who=who,
        now=rt.now(),
    )
    return {
        "id": incident.id,
        "outcome": incident.outcome,
        "resolved_by": incident.resolved_by,
        "resolved_at": incident.resolved_at,
    }


@api.get("/retention")
def retention(
    who: Officer,
    rt: RuntimeDep,
    session: SessionDep,
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> dict[str, Any]:
    view = console.retention_view(
        session, period=_period(rt, start, end), limits=limits(rt), now=rt.now()
    )
    return {
        "limits": view.limits,
        "expiring": _rows(view.expiring),
        "destroyed": _rows(view.destroyed),
    }


@api.get("/devices")
def device_list(who: Officer, rt: RuntimeDep, session: SessionDep) -> list[dict[str, Any]]:
    return _rows(console.device_rows(session, gallery_ttl=_ttl(rt), now=rt.now()))


@api.post("/devices/{device_id}/revoke")
def revoke(device_id: str, who: Officer, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    console.revoke_device(
        session, device_id=device_id[:64], who=who, now=rt.now(), notify=rt.broker.publish
    )
    return {"device_id": device_id, "credential": "revoked"}


@api.get("/stores")
def stores(who: Officer, session: SessionDep) -> list[dict[str, Any]]:
    return [s.as_row() for s in signage.store_rows(session)]


@api.post("/stores/{code}/go-live")
def go_live(
    code: str, body: GoLiveIn, who: Officer, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    signage.require_controller(
        controller_name=rt.settings.controller_name, privacy_contact=rt.settings.privacy_contact
    )
    store = signage.store(session, code)
    zone = signage.MemberZone(
        body.zone.x, body.zone.y, body.zone.w, body.zone.h, body.zone.min_face_size
    )
    console.go_live(
        session,
        store=store,
        dpia_reference=body.dpia_reference,
        signage_confirmed=body.signage_confirmed,
        zone=zone,
        mode=body.mode,
        door_acknowledged=body.door_acknowledged,
        who=who,
        now=rt.now(),
        notify=rt.broker.publish,
        false_match_bound=rt.settings.max_false_matches_per_1000,
    )
    return {
        "store": store.code,
        "live": store.live,
        "dpia_reference": store.dpia_reference,
        "mode": body.mode,
        "gallery_version": store.gallery_version,
    }


@api.post("/stores/{code}/pause")
def pause(
    code: str, body: PauseIn, who: Officer, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    store = signage.store(session, code)
    console.pause(
        session, store=store, reason=body.reason, who=who, now=rt.now(), notify=rt.broker.publish
    )
    return {"store": store.code, "live": store.live}


@api.get("/export/{view}")
def export(
    view: str,
    who: Officer,
    rt: RuntimeDep,
    session: SessionDep,
    start: PeriodFrom = None,
    end: PeriodTo = None,
    fmt: Annotated[str, Query(alias="format", max_length=8)] = "csv",
) -> Response:
    ctx = console_export.ExportContext(
        session=session,
        period=_period(rt, start, end),
        now=rt.now(),
        gallery_ttl=_ttl(rt),
        limits=limits(rt),
        backups=_backups(rt),
    )
    out = console_export.export(ctx, view=view, fmt=fmt, who=who)
    return Response(
        out.content,
        media_type=out.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{out.filename}"',
            "Cache-Control": "no-store",
            "X-Rows": str(out.rows),
        },
    )


@api.get("/ropa.md")
def ropa_markdown(who: Officer, rt: RuntimeDep, session: SessionDep) -> Response:
    now = rt.now()
    record = ropa.build(session, settings=rt.settings, keys=_key_info(rt), now=now)
    day = localtime.today(now, rt.settings.zone)
    return Response(
        ropa.to_markdown(record).encode(),
        media_type="text/markdown; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="vertrouwd-art30-{day}.md"',
            "Cache-Control": "no-store",
        },
    )


@api.get("/ropa.pdf")
def ropa_pdf(who: Officer, rt: RuntimeDep, session: SessionDep) -> Response:
    now = rt.now()
    record = ropa.build(session, settings=rt.settings, keys=_key_info(rt), now=now)
    day = localtime.today(now, rt.settings.zone)
    return Response(
        ropa.to_pdf(record),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="vertrouwd-art30-{day}.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _aiact(rt: Runtime, session: SessionDep) -> ropa.Record:
    # the model the server enrols with and devices match with; its shipped calibration
    calibration = load_calibration("dlib_resnet_v1")
    return aiact.build(session, settings=rt.settings, calibration=calibration, now=rt.now())


@api.get("/aiact.md")
def aiact_markdown(who: Officer, rt: RuntimeDep, session: SessionDep) -> Response:
    """The AI Act transparency record (issue 12), from the live configuration."""
    record = _aiact(rt, session)
    day = localtime.today(record.generated_at, rt.settings.zone)
    return Response(
        ropa.to_markdown(record).encode(),
        media_type="text/markdown; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="vertrouwd-aiact-{day}.md"',
            "Cache-Control": "no-store",
        },
    )


@api.get("/aiact.pdf")
def aiact_pdf(who: Officer, rt: RuntimeDep, session: SessionDep) -> Response:
    record = _aiact(rt, session)
    day = localtime.today(record.generated_at, rt.settings.zone)
    return Response(
        ropa.to_pdf(record),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="vertrouwd-aiact-{day}.pdf"',
            "Cache-Control": "no-store",
        },
    )


router = APIRouter()
router.include_router(pages)
router.include_router(api)
