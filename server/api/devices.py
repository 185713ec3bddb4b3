"""The edge device API (bearer credential per device). Never returns an embedding.

``GET /ws/device`` is the push channel: the device's bearer credential is checked once when it
connects (close code 4401 when unknown or revoked); the server then sends
``{"type": "gallery", "version": N}`` at once (the current version, so a device that was
offline catches up) and whenever its store publishes a new gallery version. That notice only
says "poll now"; the gallery itself always comes sealed over ``GET /api/v1/device/gallery``.

The device sends its arrival events on the same socket (issue 19): ``{"type": "events", "id":
N, "events": [...]}``, the body of ``POST /api/v1/device/events`` with an id, answered in
order with ``{"type": "events_answer", "id": N, "status": 202, ...}`` (the status and fields
the POST would have had). Both go through :func:`take_events`; the arrival writer checks the
credential in each batch's transaction either way. The POST stays for devices whose socket is
down (and for integrations without one).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Response, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from consent.signing import public_key_bytes
from server.api.schemas import (
    AckIn,
    DeviceRegisterIn,
    DeviceRegisterOut,
    EventsIn,
    EventsOut,
    SocketEventsAnswer,
    SocketEventsIn,
    file_answer,
)
from server.deps import ArrivalIntakeDep, CurrentDevice, RuntimeDep, SessionDep
from server.realtime import as_text, device_channel
from server.runtime import Runtime
from server.services.errors import BadInput, ServiceError
from server.services.recognition import arrivals, devices, gallery
from server.services.recognition.arrival_writer import ArrivalWriter
from server.session_watch import CredentialChecks

router = APIRouter(tags=["devices"])
API = "/api/v1"
CLOSE_UNAUTHORIZED = 4401


@router.post(API + "/devices/register", status_code=201)
def register(body: DeviceRegisterIn, rt: RuntimeDep, session: SessionDep) -> DeviceRegisterOut:
    try:
        public_key = base64.b64decode(body.public_key, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("public_key is not base64") from None
    reg = devices.register_device(
        session, code=body.enrolment_code, name=body.name, public_key=public_key, now=rt.now()
    )
    return DeviceRegisterOut(
        device_id=reg.device_id,
        store_id=reg.store_code,
        token=reg.token,
        server_public_key=base64.b64encode(public_key_bytes(rt.signing_key)).decode(),
        gallery_ttl_s=rt.settings.gallery_ttl_s,
    )


@router.get(
    API + "/device/gallery",
    response_class=Response,
    responses=file_answer(
        "the sealed gallery (304 when the ETag still matches)", "application/octet-stream"
    ),
)
def get_gallery(
    device: CurrentDevice,
    rt: RuntimeDep,
    session: SessionDep,
    if_none_match: str | None = Header(default=None),
) -> Response:
    from server.db.stores import Store

    store = session.get(Store, device.store_id)
    have = (if_none_match or "").strip().strip('"')
    if (
        store is not None
        and store.live
        and store.gallery_version
        and have == str(store.gallery_version)
    ):
        return Response(status_code=304, headers={"ETag": f'"{store.gallery_version}"'})
    version, blob = gallery.seal_for_device(
        session,
        device=device,
        kek=rt.kek,
        signing_key=rt.signing_key,
        validity=timedelta(seconds=rt.settings.gallery_validity_s),
        threshold=rt.threshold,
        min_margin=rt.min_margin,
        calibration=rt.calibration,
        door_bound=rt.settings.max_false_matches_per_1000,
        now=rt.now(),
        allow_x25519=rt.settings.gallery_kem == "x25519",
    )
    return Response(
        content=blob,
        media_type="application/octet-stream",
        headers={
            "X-Gallery-Version": str(version),
            "ETag": f'"{version}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(API + "/device/ack", status_code=204)
def ack(body: AckIn, device: CurrentDevice, rt: RuntimeDep, session: SessionDep) -> None:
    devices.acknowledge(session, device=device, version=body.version, now=rt.now())


@router.post(API + "/device/events", status_code=202)
async def events(body: EventsIn, intake: ArrivalIntakeDep) -> EventsOut:
    # The hot path of every store: handed to the arrival writer (group commit; it
    # authenticates, ingests, commits and notifies the tablets), no thread-pool trip here.
    return await take_events(intake.writer, intake.token, body, intake.runtime.now())


async def take_events(
    writer: ArrivalWriter, token: str, body: EventsIn, now: datetime
) -> EventsOut:
    """A device's batch of arrivals, from ``POST /api/v1/device/events`` or its push socket:
    the writer checks the credential in the batch's transaction (so a revoked device is
    refused at once either way), ingests and commits, and tells the tablets."""
    result = await writer.receive(
        token=token,
        events=[
            arrivals.ArrivalIn(
                e.id,
                e.subject_id,
                e.at,
                e.score,
                e.margin,
                method=e.method,
                pass_digest=e.pass_digest,
                face_verified=e.face_verified,
            )
            for e in body.events
        ],
        now=now,
    )
    if result.rejected:
        # A pass or mode rule refused these events: no visit for them. The request's other
        # events are committed (one bad event never fails another); 422 tells the device to
        # drop the batch rather than retry it.
        raise BadInput(
            f"{len(result.rejected)} of {len(body.events)} events refused "
            f"({result.accepted} accepted): "
            + "; ".join(f"{event_id}: {why}" for event_id, why in result.rejected[:20])
        )
    return EventsOut(accepted=result.accepted, duplicates=result.duplicates, refused=result.refused)


# A batch over the socket is bounded like the POST's body (500 events of a few hundred bytes).
MAX_SOCKET_BATCH_BYTES = 1_000_000


def _invalid(errors: list[Any]) -> str:
    first = errors[0] if errors else {}
    where = ".".join(str(x) for x in first.get("loc", ()))
    return f"invalid batch: {where}: {first.get('msg', 'invalid')}" if where else "invalid batch"


async def answer_socket_batch(
    writer: ArrivalWriter, token: str, raw: str | None, now: datetime
) -> SocketEventsAnswer:
    """One message a device sent on its push socket: a batch of arrivals, answered with the
    status and body the POST would have had. Never raises: a bad message is answered, and the
    socket stays open for the next one."""
    if raw is None:
        return SocketEventsAnswer(id=None, status=422, detail="send text (JSON) messages")
    if len(raw) > MAX_SOCKET_BATCH_BYTES:
        return SocketEventsAnswer(id=None, status=413, detail="batch too large")
    try:
        # pydantic's JSON parser refuses NaN and Infinity (the POST's StrictJSON does it there)
        body = SocketEventsIn.model_validate_json(raw)
    except ValidationError as exc:
        return SocketEventsAnswer(id=_message_id(raw), status=422, detail=_invalid(exc.errors()))
    try:
        out = await take_events(writer, token, body, now)
    except ServiceError as exc:
        retry = exc.headers.get("Retry-After")
        return SocketEventsAnswer(
            id=body.id,
            status=exc.status_code,
            detail=exc.reason,
            retry_after=float(retry) if retry is not None else None,
        )
    except (OperationalError, PoolTimeout):  # the database is down or busy: retry shortly
        return SocketEventsAnswer(
            id=body.id, status=503, detail="the database is unavailable", retry_after=5.0
        )
    return SocketEventsAnswer(
        id=body.id, status=202, accepted=out.accepted, duplicates=out.duplicates,
        refused=out.refused,
    )  # fmt: skip


def _message_id(raw: str) -> int | None:
    """The id of a message that failed validation, when it has a readable one (so the device
    can tell which batch was refused)."""
    try:
        value = json.loads(raw).get("id")  # only the id is read from it
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bearer(websocket: WebSocket) -> str:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def credential_checks(websocket: WebSocket, rt: Runtime) -> CredentialChecks:
    """This process's coalesced credential re-checks of its device sockets (made with the
    first socket): the re-checks asked for within a thirtieth of ``device_recheck_s`` (at most
    a second) are one query."""
    checks: CredentialChecks | None = getattr(websocket.app.state, "credential_checks", None)
    if checks is None:

        def check(tokens: list[str]) -> set[str]:
            with rt.sessions() as session, session.begin():
                return set(devices.authenticate_devices(session, tokens=tokens, now=rt.now()))

        window = min(1.0, rt.settings.device_recheck_s / 30)
        checks = websocket.app.state.credential_checks = CredentialChecks(check, window=window)
    return checks


@router.websocket("/ws/device")
async def device_ws(websocket: WebSocket) -> None:
    rt = websocket.app.state.runtime
    token = _bearer(websocket)

    def auth() -> tuple[str, int, int]:
        from server.db.stores import Store

        with rt.sessions() as session, session.begin():
            device = devices.authenticate_device(session, token=token, now=rt.now())
            store = session.get(Store, device.store_id)
            version = store.gallery_version if store is not None else 0
            return device.id, device.store_id, version

    checks = credential_checks(websocket, rt)

    try:
        if not token:
            raise BadInput("device credential missing")
        device_id, store_id, version = await asyncio.to_thread(auth)
    except ServiceError:
        # accept, then close with a code the device can read (a refused handshake loses it)
        await websocket.accept()
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="device credential refused")
        return
    await websocket.accept()
    refused = False
    async with rt.broker.subscribe(device_channel(store_id)) as messages:
        await websocket.send_json({"type": "gallery", "version": version})
        # Three jobs until the first of them ends: forward the store's messages, re-check the
        # credential now and then, and notice the device going away. An anyio task group (the
        # structured concurrency Starlette itself uses) so that cancelling the handler from
        # outside, as a server shutting down does, cancels all three cleanly.
        async with anyio.create_task_group() as jobs:

            async def pump() -> None:
                nonlocal refused
                with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                    async for message in messages:
                        if message.get("type") == "revoked":  # for this server, never forwarded
                            if message.get("device") == device_id:
                                refused = True
                                break
                            continue
                        await websocket.send_text(as_text(message))
                jobs.cancel_scope.cancel()

            async def recheck() -> None:
                # A revocation made where no broker reaches this process (the command line on
                # the embedded default) is noticed here, within ``device_recheck_s``.
                nonlocal refused
                while not refused:
                    await anyio.sleep(rt.settings.device_recheck_s)
                    if not await checks.still_valid(token):
                        refused = True
                jobs.cancel_scope.cancel()

            jobs.start_soon(pump)
            jobs.start_soon(recheck)
            # Reading in this task itself (one task fewer a socket): the device's batches of
            # arrivals, answered in order, and the disconnect.
            writer = websocket.app.state.arrival_writer
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                while True:
                    received = await websocket.receive()
                    if received["type"] == "websocket.disconnect":
                        break
                    answer = await answer_socket_batch(
                        writer, token, received.get("text"), rt.now()
                    )
                    await websocket.send_text(answer.model_dump_json(exclude_none=True))
                    if answer.status == 401:  # revoked since it connected
                        refused = True
                        break
            jobs.cancel_scope.cancel()
        if refused:
            with contextlib.suppress(RuntimeError, OSError):
                await websocket.close(code=CLOSE_UNAUTHORIZED, reason="device credential revoked")
