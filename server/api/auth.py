from __future__ import annotations

from functools import partial

from fastapi import APIRouter, HTTPException, Request, Response

from server.api.schemas import LoginIn, StaffPublic
from server.db.session import after_commit
from server.deps import SESSION_COOKIE, CurrentStaff, RuntimeDep, SessionDep
from server.realtime import session_ended, tablet_channel
from server.services.staff import accounts as staff
from server.services.staff import signin

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/login",
    responses={401: {"description": "wrong username or password"}, 429: {"description": "locked"}},
)
def login(body: LoginIn, request: Request, response: Response, rt: RuntimeDep) -> StaffPublic:
    """Throttled and audited (``signin``); no database connection is held while the password
    is checked."""
    s = rt.settings
    try:
        token, who = signin.sign_in(
            rt.sessions,
            username=body.username,
            password=body.password,
            address=request.client.host if request.client else "unknown",
            now=rt.now(),
            policy=signin.Policy(
                account_failures=s.login_account_failures,
                address_failures=s.login_address_failures,
                lockout_s=s.login_lockout_s,
                lockout_max_s=s.login_lockout_max_s,
                window_s=s.login_window_s,
            ),
            pool=rt.password_pool,
        )
    except signin.Throttled as exc:
        raise HTTPException(
            status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
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
        who = staff.logout(session, token=token, now=rt.now())
        if who is not None and who.store_id is not None:
            # that session's tablet sockets (in any server process) close at once
            after_commit(
                session,
                partial(rt.broker.publish, tablet_channel(who.store_id), session_ended(who.id)),
            )
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me")
def me(who: CurrentStaff) -> StaffPublic:
    return StaffPublic(
        username=who.username, display_name=who.display_name, role=who.role, store_id=who.store_id
    )
