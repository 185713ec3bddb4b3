"""HTML pages: the register (enrolment), its printable receipt, and the customer's
self-service page ``/me/<token>``.

The register page is static HTML + ``/static/register.js`` talking to the JSON API; the receipt
and the self-service page are rendered on the server. Pages that show a self-service link or a
customer's data are sent with ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``
(the token in the URL is the customer's key to their data).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy.orm import Session

from consent.records import LANGUAGES
from server.api import me_text
from server.api.page_text import TEXT, texts
from server.api.staff_text import STAFF_LANGUAGES, staff_language, staff_texts
from server.deps import SESSION_COOKIE, RuntimeDep, SessionDep, staff_from_token
from server.runtime import Runtime
from server.services import localtime
from server.services.errors import BadInput, Forbidden, NotFound, Unauthorized
from server.services.membership import (
    consent_view,
    customer_admin,
    export,
    passes,
    receipts,
    selfservice,
)
from server.services.membership import kinds as membership
from server.services.staff import accounts as staff

router = APIRouter(tags=["pages"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

_MONTHS = {
    "en": [
        *("January", "February", "March", "April", "May", "June"),
        *("July", "August", "September", "October", "November", "December"),
    ],
    "nl": [
        *("januari", "februari", "maart", "april", "mei", "juni"),
        *("juli", "augustus", "september", "oktober", "november", "december"),
    ],
}
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _instant(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def format_date(value: datetime | str | None, language: str, tz: tzinfo) -> str:
    """``25 november 2026`` / ``25 November 2026``: the calendar day in ``tz`` (the stores'
    zone); an ISO string is parsed first, and a time without an offset is taken as UTC."""
    if value is None or value == "":
        return ""
    day = localtime.day_of(_instant(value), tz)
    months = _MONTHS.get(language, _MONTHS["nl"])
    return f"{day.day} {months[day.month - 1]} {day.year}"


def format_clock(value: datetime | str | None, tz: tzinfo) -> str:
    """``15:05 CET`` (``CEST`` in summer): the time of day in ``tz`` with its abbreviation."""
    if value is None or value == "":
        return ""
    return localtime.format_clock(_instant(value), tz)


def zone_in(ctx: Context) -> tzinfo:
    """The ``tz`` a page was rendered with: pages and console templates format times in it, and
    a page rendered without it fails loudly instead of quietly showing UTC."""
    tz = ctx.get("tz")
    if not isinstance(tz, tzinfo):
        raise RuntimeError("a page was rendered without its time zone (tz)")
    return tz


@pass_context
def _date_filter(ctx: Context, value: datetime | str | None, language: str) -> str:
    return format_date(value, language, zone_in(ctx))


@pass_context
def _clock_filter(ctx: Context, value: datetime | str | None) -> str:
    return format_clock(value, zone_in(ctx))


def is_datetime(value: object) -> bool:
    if not isinstance(value, str) or len(value) < 19 or value[4] != "-" or value[10] != "T":
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def columns_of(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Table columns for rows of an unknown section: every key, ids last."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    keys.sort(key=lambda k: k == "id" or k.endswith("_id"))
    return [(k, k.replace("_", " ")) for k in keys]


templates.env.filters["date"] = _date_filter
templates.env.filters["clock"] = _clock_filter
templates.env.filters["is_datetime"] = is_datetime
templates.env.globals["columns_of"] = columns_of
templates.env.globals["detail_columns"] = me_text.detail_columns
templates.env.globals["detail_value"] = me_text.detail_value

# Sections of the export document the self-service page lays out itself; any other section
# (a table added later) is still shown, generically, so the page always shows everything held.
KNOWN_SECTIONS = frozenset(
    {
        "format",
        "exported_at",
        "profile",
        "recognition",
        "consents",
        "templates",
        "thumbnail",
        "data_key",
        "purchases",
        "preferences",
        "allergies",
        "visits",
    }
)


def _headers(*, private: bool) -> dict[str, str]:
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    if private:
        headers.update(PRIVATE_HEADERS)
    return headers


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    private: bool,
    tz: tzinfo | None = None,
) -> HTMLResponse:
    """``tz``: the stores' zone (``settings.timezone``), which the ``date`` and ``clock``
    filters need: a page that shows a date or a time must pass it."""
    if tz is not None:
        context = {"tz": tz, **context}
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers=_headers(private=private)
    )


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, rt: RuntimeDep, lang: str | None = None) -> HTMLResponse:
    """Signed-out visitors get the sign-in form (the page's script asks ``/auth/me``). The
    cashier's words in the stores' staff language (``?lang=`` switches)."""
    staff_lang = staff_language(lang, rt.settings.staff_language)
    other = next(code for code in STAFF_LANGUAGES if code != staff_lang)
    return _render(
        request,
        "register.html",
        {
            "consent_views": consent_view.current_views(),
            "pass_views": consent_view.current_pass_views(),
            "languages": LANGUAGES,
            "labels": {lang: TEXT[lang] for lang in LANGUAGES},
            "staff_lang": staff_lang,
            "s": staff_texts(staff_lang),
            "other_lang": other,
            "other_lang_name": TEXT[other]["lang_name"],
        },
        private=False,
    )


@router.get("/register/receipt/{customer_id}", response_class=HTMLResponse)
def receipt_page(
    customer_id: str, request: Request, rt: RuntimeDep, session: SessionDep
) -> Response:
    return _receipt(customer_id, request, rt, session, pass_token=None)


@router.post("/register/receipt/{customer_id}", response_class=HTMLResponse)
def receipt_with_pass(
    customer_id: str,
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    pass_token: Annotated[str, Form(max_length=128)],
) -> Response:
    """The receipt printed right after an enrolment or a new pass: the register page posts the
    pass it was answered (never in a URL), and it is printed if it is the member's current
    pass. Nothing stores it."""
    return _receipt(customer_id, request, rt, session, pass_token=pass_token)


def _receipt(
    customer_id: str,
    request: Request,
    rt: Runtime,
    session: Session,
    *,
    pass_token: str | None,
) -> Response:
    try:
        who = staff_from_token(rt, session, request.cookies.get(SESSION_COOKIE))
    except Unauthorized:
        return RedirectResponse("/register", status_code=303)
    # the page's frame and what only the cashier reads in the staff language; the receipt
    # itself in the customer's
    staff_lang = rt.settings.staff_language
    staff_words = staff_texts(staff_lang)
    now = rt.now()
    try:
        customer = customer_admin.authorise(
            session, who=who, customer_id=customer_id, action="view", now=now
        )
        if pass_token is not None:
            pass_token = passes.check_token(session, customer_id=customer.id, token=pass_token)
    except (NotFound, Forbidden, BadInput) as exc:  # authorise audits access.denied
        return _render(
            request,
            "receipt.html",
            {
                "receipt": None,
                "t": texts(staff_lang),
                "s": staff_words,
                "lang": staff_lang,
                "reason": exc.reason,
            },
            status=exc.status_code,
            private=True,
            tz=rt.settings.zone,
        )
    started = staff.signed_in_at(session, request.cookies.get(SESSION_COOKIE) or "")
    link_allowed = started is not None and selfservice.receipt_allowed(
        session, customer=customer, username=who.username, signed_in_at=started, now=now
    )
    if not link_allowed and pass_token is None:
        # Not right after this customer's enrolment in this session: no new link without an
        # explicit, audited re-issue (the page offers it).
        return _render(
            request,
            "receipt.html",
            {
                "receipt": None,
                "reissue_url": f"/api/v1/customers/{customer.id}/self-service-link",
                "customer_name": customer.name,
                "t": texts(customer.language),
                "s": staff_words,
                "lang": staff_lang,  # the cashier reads this page, not the customer
            },
            private=True,
            tz=rt.settings.zone,
        )
    # A new pass printed later (a lost card) comes without a new link: that needs the
    # audited re-issue.
    link = (
        selfservice.issue_link(
            session,
            rt.context().at(now),
            customer=customer,
            actor=f"staff:{who.username}",
            channel="receipt",
        )
        if link_allowed
        else None
    )
    receipt = receipts.issue_receipt(
        session,
        who=who,
        customer=customer,
        link=link,
        valid_until=now + timedelta(days=rt.settings.self_service_ttl_days),
        now=now,
        pass_token=pass_token,
    )
    return _render(
        request,
        "receipt.html",
        {
            "receipt": receipt,
            "t": texts(receipt.language),
            "s": staff_words,
            "lang": receipt.language,
        },
        private=True,
        tz=rt.settings.zone,
    )


@router.get("/me/{token}", response_class=HTMLResponse)
def me_page(
    token: str,
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    lang: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    """Everything held about the customer, with export, withdraw and forget. A bad or expired
    link is a 401 page and a link whose customer was erased a 404 page, neither with data."""
    now = rt.now()
    tz = rt.settings.zone
    context: dict[str, Any] = {
        "done": done,
        "all_texts": [{"lang": code, **TEXT[code]} for code in LANGUAGES],
        "languages": [(code, TEXT[code]["lang_name"]) for code in LANGUAGES],
        "language_names": {code: TEXT[code]["lang_name"] for code in LANGUAGES},
    }
    fallback = lang if lang in LANGUAGES else "nl"
    try:
        customer = selfservice.resolve(session, token=token, now=now)
    except Unauthorized:
        context.update(state="invalid", lang=fallback, t=texts(fallback))
        return _render(request, "me.html", context, status=401, private=True, tz=tz)
    except NotFound:
        context.update(state="nothing", lang=fallback, t=texts(fallback))
        return _render(request, "me.html", context, status=404, private=True, tz=tz)
    doc = export.export_customer(session, customer_id=customer.id, kek=rt.kek, now=now)
    language = lang if lang in LANGUAGES else customer.language
    base = f"/api/v1/me/{token}"
    context.update(
        state="held",
        lang=language,
        t=me_text.me_texts(language),
        doc=doc,
        consent_until=next(
            (c["expires_at"] for c in doc["consents"] if c["status"] == "active"), None
        ),
        retention_years=rt.settings.retention_years,
        purchase_months=me_text.by_month(doc["purchases"], language, tz),
        other=[(k, v) for k, v in doc.items() if k not in KNOWN_SECTIONS],
        export_url=f"{base}/export",
        withdraw_url=f"{base}/withdraw",
        forget_url=f"{base}/forget",
        # issue 12: the kind of membership, switching to one without a face, a new pass
        membership=(
            None
            if doc["recognition"] != "active"
            else "face"
            if membership.has_face(session, customer.id)
            else "pass"
        ),
        switch_pass_url=f"{base}/membership/pass",
        new_pass_url=f"{base}/pass",
    )
    return _render(request, "me.html", context, private=True, tz=tz)
