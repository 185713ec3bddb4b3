"""The privacy officer's console: HTML pages under ``/console`` (:mod:`.pages`) and JSON under
``/api/v1/console`` (:mod:`.json_api`).

Both are for ``privacy_officer`` and ``admin`` accounts only, checked by one rule
(``common.OFFICER``, through ``access.require_role``). Anyone else signed in gets 403 on every
route (a page says so in words), and each refusal is written to the audit log as
``access.denied``; someone not signed in gets the sign-in form (pages) or 401 (JSON). A page
and its JSON twin show the same data from the same call (``common``); ``/static/console.js``
only signs in and out and sends the few actions (verify now, an incident's outcome, revoke a
device, take a store live or pause it) to the JSON API.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.api.console import json_api, pages
from server.api.console.common import PageRefused, fmt_day, fmt_dt, page_refused

router = APIRouter()
router.include_router(pages.router)
router.include_router(json_api.router)

__all__ = ["PageRefused", "fmt_day", "fmt_dt", "page_refused", "router"]
