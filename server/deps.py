"""FastAPI dependencies as ``Annotated`` aliases; routes only declare them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, WebSocket
from sqlalchemy.orm import Session

from server.db.recognition import EdgeDevice
from server.runtime import Runtime
from server.services.context import ServiceContext
from server.services.errors import ServiceError, Unauthorized
from server.services.recognition import devices
from server.services.recognition.arrival_writer import ArrivalWriter
from server.services.staff import access
from server.services.staff import accounts as staff
from server.services.staff.accounts import StaffIdentity

SESSION_COOKIE = "vt_session"


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: a plain attribute read needs no trip to the thread pool."""
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_context(request: Request) -> ServiceContext:
    """The services' context for this request (clock, notifier, keys, settings); the CLI gets
    the same from ``Runtime.context()``."""
    rt: Runtime = request.app.state.runtime
    return rt.context()


ContextDep = Annotated[ServiceContext, Depends(get_context)]


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


@dataclass(frozen=True)
class ArrivalIntake:
    """What the arrival route needs: the device's credential (checked by the writer), the
    group-commit writer and the runtime."""

    token: str
    writer: ArrivalWriter
    runtime: Runtime


async def arrival_intake(request: Request) -> ArrivalIntake:
    """ONE dependency for the hot path of every store (``POST /api/v1/device/events``): FastAPI's
    resolution of each dependency (cache key, kind checks, its own call) cost about a fifth of
    the request's work in the framework; three plain reads need none of it. The credential is
    still checked first, as :data:`BearerToken` does (401 before the body's 422)."""
    state = request.app.state
    return ArrivalIntake(await bearer_token(request), state.arrival_writer, state.runtime)


ArrivalIntakeDep = Annotated[ArrivalIntake, Depends(arrival_intake)]


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


def _staff_apart(request: Request, rt: RuntimeDep, check: Any = None) -> StaffIdentity:
    """The signed-in staff member, checked (and ``check(session, who)`` run) in a short
    transaction of its own, not the request's: for routes that do long CPU work first (photo
    analysis) and must not hold a database connection meanwhile (SQLite has one for every store).
    A refusal's audit entry is committed before it is answered."""
    with rt.sessions() as session, session.begin():
        try:
            who = staff_from_token(rt, session, request.cookies.get(SESSION_COOKIE))
            if check is not None:
                check(session, who)
            return who
        except ServiceError as exc:
            if exc.keep_writes:
                session.commit()
            raise


def current_staff_apart(request: Request, rt: RuntimeDep) -> StaffIdentity:
    return _staff_apart(request, rt)


StaffApart = Annotated[StaffIdentity, Depends(current_staff_apart)]


@dataclass(frozen=True)
class RoleRule:
    """Who may do ``what``: one of ``roles``. Everyone else is refused by ``access.require_role``
    (an audited 403; ``access.deny`` is the one way a request is refused) saying ``reason``
    (``{role}`` filled in), with the request's method and path in the audit entry when
    ``with_path``."""

    roles: tuple[str, ...]
    what: str
    reason: str | None = None
    with_path: bool = False

    def check(self, request: Request, rt: Runtime, session: Session, who: StaffIdentity) -> None:
        path = f"{request.method} {request.url.path}"[:200] if self.with_path else None
        access.require_role(
            session, who, self.roles, what=self.what, now=rt.now(), reason=self.reason, path=path
        )

    def dependency(self, *, apart: bool = False) -> Any:
        """``Depends`` answering the signed-in staff member if the rule lets them; ``apart``:
        checked in a transaction of its own (see :func:`_staff_apart`), for routes that must
        not hold a connection."""
        if apart:

            def check_apart(request: Request, rt: RuntimeDep) -> StaffIdentity:
                return _staff_apart(
                    request, rt, lambda session, who: self.check(request, rt, session, who)
                )

            return Depends(check_apart)

        def check(
            request: Request, who: CurrentStaff, rt: RuntimeDep, session: SessionDep
        ) -> StaffIdentity:
            self.check(request, rt, session, who)
            return who

        return Depends(check)


def require_role(*roles: str, what: str, apart: bool = False) -> Any:
    """The signed-in staff member if their role is one of ``roles``; otherwise an audited 403
    (see :class:`RoleRule`)."""
    return RoleRule(roles, what).dependency(apart=apart)


# Who may enrol a customer at the register (and check a photo for it).
# Checked apart from the request's session: enrolment analyses photos before it writes.
Enroller = Annotated[
    StaffIdentity, require_role("cashier", "admin", what="enrol customers", apart=True)
]


def websocket_runtime(websocket: WebSocket) -> Runtime:
    rt: Runtime = websocket.app.state.runtime
    return rt
