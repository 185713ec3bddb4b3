"""HTML pages: the register (enrolment), its printable receipt, and the customer's
self-service page ``/me/<token>``.

The register page is static HTML + ``/static/register.js`` talking to the JSON API; the receipt
and the self-service page are rendered on the server. Pages that show a self-service link or a
customer's data are sent with ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``
(the token in the URL is the customer's key to their data).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consent.records import LANGUAGES
from server.api.page_text import TEXT, texts
from server.deps import SESSION_COOKIE, RuntimeDep, SessionDep, staff_from_token
from server.services import consent_view, receipts, selfservice
from server.services.errors import NotFound, Unauthorized

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


def format_date(value: datetime | str | None, language: str) -> str:
    """``25 november 2026`` / ``25 November 2026``; an ISO string is parsed first."""
    if value is None or value == "":
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    months = _MONTHS.get(language, _MONTHS["nl"])
    return f"{dt.day} {months[dt.month - 1]} {dt.year}"


templates.env.filters["date"] = format_date


def _headers(*, private: bool) -> dict[str, str]:
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    if private:
        headers.update(PRIVATE_HEADERS)
    return headers


def _render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200, private: bool
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers=_headers(private=private)
    )


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request) -> HTMLResponse:
    """Signed-out visitors get the sign-in form (the page's script asks ``/auth/me``)."""
    return _render(
        request,
        "register.html",
        {
            "consent_views": consent_view.current_views(),
            "languages": LANGUAGES,
            "labels": {lang: TEXT[lang] for lang in LANGUAGES},
        },
        private=False,
    )


@router.get("/register/receipt/{customer_id}", response_class=HTMLResponse)
def receipt_page(
    customer_id: str, request: Request, rt: RuntimeDep, session: SessionDep
) -> Response:
    try:
        who = staff_from_token(rt, session, request.cookies.get(SESSION_COOKIE))
    except Unauthorized:
        return RedirectResponse("/register", status_code=303)
    try:
        customer = receipts.customer_for_receipt(session, who=who, customer_id=customer_id)
    except NotFound:
        return _render(
            request,
            "receipt.html",
            {"receipt": None, "t": texts("en")},
            status=404,
            private=True,
        )
    now = rt.now()
    receipt = receipts.issue_receipt(
        session,
        who=who,
        customer=customer,
        link=selfservice.link(rt, customer.id),
        valid_until=now + timedelta(days=rt.settings.self_service_ttl_days),
        now=now,
    )
    return _render(
        request,
        "receipt.html",
        {"receipt": receipt, "t": texts(receipt.language), "lang": receipt.language},
        private=True,
    )
