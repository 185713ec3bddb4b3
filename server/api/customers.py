"""Enrolment at the register (cashier/admin)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from server.api.schemas import (
    CustomerPublic,
    EnrolmentOut,
    PublicOut,
    RenewOut,
    SelfServiceLinkOut,
    StatusOut,
)
from server.db.stores import Store
from server.deps import ContextDep, CurrentStaff, Enroller, RuntimeDep, SessionDep
from server.services.errors import BadInput, TooLarge
from server.services.membership import customer_admin, enrolment, lifecycle, receipts, selfservice
from server.services.membership import kinds as membership
from server.services.recognition import devices

router = APIRouter(prefix="/api/v1", tags=["customers"])


@router.post("/enrolments", status_code=201)
def enrol(
    who: Enroller,
    rt: RuntimeDep,
    ctx: ContextDep,
    session: SessionDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    consent_confirmed: Annotated[bool, Form()],
    confirmation_name: Annotated[str, Form(max_length=200)],
    photos: Annotated[list[UploadFile] | None, File()] = None,
    membership: Annotated[str, Form(pattern="^(face|pass)$")] = "face",
    preferred_name: Annotated[str, Form(max_length=100)] = "",
    language: Annotated[str, Form(pattern="^(nl|en)$")] = "nl",
    email: Annotated[str | None, Form(max_length=254)] = None,
    store_code: Annotated[str | None, Form(max_length=32)] = None,
    customer_id: Annotated[str | None, Form(min_length=1, max_length=32)] = None,
) -> EnrolmentOut:
    """Enrol a new member; with ``customer_id``, enrol an existing customer whose consent ended
    again (same record and history, see ``enrolment.reenrol``): ``name`` must then be the name on
    record, and a preferred name, the language and an e-mail update the profile.

    ``membership=pass`` is the membership without a face (issue 12): no photos, its own consent
    text; with ``customer_id`` and ``membership=face``, a pass-only member adds a face. Every
    enrolment answers the member's new pass token, once (only its digest is kept)."""
    request = enrolment.EnrolmentRequest(
        name=name,
        preferred_name=preferred_name,
        language=language,
        photos=_read_photos(photos or [], limit=rt.settings.max_upload_bytes),
        consent_confirmed=consent_confirmed,
        confirmation_name=confirmation_name,
        channel="register",
        collected_by=who.username,
        email=email or None,
        membership=membership,
    )
    # The photos first, before the session is touched: seconds of CPU in the bounded pool
    # without holding a database connection (the session takes one on first use).
    request = replace(request, analysed=enrolment.analyse_photos(request, analyser=rt.faces))
    if who.store_id is not None:
        store = session.get(Store, who.store_id)
    elif store_code:
        store = devices.store_by_code(session, store_code)
    else:
        raise BadInput("store_code is required for chain-wide accounts")
    assert store is not None
    reenrol = None
    if customer_id is not None:
        reenrol = customer_admin.authorise(
            session, who=who, customer_id=customer_id, action="reenrol", now=ctx.now()
        ).id
    enrolled = enrolment.enrol_member(
        session,
        ctx,
        request=request,
        store=store,
        analyser=rt.faces,
        threshold=rt.threshold,
        customer_id=reenrol,
    )
    result = enrolled.result
    return EnrolmentOut(
        customer_id=result.customer_id,
        templates=result.templates,
        self_service_url=enrolled.self_service_url,
        membership=result.membership,
        pass_token=result.pass_token,
    )


def _read_photos(photos: list[UploadFile], *, limit: int) -> list[bytes]:
    data: list[bytes] = []
    for upload in photos:
        blob = upload.file.read(limit + 1)
        if len(blob) > limit:
            raise TooLarge(f"{upload.filename or 'photo'} is larger than {limit:,} bytes")
        data.append(blob)
    return data


# -- consent lifecycle by staff (register, console) --------------------------------------------


@router.get("/customers")
def search_customers(
    who: CurrentStaff,
    rt: RuntimeDep,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
) -> list[CustomerPublic]:
    """Customers of the signed-in cashier's store by name, e-mail or loyalty id."""
    found = customer_admin.search(session, who=who, q=q, now=rt.now())
    return [CustomerPublic.model_validate(asdict(c)) for c in found]


@router.post("/customers/{customer_id}/withdraw")
def withdraw(
    customer_id: str, who: CurrentStaff, ctx: ContextDep, session: SessionDep
) -> StatusOut:
    customer = customer_admin.authorise(
        session, who=who, customer_id=customer_id, action="withdraw", now=ctx.now()
    )
    result = lifecycle.withdraw(
        session,
        ctx,
        customer_id=customer.id,
        actor=f"staff:{who.username}",
        channel=_channel(who.role),
    )
    return StatusOut(status=result.status, gallery_versions=result.gallery_versions)


@router.post("/customers/{customer_id}/erase")
def erase(customer_id: str, who: CurrentStaff, ctx: ContextDep, session: SessionDep) -> StatusOut:
    customer = customer_admin.authorise(
        session, who=who, customer_id=customer_id, action="erase", now=ctx.now()
    )
    result = lifecycle.erase(
        session,
        ctx,
        customer_id=customer.id,
        actor=f"staff:{who.username}",
        channel=_channel(who.role),
    )
    return StatusOut(status=result.status, gallery_versions=result.gallery_versions)


@router.post("/customers/{customer_id}/renew")
def renew(customer_id: str, who: CurrentStaff, ctx: ContextDep, session: SessionDep) -> RenewOut:
    customer = customer_admin.authorise(
        session, who=who, customer_id=customer_id, action="renew", now=ctx.now()
    )
    result = lifecycle.renew(
        session,
        ctx,
        customer_id=customer.id,
        actor=f"staff:{who.username}",
        channel=_channel(who.role),
        collected_by=who.username,
    )
    return RenewOut(
        status="active",
        consent_id=result.consent_id,
        previous_consent_id=result.previous_consent_id,
        expires_at=result.expires_at,
    )


class PassOut(PublicOut):
    """A new pass, answered once so the register can print it; only its digest is stored."""

    pass_token: str


@router.post("/customers/{customer_id}/pass")
def new_pass(customer_id: str, who: CurrentStaff, ctx: ContextDep, session: SessionDep) -> PassOut:
    """A new membership pass (lost card): the old one stops working at once."""
    customer = customer_admin.authorise(
        session, who=who, customer_id=customer_id, action="pass", now=ctx.now()
    )
    issued = membership.reissue_pass(
        session, ctx, customer_id=customer.id, actor=f"staff:{who.username}"
    )
    return PassOut(pass_token=issued.token)


@router.post("/customers/{customer_id}/membership/pass")
def switch_to_pass(
    customer_id: str, who: CurrentStaff, ctx: ContextDep, session: SessionDep
) -> StatusOut:
    """The member keeps their membership without a face: templates and photo destroyed now."""
    customer = customer_admin.authorise(
        session, who=who, customer_id=customer_id, action="withdraw", now=ctx.now()
    )
    result = membership.switch_to_pass(
        session,
        ctx,
        customer_id=customer.id,
        actor=f"staff:{who.username}",
        channel=_channel(who.role),
    )
    return StatusOut(status="active", gallery_versions=result.gallery_versions)


@router.post("/customers/{customer_id}/self-service-link", status_code=201)
def reissue_link(
    customer_id: str, who: CurrentStaff, ctx: ContextDep, session: SessionDep
) -> SelfServiceLinkOut:
    """A new self-service link for the customer, e.g. when they lost the receipt; the previous
    link stops working. Audited as ``selfservice.link_reissued`` and flagged in the console's
    staff access view (the customer's own page is not for staff to read)."""
    now = ctx.now()
    customer = customer_admin.authorise(
        session, who=who, customer_id=customer_id, action="reissue", now=now
    )
    url = selfservice.issue_link(
        session,
        ctx.at(now),
        customer=customer,
        actor=f"staff:{who.username}",
        channel="reissue",
        reissue=True,
    )
    return SelfServiceLinkOut(
        self_service_url=url,
        qr_svg=str(receipts.qr_svg(url)),
        valid_until=now + timedelta(days=ctx.settings.self_service_ttl_days),
    )


def _channel(role: str) -> str:
    return "register" if role == "cashier" else "console"
