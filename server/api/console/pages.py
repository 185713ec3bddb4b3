"""The console's HTML pages under ``/console``, rendered on the server.

Every page declares :data:`~server.api.console.common.OfficerPage` (the officer, or the
sign-in/refusal page instead) and, where it shows a period, ``PeriodDep``; what it shows comes
from the same call as its JSON twin (``common``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from consent.modes import RECOGNITION_MODES
from server.api.console import common
from server.api.console.common import OfficerPage, PagePeriodDep, PeriodFrom, PeriodTo
from server.deps import SessionDep
from server.services.console import charts, verification
from server.services.console import views as console
from server.services.errors import NotFound
from server.services.membership import epochs
from server.services.recognition import false_matches, golive, signage

router = APIRouter(tags=["console"])


# -- charts ----------------------------------------------------------------------------------


def rate_chart(
    arrivals: list[console.DayCount], t: dict[str, str], language: str
) -> dict[str, Any]:
    """'Not this person' reports per 100 arrivals, per day (overview and incidents)."""
    return {
        "title": t["chart_rate"],
        "svg": charts.chart(
            [d.day for d in arrivals],
            [
                charts.Series(
                    t["chart_rate_help"],
                    [d.values["incident_rate"] for d in arrivals],
                    "#b3261e",
                    "line",
                    t["tip_rate"],
                )
            ],
            title=t["chart_rate"],
            description=t["chart_rate_help"],
            unit="%",
            chart_id="chart-rate",
            language=language,
        ),
        "columns": [t["per_100"]],
        "rows": [(d.day, [d.values["incident_rate"]]) for d in arrivals],
    }


def chart_set(data: common.OverviewData, t: dict[str, str], language: str) -> list[dict[str, Any]]:
    """The overview's charts, each with its numbers for a table under it, in the words ``t``
    (tooltips too) and ``language``'s days and numbers."""
    consents, arrivals = data.consents_per_day, data.arrivals_per_day
    days = [d.day for d in consents]
    return [
        {
            "title": t["chart_consents"],
            "svg": charts.chart(
                days,
                [
                    charts.Series(
                        t["given"],
                        [d.values["given"] for d in consents],
                        "#2f6f5e",
                        tip=t["tip_given"],
                    ),
                    charts.Series(
                        t["ended"],
                        [d.values["ended"] for d in consents],
                        "#9aa3b2",
                        tip=t["tip_ended"],
                    ),
                ],
                title=t["chart_consents"],
                description=t["chart_consents_help"],
                chart_id="chart-consents",
                language=language,
            ),
            "columns": [t["given"], t["ended"]],
            "rows": [(d.day, [d.values["given"], d.values["ended"]]) for d in consents],
        },
        {
            "title": t["chart_active"],
            "svg": charts.chart(
                days,
                [
                    charts.Series(
                        t["active"],
                        [d.values["active"] for d in consents],
                        "#1a56db",
                        "line",
                        t["tip_active"],
                    )
                ],
                title=t["chart_active"],
                description=t["chart_active_help"],
                chart_id="chart-active",
                language=language,
            ),
            "columns": [t["active"]],
            "rows": [(d.day, [d.values["active"]]) for d in consents],
        },
        {
            "title": t["chart_arrivals"],
            "svg": charts.chart(
                [d.day for d in arrivals],
                [
                    charts.Series(
                        t["arrivals"],
                        [d.values["arrivals"] for d in arrivals],
                        "#2f6f5e",
                        tip=t["tip_arrivals"],
                    ),
                    charts.Series(
                        t["not_this_person"],
                        [d.values["incidents"] for d in arrivals],
                        "#b3261e",
                        tip=t["tip_incidents"],
                    ),
                ],
                title=t["chart_arrivals"],
                description=t["chart_arrivals_help"],
                chart_id="chart-arrivals",
                language=language,
            ),
            "columns": [t["arrivals"], t["not_this_person"]],
            "rows": [(d.day, [d.values["arrivals"], d.values["incidents"]]) for d in arrivals],
        },
        rate_chart(arrivals, t, language),
    ]


# -- pages -----------------------------------------------------------------------------------


@router.get("/console", response_class=HTMLResponse)
def overview_page(page: OfficerPage, session: SessionDep, period: PagePeriodDep) -> Response:
    data = common.overview(session, page.ctx, period)
    return page.render(
        "console.html",
        "overview",
        {
            "period": period,
            "overview": data.overview,
            "chain": verification.status(session, runs=1, checkpoints=1),
            "charts": chart_set(data, common.words(page.ctx), page.ctx.settings.staff_language),
            "stores": signage.store_rows(session),
        },
    )


@router.get("/console/consents", response_class=HTMLResponse)
def consents_page(
    page: OfficerPage,
    session: SessionDep,
    customer: Annotated[str, Query(max_length=200)] = "",
    store: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    channel: Annotated[str, Query(max_length=20)] = "",
    version: Annotated[str, Query(max_length=40)] = "",
    start: PeriodFrom = None,
    end: PeriodTo = None,
) -> Response:
    try:
        filters = common.consent_filter(
            page.ctx, customer, store, status, channel, version, start, end
        )
    except console.PeriodError as exc:
        raise common.bad_period(page, exc, start, end) from None
    return page.render(
        "console_consents.html",
        "consents",
        {
            "rows": console.consent_log(session, filters=filters, now=page.ctx.now()),
            "filters": filters,
            "choices": console.consent_choices(session),
            "limit": console.MAX_ROWS,
            "export_period": filters.period
            or common.period_of(page.ctx, None, None, default_days=365),
        },
    )


@router.get("/console/consents/{consent_id}", response_class=HTMLResponse)
def consent_page(consent_id: str, page: OfficerPage, session: SessionDep) -> Response:
    try:
        history = console.consent_history(
            session, consent_id=consent_id[:64], who=page.who, now=page.ctx.now()
        )
    except NotFound:
        return page.render(
            "console_missing.html",
            "consents",
            {"reason": common.words(page.ctx)["no_consent"], "back": "/console/consents"},
            status_code=404,
        )
    return page.render("console_consent.html", "consents", {"h": history, "r": history.record})


@router.get("/console/audit", response_class=HTMLResponse)
def audit_page(page: OfficerPage, session: SessionDep) -> Response:
    period = common.period_of(page.ctx, None, None)  # the default, for the export links
    return page.render(
        "console_audit.html",
        "audit",
        {
            "chain": verification.status(session),
            "period": period,
            "every": page.ctx.settings.audit_checkpoint_every,
        },
    )


@router.get("/console/deletions", response_class=HTMLResponse)
def deletions_page(page: OfficerPage, session: SessionDep, period: PagePeriodDep) -> Response:
    return page.render(
        "console_deletions.html",
        "deletions",
        {
            "period": period,
            "proofs": common.deletions(session, page.ctx, period),
            "ttl_s": page.ctx.settings.gallery_ttl_s,
            "backup": epochs.promise(page.ctx.settings),
        },
    )


@router.get("/console/access", response_class=HTMLResponse)
def access_page(
    page: OfficerPage,
    session: SessionDep,
    period: PagePeriodDep,
    staff: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    return page.render(
        "console_access.html",
        "access",
        {
            "period": period,
            "log": common.access_log(session, page.ctx, period, staff),
            "staff": staff.strip(),
            "limit": console.MAX_ROWS,
            "many": console.MANY_PROFILES_PER_HOUR,
            "burst": console.DENIAL_BURST,
            "denial_minutes": int(console.DENIAL_WINDOW.total_seconds() // 60),
        },
    )


@router.get("/console/incidents", response_class=HTMLResponse)
def incidents_page(
    page: OfficerPage,
    session: SessionDep,
    period: PagePeriodDep,
    outcome: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    rows = console.incidents(session, period=period, outcome=outcome)
    rate = rate_chart(
        console.daily_arrivals(session, period=period),
        common.words(page.ctx),
        page.ctx.settings.staff_language,
    )
    return page.render(
        "console_incidents.html",
        "incidents",
        {"period": period, "rows": rows, "outcome": outcome, "rate": rate},
    )


@router.get("/console/retention", response_class=HTMLResponse)
def retention_page(page: OfficerPage, session: SessionDep, period: PagePeriodDep) -> Response:
    view = common.retention(session, page.ctx, period)
    return page.render("console_retention.html", "retention", {"period": period, "view": view})


@router.get("/console/devices", response_class=HTMLResponse)
def devices_page(page: OfficerPage, session: SessionDep) -> Response:
    period = common.period_of(page.ctx, None, None)  # the default, for the export links
    return page.render(
        "console_devices.html",
        "devices",
        {
            "rows": common.device_rows(session, page.ctx),
            "ttl_s": page.ctx.settings.gallery_ttl_s,
            "period": period,
        },
    )


@router.get("/console/stores", response_class=HTMLResponse)
def stores_page(page: OfficerPage, session: SessionDep) -> Response:
    period = common.period_of(page.ctx, None, None)  # the default, for the export links
    rows = signage.store_rows(session)
    settings = page.ctx.settings
    return page.render(
        "console_stores.html",
        "stores",
        {
            "stores": rows,
            "false_matches": false_matches.by_store(
                session,
                bound=settings.max_false_matches_per_1000,
                calibration=page.ctx.calibration,
                now=page.ctx.now(),
                modes={row.code: row.mode for row in rows},
            ),
            "modes": RECOGNITION_MODES,
            "door_legal_count": len(golive.DOOR_LEGAL_POSITION),
            "ttl_s": settings.gallery_ttl_s,
            "period": period,
        },
    )


@router.get("/console/ropa", response_class=HTMLResponse)
def ropa_page(page: OfficerPage, session: SessionDep) -> Response:
    record = common.ropa_record(session, page.ctx)
    return page.render("console_ropa.html", "ropa", {"record": record})
