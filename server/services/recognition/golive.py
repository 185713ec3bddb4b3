"""The one go-live path: signage, DPIA reference, member zone and recognition mode, recorded
together, audited, and announced to the store's devices as a new gallery version.

The console (``POST /api/v1/console/stores/CODE/go-live``) and the command line
(``vertrouwd store go-live CODE --mode ...``) both call :func:`go_live`, so a store taken live
either way has the same rows, audit entries and gallery publication.

Recognition modes (issue 12), chosen per store and enforced on the device (invariant 13):

* ``door``: the entrance camera looks for members in the member zone. Dutch and European
  regulators hold that this is biometric processing of everyone who walks in
  (:data:`DOOR_LEGAL_POSITION`); it is recorded only with an explicit acknowledgement.
* ``checkin``: only a person who steps onto a marked check-in spot is looked at.
* ``pass``: the member shows the QR code of their membership pass; no face is processed.
* ``pass+face``: a pass, then a 1:1 comparison with that one member's template only.

Switching mode is a go-live with another mode: it publishes a gallery version (the mode travels
inside the sealed gallery) so online devices follow within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from consent.audit_kinds import StoreModeRecorded
from consent.gallery import MemberZone
from consent.modes import DEFAULT_MODE, RECOGNITION_MODES, RecognitionMode, parse_mode
from server.db.recognition import StoreMode
from server.db.stores import Store
from server.services import audit
from server.services.context import ServiceContext
from server.services.errors import BadInput
from server.services.recognition import false_matches, gallery, signage

PASS_MODES = frozenset({"pass", "pass+face"})
FACE_ARRIVAL_MODES = frozenset({"door", "checkin"})

MODE_LABELS: dict[str, str] = {
    "door": "door camera (members recognised as they walk in)",
    "checkin": "check-in spot (only a person who steps onto the marked spot is looked at)",
    "pass": "membership pass QR code (no face processed)",
    "pass+face": "membership pass QR code, then a 1:1 face check against that member only",
}

DEFAULT_MIN_FACE_SIZE: dict[str, int] = {"door": 80, "checkin": 160, "pass": 160, "pass+face": 160}
"""The smallest face processed when the command line is given no ``--min-face-size``: the
check-in spot is close range (about 160 px at 1080p), the door the product's old default."""

DOOR_LEGAL_POSITION: tuple[str, ...] = (
    "The Dutch data protection authority (Autoriteit Persoonsgegevens) warned a supermarket in "
    "2020 that walking into a shop is not consent, and that deleting non-matching faces after "
    "seconds does not cure the processing.",
    "In 2024 it wrote that face recognition at a shop door would need the explicit consent of "
    "every customer, which it called 'virtually impossible', and that people must be able to "
    "refuse and get an alternative.",
    "The EDPB's video guidelines (3/2019) require an alternative that involves no biometric "
    "processing.",
    "The EU AI Act lists remote biometric identification, identification without the person's "
    "active involvement, as high-risk (Annex III 1(a)); verifying an identity a person claims "
    "is excluded. The 'checkin', 'pass' and 'pass+face' modes involve the member actively.",
)
"""What the console shows an officer who picks ``door`` (and the AI Act record repeats).
Engineering, not legal advice."""


@dataclass(frozen=True)
class ModeRecord:
    mode: str
    door_acknowledged: bool
    dpia_reference: str | None
    recorded_by: str | None
    recorded_at: datetime | None


def check_mode(mode: str) -> RecognitionMode:
    try:
        return parse_mode(mode)
    except ValueError:
        raise BadInput(
            f"recognition mode: one of {', '.join(RECOGNITION_MODES)} (got {mode[:40]!r})"
        ) from None


def store_mode(session: Session, store_id: int) -> RecognitionMode:
    """The store's recognition mode (``door`` when none was recorded: a store taken live
    before modes existed keeps working as it did)."""
    row = session.get(StoreMode, store_id)
    return parse_mode(row.mode) if row is not None else DEFAULT_MODE


def mode_record(session: Session, store_id: int) -> ModeRecord:
    row = session.get(StoreMode, store_id)
    if row is None:
        return ModeRecord(DEFAULT_MODE, False, None, None, None)
    return ModeRecord(
        row.mode, row.door_acknowledged, row.dpia_reference, row.recorded_by, row.recorded_at
    )


def go_live(
    session: Session,
    ctx: ServiceContext,
    *,
    store: Store,
    dpia_reference: str,
    signage_confirmed: bool,
    zone: MemberZone,
    mode: str,
    door_acknowledged: bool,
    actor: str,
) -> int:
    """Take ``store`` live, or re-confirm it with a new zone or mode; returns the gallery
    version published (announced through ``ctx.notify``). Every check happens before anything
    is written; refused with a reason (``BadInput``) when the controller and privacy contact
    are not configured, when the signage, the DPIA reference, a valid mode or, for ``door``,
    the acknowledgement of the legal position is missing, or (issue 13) when ``door`` mode
    expects more than ``VERTROUWD_MAX_FALSE_MATCHES_PER_1000`` false matches per 1,000
    non-members at the store's members."""
    signage.require_controller(
        controller_name=ctx.settings.controller_name,
        privacy_contact=ctx.settings.privacy_contact,
    )
    now = ctx.now()
    check_mode(mode)
    if mode == "door" and not door_acknowledged:
        raise BadInput(
            "door mode recognises members among everyone who walks in: acknowledge the legal "
            "position (Dutch AP 2020/2024, EDPB 3/2019, AI Act Annex III 1(a)) to choose it "
            "knowingly, or choose checkin, pass or pass+face"
        )
    if not signage_confirmed:
        raise BadInput("confirm that the entrance signage is up before going live")
    if not dpia_reference.strip():
        raise BadInput("record the store's DPIA reference before going live")
    false_matches.check_go_live(
        session,
        store=store,
        mode=mode,
        bound=ctx.settings.max_false_matches_per_1000,
        calibration=ctx.calibration,
        now=now,
    )
    recorded = session.get(StoreMode, store.id)
    previous = recorded.mode if recorded is not None else None
    signage.go_live(
        session,
        store=store,
        dpia_reference=dpia_reference,
        signage_confirmed=signage_confirmed,
        zone=zone,
        actor=actor,
        now=now,
    )
    row = session.get(StoreMode, store.id)
    if row is None:
        row = StoreMode(store_id=store.id)
        session.add(row)
    row.mode = mode
    row.door_acknowledged = mode == "door" and door_acknowledged
    row.dpia_reference = store.dpia_reference or dpia_reference.strip()
    row.recorded_by = actor
    row.recorded_at = now
    session.flush()
    audit.append(
        session,
        StoreModeRecorded(
            store=store.code,
            mode=mode,
            previous_mode=previous,
            dpia_reference=row.dpia_reference,
            door_acknowledged=row.door_acknowledged,
        ),
        actor=actor,
        subject=None,
        at=now,
    )
    reason = "mode-change" if previous is not None and previous != mode else "go-live"
    return gallery.publish(
        session, store=store, reason=reason, actor=actor, now=now, notify=ctx.notify
    )
