"""FastAPI dependencies as ``Annotated`` aliases; routes only declare them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from sqlalchemy.orm import Session

from server.db.models import EdgeDevice
from server.runtime import Runtime
from server.services import devices, staff
from server.services.arrival_writer import ArrivalWriter
from server.services.errors import Forbidden, ServiceError, Unauthorized
from server.services.staff import StaffIdentity

SESSION_COOKIE = "vt_session"


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: a plain attribute read needs no trip to the thread pool."""
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_arrival_writer(request: Request) -> ArrivalWriter:
    writer: ArrivalWriter = request.app.state.arrival_writer
    return writer


ArrivalWriterDep = Annotated[ArrivalWriter, Depends(get_arrival_writer)]


def get_session(rt: RuntimeDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error,
    except a ``ServiceError(keep_writes=True)``: the audit entry of a refusal is kept."""
    with rt.sessions() as session, session.begin():
        try:
            yield session
        except ServiceError as exc:
            if not exc.keep_writes:
                raise
            session.commit()
            raise


# scope="function": the transaction commits before the response is sent, so a client that
# got 2xx can rely on the data being there.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def bearer_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("device credential missing")
    return token.strip()


BearerToken = Annotated[str, Depends(bearer_token)]


def current_device(token: BearerToken, rt: RuntimeDep, session: SessionDep) -> EdgeDevice:
    return devices.authenticate_device(session, token=token, now=rt.now())


CurrentDevice = Annotated[EdgeDevice, Depends(current_device)]


def staff_from_token(rt: Runtime, session: Session, token: str | None) -> StaffIdentity:
    if not token:
        raise Unauthorized("not signed in")
    from datetime import timedelta

    return staff.authenticate(
        session, token=token, now=rt.now(), idle=timedelta(seconds=rt.settings.session_idle_s)
    )


def current_staff(request: Request, rt: RuntimeDep, session: SessionDep) -> StaffIdentity:
    return staff_from_token(rt, session, request.cookies.get(SESSION_COOKIE))


CurrentStaff = Annotated[StaffIdentity, Depends(current_staff)]


def current_staff_apart(request: Request, rt: RuntimeDep) -> StaffIdentity:
    """``CurrentStaff``, checked in a short transaction of its own, not the request's: for routes
    that do long CPU work first (photo analysis) and must not hold a database connection
    meanwhile (SQLite has one for every store). The request's session, if the route has one,
    stays untouched, so it takes no connection until the route uses it."""
    with rt.sessions() as session, session.begin():
        try:
            return staff_from_token(rt, session, request.cookies.get(SESSION_COOKIE))
        except ServiceError as exc:
            if exc.keep_writes:
                session.commit()
            raise


StaffApart = Annotated[StaffIdentity, Depends(current_staff_apart)]


def require_role(*roles: str) -> object:
    def check(who: CurrentStaff) -> StaffIdentity:
        if who.role not in roles:
            raise Forbidden(f"the {who.role} role may not do this")
        return who

    return Depends(check)


def websocket_runtime(websocket: WebSocket) -> Runtime:
    rt: Runtime = websocket.app.state.runtime
    return rt
