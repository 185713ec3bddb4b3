from __future__ import annotations

from fastapi import APIRouter, Request, Response

from server.api.schemas import LoginIn, StaffPublic
from server.deps import SESSION_COOKIE, CurrentStaff, RuntimeDep, SessionDep
from server.services import staff

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login")
def login(body: LoginIn, response: Response, rt: RuntimeDep, session: SessionDep) -> StaffPublic:
    token, who = staff.login(session, username=body.username, password=body.password, now=rt.now())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=rt.settings.public_url.startswith("https://"),
        max_age=rt.settings.session_idle_s * 16,
    )
    return StaffPublic(
        username=who.username, display_name=who.display_name, role=who.role, store_id=who.store_id
    )


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, rt: RuntimeDep, session: SessionDep) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        staff.logout(session, token=token, now=rt.now())
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me")
def me(who: CurrentStaff) -> StaffPublic:
    return StaffPublic(
        username=who.username, display_name=who.display_name, role=who.role, store_id=who.store_id
    )
