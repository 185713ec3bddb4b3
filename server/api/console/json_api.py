"""The console's JSON under ``/api/v1/console``: the views of the pages as data, and the few
actions ``/static/console.js`` sends (verify now, sign a checkpoint, an incident's outcome,
revoke a device, take a store live or pause it). Officers only: the router's guard refuses
anyone else (401 not signed in; 403 audited)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat
from sqlalchemy.orm import Session

from consent.gallery import MIN_FACE_SIZE_BOUNDS, MemberZone
from server.api.console import common
from server.api.console.common import OFFICER, ConsentFilterDep, Officer, PeriodDep
from server.api.schemas import (
    AccessOut,
    AuditStatusOut,
    CheckpointOut,
    ConsentHistoryOut,
    ConsentRowOut,
    DeletionProofOut,
    DeviceRowOut,
    GoLiveOut,
    IncidentRowOut,
    NoCheckpointOut,
    OutcomeOut,
    OverviewOut,
    PauseOut,
    RetentionOut,
    RevokeOut,
    StoreRowOut,
    VerifyOut,
    file_answer,
)
from server.deps import ContextDep, RuntimeDep, SessionDep
from server.services import localtime
from server.services.console import exports as console_export
from server.services.console import ropa, verification
from server.services.console import views as console
from server.services.context import ServiceContext
from server.services.recognition import aiact, devices, golive, signage

router = APIRouter(prefix="/api/v1/console", tags=["console"], dependencies=[OFFICER.dependency()])


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(min_length=1, max_length=20)
    note: str = Field("", max_length=2000)


class ZoneIn(BaseModel):
    """The wire form of ``consent.gallery.MemberZone`` (the one zone type), with its bounds;
    ``member_zone`` builds it with ``signage.checked_zone``, which also refuses a rectangle that
    leaves the frame."""

    model_config = ConfigDict(extra="forbid")
    x: FiniteFloat = Field(ge=0, lt=1, description="left edge, fraction of the frame width")
    y: FiniteFloat = Field(ge=0, lt=1, description="top edge, fraction of the frame height")
    w: FiniteFloat = Field(gt=0, le=1)
    h: FiniteFloat = Field(gt=0, le=1)
    min_face_size: int = Field(
        ge=MIN_FACE_SIZE_BOUNDS[0],
        le=MIN_FACE_SIZE_BOUNDS[1],
        description="smallest face side, pixels",
    )

    def member_zone(self) -> MemberZone:
        return signage.checked_zone(self.x, self.y, self.w, self.h, self.min_face_size)


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


def _download(
    content: bytes, media_type: str, filename: str, extra: dict[str, str] | None = None
) -> Response:
    """A file the browser saves (never cached: the records name people and keys)."""
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        **(extra or {}),
    }
    return Response(content, media_type=media_type, headers=headers)


def _rows(items: list[Any]) -> list[dict[str, Any]]:
    return [i.as_row() for i in items]


@router.get("/overview", response_model=OverviewOut)
def overview(
    who: Officer, ctx: ContextDep, session: SessionDep, period: PeriodDep
) -> dict[str, Any]:
    data = common.overview(session, ctx, period)
    return {
        "period": period.as_json(),
        **asdict(data.overview),
        "consents_per_day": [{"day": d.day, **d.values} for d in data.consents_per_day],
        "arrivals_per_day": [{"day": d.day, **d.values} for d in data.arrivals_per_day],
    }


@router.get("/consents", response_model=list[ConsentRowOut])
def consents(
    who: Officer, ctx: ContextDep, session: SessionDep, filters: ConsentFilterDep
) -> list[dict[str, Any]]:
    return _rows(console.consent_log(session, filters=filters, now=ctx.now()))


@router.get("/consents/{consent_id}", response_model=ConsentHistoryOut)
def consent(consent_id: str, who: Officer, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    h = console.consent_history(session, consent_id=consent_id[:64], who=who, now=ctx.now())
    return {
        "record": h.record.as_row(),
        "subject": h.subject,
        "related": _rows(h.related),
        "events": _rows(h.events),
    }


@router.get("/audit", response_model=AuditStatusOut)
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


@router.post("/audit/verify", response_model=VerifyOut, response_model_exclude_unset=True)
def verify_now(who: Officer, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    run = verification.run(
        session,
        public_key=rt.signing_key.public_key(),
        actor=console.actor_of(who),
        now=rt.now(),
    )
    out = verification.run_as_row(run)
    if not run.ok and run.first_bad_seq is not None:
        out["first_bad_entry"] = asdict(verification.bad_entry(session, run.first_bad_seq))
    return out


@router.post("/audit/checkpoint", response_model=CheckpointOut | NoCheckpointOut)
def sign_checkpoint(who: Officer, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    cp = verification.sign_checkpoint(session, signing_key=rt.signing_key, now=rt.now())
    if cp is None:
        return {"seq": None}
    return {"seq": cp.seq, "hash": cp.hash, "at": cp.at, "signature": cp.signature.hex()}


@router.get("/deletions", response_model=list[DeletionProofOut])
def deletions(
    who: Officer, ctx: ContextDep, session: SessionDep, period: PeriodDep
) -> list[dict[str, Any]]:
    return _rows(common.deletions(session, ctx, period))


@router.get("/access", response_model=AccessOut, response_model_exclude_unset=True)
def access(
    who: Officer,
    ctx: ContextDep,
    session: SessionDep,
    period: PeriodDep,
    staff: Annotated[str, Query(max_length=80)] = "",
) -> dict[str, Any]:
    log = common.access_log(session, ctx, period, staff)
    sign_ins = [
        {"seq": e.seq, "at": e.at, "kind": e.kind, "actor": e.actor, **e.data}
        for e in log.sign_ins[-console.MAX_ROWS :]
    ]
    return {
        "rows": _rows(log.rows[: console.MAX_ROWS]),
        "flags": _rows(log.flags),
        "sign_ins": sign_ins,
    }


@router.get("/incidents", response_model=list[IncidentRowOut])
def incident_list(
    who: Officer,
    session: SessionDep,
    period: PeriodDep,
    outcome: Annotated[str, Query(max_length=20)] = "",
) -> list[dict[str, Any]]:
    return _rows(console.incidents(session, period=period, outcome=outcome))


@router.post("/incidents/{incident_id}/outcome", response_model=OutcomeOut)
def incident_outcome(
    incident_id: int, body: OutcomeIn, who: Officer, ctx: ContextDep, session: SessionDep
) -> dict[str, Any]:
    incident = console.record_outcome(
        session,
        incident_id=incident_id,
        outcome=body.outcome,
        note=body.note,
        who=who,
        now=ctx.now(),
    )
    return {
        "id": incident.id,
        "outcome": incident.outcome,
        "resolved_by": incident.resolved_by,
        "resolved_at": incident.resolved_at,
    }


@router.get("/retention", response_model=RetentionOut)
def retention(
    who: Officer, ctx: ContextDep, session: SessionDep, period: PeriodDep
) -> dict[str, Any]:
    view = common.retention(session, ctx, period)
    return {
        "limits": view.limits,
        "expiring": _rows(view.expiring),
        "destroyed": _rows(view.destroyed),
    }


@router.get("/devices", response_model=list[DeviceRowOut])
def device_list(who: Officer, ctx: ContextDep, session: SessionDep) -> list[dict[str, Any]]:
    return _rows(common.device_rows(session, ctx))


@router.post("/devices/{device_id}/revoke", response_model=RevokeOut)
def revoke(device_id: str, who: Officer, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    devices.revoke_device(session, ctx, device_id=device_id[:64], actor=console.actor_of(who))
    return {"device_id": device_id, "credential": "revoked"}


@router.get("/stores", response_model=list[StoreRowOut])
def stores(who: Officer, session: SessionDep) -> list[dict[str, Any]]:
    return [s.as_row() for s in signage.store_rows(session)]


@router.post("/stores/{code}/go-live", response_model=GoLiveOut)
def go_live(
    code: str, body: GoLiveIn, who: Officer, ctx: ContextDep, session: SessionDep
) -> dict[str, Any]:
    store = signage.store(session, code)
    golive.go_live(
        session,
        ctx,
        store=store,
        dpia_reference=body.dpia_reference,
        signage_confirmed=body.signage_confirmed,
        zone=body.zone.member_zone(),
        mode=body.mode,
        door_acknowledged=body.door_acknowledged,
        actor=console.actor_of(who),
    )
    return {
        "store": store.code,
        "live": store.live,
        "dpia_reference": store.dpia_reference,
        "mode": body.mode,
        "gallery_version": store.gallery_version,
    }


@router.post("/stores/{code}/pause", response_model=PauseOut)
def pause(
    code: str, body: PauseIn, who: Officer, ctx: ContextDep, session: SessionDep
) -> dict[str, Any]:
    store = signage.store(session, code)
    console.pause(session, ctx, store=store, reason=body.reason, who=who)
    return {"store": store.code, "live": store.live}


@router.get(
    "/export/{view}",
    response_class=Response,
    responses=file_answer("a view as a CSV or JSON file", "text/csv", "application/json"),
)
def export(
    view: str,
    who: Officer,
    ctx: ContextDep,
    session: SessionDep,
    period: PeriodDep,
    fmt: Annotated[str, Query(alias="format", max_length=8)] = "csv",
) -> Response:
    what = console_export.ExportContext(
        session=session,
        period=period,
        now=ctx.now(),
        gallery_ttl=common.gallery_ttl(ctx),
        limits=common.limits(ctx),
        backups=common.backups(ctx),
    )
    out = console_export.export(what, view=view, fmt=fmt, who=who)
    return _download(out.content, out.media_type, out.filename, {"X-Rows": str(out.rows)})


@router.get(
    "/ropa.md",
    response_class=Response,
    responses=file_answer("the Art. 30 record", "text/markdown"),
)
def ropa_markdown(who: Officer, ctx: ContextDep, session: SessionDep) -> Response:
    record = common.ropa_record(session, ctx)
    day = localtime.today(record.generated_at, ctx.settings.zone)
    return _download(
        ropa.to_markdown(record).encode(),
        "text/markdown; charset=utf-8",
        f"vertrouwd-art30-{day}.md",
    )


@router.get(
    "/ropa.pdf",
    response_class=Response,
    responses=file_answer("the Art. 30 record", "application/pdf"),
)
def ropa_pdf(who: Officer, ctx: ContextDep, session: SessionDep) -> Response:
    record = common.ropa_record(session, ctx)
    day = localtime.today(record.generated_at, ctx.settings.zone)
    return _download(ropa.to_pdf(record), "application/pdf", f"vertrouwd-art30-{day}.pdf")


def _aiact(ctx: ServiceContext, session: Session) -> ropa.Record:
    # the calibration of the model the server enrols with and devices match with
    return aiact.build(session, settings=ctx.settings, calibration=ctx.calibration, now=ctx.now())


@router.get(
    "/aiact.md",
    response_class=Response,
    responses=file_answer("the AI Act transparency record", "text/markdown"),
)
def aiact_markdown(who: Officer, ctx: ContextDep, session: SessionDep) -> Response:
    """The AI Act transparency record (issue 12), from the live configuration."""
    record = _aiact(ctx, session)
    day = localtime.today(record.generated_at, ctx.settings.zone)
    return _download(
        ropa.to_markdown(record).encode(),
        "text/markdown; charset=utf-8",
        f"vertrouwd-aiact-{day}.md",
    )


@router.get(
    "/aiact.pdf",
    response_class=Response,
    responses=file_answer("the AI Act transparency record", "application/pdf"),
)
def aiact_pdf(who: Officer, ctx: ContextDep, session: SessionDep) -> Response:
    record = _aiact(ctx, session)
    day = localtime.today(record.generated_at, ctx.settings.zone)
    return _download(ropa.to_pdf(record), "application/pdf", f"vertrouwd-aiact-{day}.pdf")
