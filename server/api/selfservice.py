"""The customer's self-service JSON API behind the link on the receipt (``/me/<token>``).

No staff session: the link's short opaque id in the path is the credential
(``services.selfservice``: server-side, revocable, ended by withdrawal and erasure). Every answer
is ``Cache-Control: no-store``. A bad, revoked or expired link is one opaque 401; after "forget
me" the same link answers 404 "nothing is held under this link".
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from server.api.schemas import ExportOut, PublicOut
from server.deps import ContextDep, RuntimeDep, SessionDep
from server.services.membership import export, lifecycle, receipts, selfservice
from server.services.membership import kinds as membership

router = APIRouter(prefix="/api/v1/me", tags=["self-service"])

ACTOR = "customer:self-service"
CHANNEL = "portal"
NO_STORE = {"Cache-Control": "no-store"}


class WithdrawOut(PublicOut):
    status: str
    gallery_versions: dict[str, int]


class ForgetOut(PublicOut):
    status: str


@router.get("/{token}", response_model=ExportOut)
def view(token: str, rt: RuntimeDep, session: SessionDep, response: Response) -> dict[str, Any]:
    """Everything held about the customer (the same document as the export)."""
    now = rt.now()
    customer = selfservice.resolve(session, token=token, now=now)
    response.headers.update(NO_STORE)
    return export.export_customer(session, customer_id=customer.id, kek=rt.kek, now=now)


@router.get(
    "/{token}/export",
    response_class=JSONResponse,
    responses={200: {"model": ExportOut, "description": "the export as a file download"}},
)
def download(token: str, rt: RuntimeDep, session: SessionDep) -> JSONResponse:
    """The same document as a JSON file download (GDPR Art. 15/20); audited."""
    now = rt.now()
    customer = selfservice.resolve(session, token=token, now=now)
    doc = export.export_customer(session, customer_id=customer.id, kek=rt.kek, now=now)
    export.record_export(session, customer=customer, actor=ACTOR, channel=CHANNEL, now=now)
    body = ExportOut.model_validate(doc).model_dump(mode="json", by_alias=True)
    filename = f"vertrouwd-export-{now:%Y%m%d}.json"
    return JSONResponse(
        body, headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE}
    )


@router.post("/{token}/withdraw")
def withdraw(token: str, ctx: ContextDep, session: SessionDep, response: Response) -> WithdrawOut:
    """Withdraw recognition consent at once; idempotent."""
    customer = selfservice.resolve(session, token=token, now=ctx.now())
    result = lifecycle.withdraw(session, ctx, customer_id=customer.id, actor=ACTOR, channel=CHANNEL)
    response.headers.update(NO_STORE)
    return WithdrawOut(status=result.status, gallery_versions=result.gallery_versions)


@router.post("/{token}/forget")
def forget(token: str, ctx: ContextDep, session: SessionDep, response: Response) -> ForgetOut:
    """Erase everything held about the customer ("forget me")."""
    customer = selfservice.resolve(session, token=token, now=ctx.now())
    result = lifecycle.erase(session, ctx, customer_id=customer.id, actor=ACTOR, channel=CHANNEL)
    response.headers.update(NO_STORE)
    return ForgetOut(status=result.status)


# -- membership without a face, and the pass (issue 12) ----------------------------------------


class PassOut(PublicOut):
    """A newly issued pass: the token is shown to the member now and never again (only its
    digest is stored); ``qr_svg`` is an SVG QR code of it."""

    pass_token: str
    qr_svg: str


class MembershipOut(PublicOut):
    membership: str
    gallery_versions: dict[str, int]


@router.post("/{token}/pass")
def reissue_pass(token: str, ctx: ContextDep, session: SessionDep, response: Response) -> PassOut:
    """A new pass; the old one stops working at once (every device within seconds)."""
    customer = selfservice.resolve(session, token=token, now=ctx.now())
    issued = membership.reissue_pass(session, ctx, customer_id=customer.id, actor=ACTOR)
    response.headers.update(NO_STORE)
    return PassOut(pass_token=issued.token, qr_svg=str(receipts.qr_svg(issued.token)))


@router.post("/{token}/membership/pass")
def switch_to_pass(
    token: str, ctx: ContextDep, session: SessionDep, response: Response
) -> MembershipOut:
    """Keep the membership, without a face: templates and photo destroyed at once."""
    customer = selfservice.resolve(session, token=token, now=ctx.now())
    result = membership.switch_to_pass(
        session, ctx, customer_id=customer.id, actor=ACTOR, channel=CHANNEL
    )
    response.headers.update(NO_STORE)
    return MembershipOut(membership="pass", gallery_versions=result.gallery_versions)
