"""Public transparency, no sign-in: ``/privacy`` (what the system does and does not do, in Dutch
and English, from the live configuration) and the printable entrance sign
``/privacy/sign.pdf?store=CODE&lang=nl|en`` with a QR code to ``/privacy``.

The sign can be printed before a store goes live: hanging it up is a condition of going live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from consent.records import LANGUAGES
from server.api.page_text import TEXT, texts
from server.api.pages import CSP, format_date
from server.api.schemas import file_answer
from server.deps import RuntimeDep, SessionDep
from server.services.membership import epochs
from server.services.recognition import golive, signage

router = APIRouter(tags=["privacy"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else "nl"


@router.get("/privacy", response_class=HTMLResponse)
def privacy_page(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> HTMLResponse:
    language = _language(lang)
    t = texts(language)
    s = rt.settings
    now = rt.now()
    stores: list[dict[str, Any]] = [
        {
            "name": store.name,
            "code": store.code,
            "since": format_date(store.signage_confirmed_at, language, s.zone),
            "mode": golive.store_mode(session, store.id),
        }
        for store in signage.live_stores(session)
    ]
    return templates.TemplateResponse(
        request,
        "privacy.html",
        {
            "lang": language,
            "t": t,
            "languages": [(code, TEXT[code]["lang_name"]) for code in LANGUAGES],
            "stores": stores,
            "months": s.consent_months,
            "years": s.retention_years,
            "ttl_min": max(1, s.gallery_ttl_s // 60),
            "backup": epochs.promise(s),
            "contact": s.privacy_contact,
            "controller": s.controller_name.rstrip("."),
            "generated": format_date(now, language, s.zone),
        },
        headers=HEADERS,
    )


def sign_text(
    t: dict[str, str],
    *,
    store_name: str,
    months: int,
    years: int,
    controller: str,
    contact: str | None,
    mode: str = "door",
) -> signage.SignText:
    footer = [t["sign_controller"].format(controller=controller)]
    footer.append(t["sign_contact"].format(contact=contact) if contact else t["sign_no_contact"])
    pass_only = mode == "pass"  # no face is processed: the sign must not say otherwise
    return signage.SignText(
        title=t["sign_title_pass" if pass_only else "sign_title"],
        lead=t["sign_lead_pass" if pass_only else "sign_lead"],
        points=[
            t["sign_point_others"],
            t[f"sign_mode_{mode}"],  # the store's recognition mode (issue 12)
            t["sign_point_retention"].format(months=months, years=years),
            t["sign_point_withdraw"],
        ],
        scan=t["sign_scan"],
        footer=[" · ".join(footer)],
        store_line=store_name,
    )


@router.get(
    "/privacy/sign.pdf",
    response_class=Response,
    responses=file_answer("the entrance sign", "application/pdf"),
)
def sign(
    rt: RuntimeDep,
    session: SessionDep,
    store: Annotated[str, Query(min_length=1, max_length=32)],
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    language = _language(lang)
    found = signage.store(session, store)
    s = rt.settings
    url = f"{s.public_url.rstrip('/')}/privacy?lang={language}"
    text = sign_text(
        texts(language),
        store_name=found.name,
        months=s.consent_months,
        years=s.retention_years,
        controller=s.controller_name,
        contact=s.privacy_contact,
        mode=golive.store_mode(session, found.id),
    )
    content = signage.sign_pdf(text=text, url=url, title=f"{text.title} - {found.name}")
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="vertrouwd-sign-{found.code}-{language}.pdf"',
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )
