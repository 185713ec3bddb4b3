"""The salesperson's tablet: page, live visits, reveal, actions, WebSocket push."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from server.db.session import after_commit
from server.deps import SESSION_COOKIE, CurrentStaff, RuntimeDep, SessionDep, staff_from_token
from server.realtime import tablet_channel
from server.services import visits
from server.services.errors import ServiceError

router = APIRouter(tags=["tablet"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


@router.get("/tablet", response_class=HTMLResponse)
def tablet_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "tablet.html", {})


@router.get("/api/v1/visits/live")
def live(who: CurrentStaff, rt: RuntimeDep, session: SessionDep) -> list[dict[str, Any]]:
    return visits.live_teasers(session, who=who, kek=rt.kek, now=rt.now())


@router.post("/api/v1/visits/{visit_id}/reveal")
def reveal(visit_id: int, who: CurrentStaff, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    return visits.reveal(session, who=who, visit_id=visit_id, now=rt.now()).as_json()


@router.post("/api/v1/visits/{visit_id}/{action}")
def act(
    visit_id: int, action: str, who: CurrentStaff, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    visit = visits.act(session, who=who, visit_id=visit_id, action=action, now=rt.now())
    message = {"type": "visit", "visit_id": visit.id, "status": visit.status}
    after_commit(session, partial(rt.broker.publish, tablet_channel(visit.store_id), message))
    return message


@router.websocket("/ws/tablet")
async def tablet_ws(websocket: WebSocket) -> None:
    rt = websocket.app.state.runtime
    token = websocket.cookies.get(SESSION_COOKIE)

    def auth() -> Any:
        with rt.sessions() as session, session.begin():
            return staff_from_token(rt, session, token)

    try:
        who = await asyncio.to_thread(auth)
    except ServiceError:
        await websocket.close(code=4401, reason="not signed in")
        return
    if who.store_id is None:
        await websocket.close(code=4403, reason="no store")
        return
    await websocket.accept()
    async with rt.broker.subscribe(tablet_channel(who.store_id)) as messages:
        await websocket.send_json({"type": "hello", "store_id": who.store_id})

        async def pump() -> None:
            async for message in messages:
                await websocket.send_json(message)

        sender = asyncio.create_task(pump())
        try:
            while True:  # the client only pings; we read to notice disconnects
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
