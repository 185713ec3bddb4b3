"""The salesperson's tablet: pages, live visits, reveal, profile, actions, notes, metrics, and
the WebSocket that pushes cards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from server.api.schemas import (
    CardOut,
    NoteOut,
    ProfileOut,
    StoreMetricsOut,
    TeaserOut,
    VisitMessageOut,
)
from server.api.staff_text import STAFF_LANGUAGES, staff_language
from server.api.tablet_text import tablet_texts
from server.db.session import after_commit
from server.deps import SESSION_COOKIE, CurrentStaff, RuntimeDep, SessionDep
from server.realtime import SESSION_ENDED, as_text, tablet_channel
from server.runtime import Runtime
from server.services.clienteling import recommend, visits
from server.services.clienteling.cards import CardSettings
from server.services.clienteling.recommend import Recommender
from server.services.errors import ServiceError, Unauthorized
from server.services.ids import token_digest
from server.services.staff import access
from server.services.staff import accounts as staff
from server.session_watch import SessionWatch, Watched

router = APIRouter(tags=["tablet"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

# The page pings this often; a ping re-checks the session (without refreshing it) when it may
# have run out, and once a ping interval all of a process's tablet sessions are re-checked.
PING_S = 15


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=500)


def card_settings(rt: Runtime) -> CardSettings:
    return CardSettings(
        follow_up_after_days=rt.settings.card_follow_up_after_days,
        follow_up_until_days=rt.settings.card_follow_up_until_days,
        language=rt.settings.staff_language,  # the card's sentences, like the tablet's words
    )


def recommender(rt: Runtime, session: Session) -> Recommender:
    cache = recommend.for_engine(
        rt.engine, rt.settings.recommender, rt.settings.recommender_rebuild_s
    )
    return cache.get(session, now=rt.now())


def _tablet(request: Request) -> dict[str, str]:
    """Which tablet an opening came from, for the access log (no secret is kept)."""
    return visits.tablet_ref(request.cookies.get(SESSION_COOKIE), request.headers.get("user-agent"))


def _words(rt: Runtime, lang: str | None) -> dict[str, Any]:
    """The salesperson's words in the stores' staff language (``?lang=`` switches, and the
    link between the tablet and its metrics keeps it)."""
    chosen = staff_language(lang, rt.settings.staff_language)
    return {
        "lang": chosen,
        "t": tablet_texts(chosen),
        "lang_query": f"?lang={chosen}" if lang in STAFF_LANGUAGES else "",
    }


@router.get("/tablet", response_class=HTMLResponse)
def tablet_page(request: Request, rt: RuntimeDep, lang: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "tablet.html",
        {
            "ping_s": PING_S,
            "idle_s": rt.settings.session_idle_s,
            "tz_name": rt.settings.timezone,
            **_words(rt, lang),
        },
    )


@router.get("/tablet/metrics", response_class=HTMLResponse)
def metrics_page(request: Request, rt: RuntimeDep, lang: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "tablet_metrics.html", _words(rt, lang))


@router.get("/api/v1/visits/live", response_model=list[TeaserOut])
def live(who: CurrentStaff, rt: RuntimeDep, session: SessionDep) -> list[dict[str, Any]]:
    return visits.live_teasers(session, who=who, kek=rt.kek, now=rt.now())


@router.post("/api/v1/visits/{visit_id}/reveal", response_model=CardOut)
def reveal(
    visit_id: int, request: Request, who: CurrentStaff, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    card = visits.reveal(
        session,
        who=who,
        visit_id=visit_id,
        now=rt.now(),
        tablet=_tablet(request),
        recommender=recommender(rt, session),
        settings=card_settings(rt),
    )
    return card.as_json()


@router.get("/api/v1/visits/{visit_id}/profile", response_model=ProfileOut)
def visit_profile(
    visit_id: int, request: Request, who: CurrentStaff, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    found = visits.profile(
        session,
        who=who,
        visit_id=visit_id,
        now=rt.now(),
        tablet=_tablet(request),
        recommender=recommender(rt, session),
        settings=card_settings(rt),
    )
    return found.as_json()


@router.get("/api/v1/customers/{customer_id}/profile", response_model=ProfileOut)
def customer_profile(
    customer_id: str, request: Request, who: CurrentStaff, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    found = visits.profile_by_customer(
        session,
        who=who,
        customer_id=customer_id,
        now=rt.now(),
        tablet=_tablet(request),
        recommender=recommender(rt, session),
        settings=card_settings(rt),
    )
    return found.as_json()


@router.post("/api/v1/visits/{visit_id}/notes", status_code=201, response_model=NoteOut)
def add_note(
    visit_id: int, body: NoteIn, who: CurrentStaff, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    note = visits.add_note(session, who=who, visit_id=visit_id, body=body.body, now=rt.now())
    return {"id": note.id, "author": note.author, "body": note.body, "at": note.created_at}


@router.get("/api/v1/metrics", response_model=StoreMetricsOut)
def metrics(
    who: CurrentStaff,
    rt: RuntimeDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> dict[str, Any]:
    return visits.store_metrics(
        session, who=who, now=rt.now(), tz=rt.settings.zone, days=days
    ).as_json()


@router.post("/api/v1/visits/{visit_id}/{action}", response_model=VisitMessageOut)
def act(
    visit_id: int, action: str, who: CurrentStaff, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    visit = visits.act(
        session,
        who=who,
        visit_id=visit_id,
        action=action,
        now=rt.now(),
        suppress_for=timedelta(seconds=rt.settings.not_this_person_suppress_s),
    )
    message = visits.visit_message(visit, who)
    after_commit(session, partial(rt.broker.publish, tablet_channel(visit.store_id), message))
    return message


def session_watch(websocket: WebSocket, rt: Runtime) -> SessionWatch:
    """This process's watch over its tablet sockets' sessions (made with the first socket)."""
    watch: SessionWatch | None = getattr(websocket.app.state, "session_watch", None)
    if watch is None:
        idle = timedelta(seconds=rt.settings.session_idle_s)

        def check(digests: Collection[str]) -> dict[str, datetime]:
            with rt.sessions() as session, session.begin():
                return staff.open_sessions(session, digests=digests, idle=idle)

        watch = SessionWatch(check, every=timedelta(seconds=PING_S), now=rt.now())
        websocket.app.state.session_watch = watch
    return watch


@router.websocket("/ws/tablet")
async def tablet_ws(websocket: WebSocket) -> None:
    """Cards for the signed-in staff member's store. The session is checked on connect; a
    ping re-checks it (without refreshing it) when it may have run out, and all of this
    process's tablet sessions are re-checked together once a ping interval
    (server/session_watch.py), so a tablet left alone is signed out after the idle timeout,
    and a signed-out session stops receiving cards at once (close code 4401)."""
    rt: Runtime = websocket.app.state.runtime
    token = websocket.cookies.get(SESSION_COOKIE)
    idle = timedelta(seconds=rt.settings.session_idle_s)

    def check(refresh: bool) -> Any:
        if not token:
            raise Unauthorized("not signed in")
        with rt.sessions() as session, session.begin():
            return staff.authenticate(
                session, token=token, now=rt.now(), idle=idle, refresh=refresh
            )

    try:
        connected_at = rt.now()
        who = await asyncio.to_thread(check, True)
    except ServiceError:
        await websocket.close(code=4401, reason="not signed in")
        return
    if who.store_id is None or who.role not in visits.TABLET_ROLES:

        def audit_refusal() -> None:
            with rt.sessions() as session, session.begin():
                access.record_denial(
                    session, who, what="live visits", now=rt.now(), path="WEBSOCKET /ws/tablet"
                )

        await asyncio.to_thread(audit_refusal)
        await websocket.close(code=4403, reason="this account does not see live visits")
        return
    await websocket.accept()
    assert token is not None  # authenticated above
    watch = session_watch(websocket, rt)
    async with rt.broker.subscribe(tablet_channel(who.store_id)) as messages:
        await websocket.send_json({"type": "hello", "store_id": who.store_id, "ping_s": PING_S})

        # Forward the store's cards while reading the client's pings; the first to end ends
        # both (an anyio task group: an outside cancellation, or the session watch finding
        # the session over, which cancels ``watched.scope``, ends them cleanly too). The
        # connect refreshed the session: it runs out ``idle`` after it unless used again.
        watched = Watched(token_digest(token), who.id, connected_at + idle, anyio.CancelScope())
        watch.add(watched)
        try:
            with watched.scope:
                async with anyio.create_task_group() as jobs:

                    async def pump() -> None:
                        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                            async for message in messages:
                                if message.get("type") == SESSION_ENDED:  # never forwarded
                                    if message.get("staff") == who.id:
                                        await watch.recheck([watched.digest], rt.now())
                                    continue
                                await websocket.send_text(as_text(message))
                        jobs.cancel_scope.cancel()

                    jobs.start_soon(pump)
                    # the pings are read in this task itself: one task fewer a socket (memory)
                    with contextlib.suppress(WebSocketDisconnect):
                        while True:  # the client only pings
                            await websocket.receive_text()
                            if not await watch.ping(watched, rt.now()):
                                break
                    jobs.cancel_scope.cancel()
        finally:
            watch.discard(watched)
        if watched.ended:
            with contextlib.suppress(RuntimeError, OSError):
                await websocket.close(code=4401, reason="session expired")
