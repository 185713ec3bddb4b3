"""The AI Act transparency record, generated from the live configuration (issue 12).

Beside the Art. 30 record (:mod:`server.services.console.ropa`), and rendered by the same
Markdown and
PDF writers (:func:`ropa.to_markdown`, :func:`ropa.to_pdf`): what a deployer of a biometric
system documents for the EU AI Act, taken from what the system is actually doing, never typed by
hand:

* the recognition mode of every store (``store_modes``, recorded at go-live) and how the Act
  treats it: ``door`` is remote biometric identification (Annex III 1(a), high-risk);
  ``checkin`` identifies only a person who steps onto the check-in spot (active involvement);
  ``pass`` processes no biometrics; ``pass+face`` verifies a claimed identity 1:1, which the
  Annex excludes;
* human oversight (Art. 14): the two-step reveal, "not this person" and its incidents;
* logging (Art. 12): the hash-chained audit log, its checkpoints and last verification;
* accuracy (Art. 15): the model's measured operating point from its calibration file
  (``models/calibration/<model_id>.json``), with the evidence it was measured on;
* retention, and the information given to people (entrance sign, ``/privacy``).

Engineering, not legal advice: the controller's DPIA and its own assessment remain the reference.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.calibration import Calibration
from server.db.audit import AuditCheckpoint, AuditEntry, AuditVerification
from server.db.clienteling import Visit
from server.db.recognition import Incident
from server.services.console.ropa import Record, Section, _when
from server.services.recognition import golive, signage
from server.settings import ServerSettings

TITLE = "AI Act transparency record"

CLASSIFICATION: dict[str, str] = {
    "door": "remote biometric identification (1:N among everyone entering the member zone, "
    "without their active involvement): high-risk, AI Act Annex III 1(a)",
    "checkin": "biometric identification 1:N only of a person who steps onto the marked "
    "check-in spot (active involvement); assess in the DPIA whether it is 'remote'",
    "pass": "no biometric processing: the member shows a pass (QR code); no face model runs",
    "pass+face": "biometric verification 1:1 of the identity the member claims with their "
    "pass: excluded from Annex III 1(a)",
}


def build(
    session: Session,
    *,
    settings: ServerSettings,
    calibration: Calibration,
    now: datetime,
) -> Record:
    """The record as the system is configured and running at ``now``."""
    tz = settings.zone
    stores = signage.store_rows(session)
    since = now - timedelta(days=30)
    arrivals = dict(
        session.execute(
            select(Visit.method, func.count())
            .where(Visit.arrived_at >= since)
            .group_by(Visit.method)
        ).all()
    )
    incidents = int(
        session.scalar(
            select(func.count()).select_from(Incident).where(Incident.reported_at >= since)
        )
        or 0
    )
    entries = int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    checkpoints = int(session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0)
    last_check = session.scalar(
        select(AuditVerification).order_by(AuditVerification.at.desc()).limit(1)
    )
    mode_rows = []
    for s in stores:
        record = golive.mode_record(session, _store_id(session, s.code))
        mode_rows.append(
            [
                f"{s.name} ({s.code})",
                "on" if s.live else "off",
                s.mode,
                CLASSIFICATION[s.mode],
                s.dpia_reference or "-",
                (
                    f"{record.recorded_by}, {_when(record.recorded_at, tz)}"
                    + (" (legal position acknowledged)" if record.door_acknowledged else "")
                )
                if record.recorded_at
                else "before recognition modes (works as door)",
            ]
        )
    c = calibration
    sections = [
        Section(
            "1. The system and its deployer",
            table=[
                ["", ""],
                ["Deployer (controller)", settings.controller_name],
                ["Contact", settings.privacy_contact or "not configured"],
                [
                    "Purpose",
                    "recognising members who opted in, so staff can greet and serve them; "
                    "no other use",
                ],
                ["Public notice", f"{settings.public_url.rstrip('/')}/privacy"],
                ["Record generated", _when(now, tz)],
            ],
        ),
        Section(
            "2. Recognition mode per store",
            table=[
                ["Store", "Live", "Mode", "How the AI Act treats it", "DPIA", "Recorded"],
                *mode_rows,
            ]
            if mode_rows
            else [],
            widths=[0.15, 0.06, 0.11, 0.34, 0.17, 0.17],
            paragraphs=(
                ["No stores are set up yet."]
                if not mode_rows
                else [
                    "The mode is chosen at go-live, recorded with the DPIA reference, shipped "
                    "inside the sealed gallery and enforced by the store device: in 'pass' no "
                    "frame reaches a face model; in 'checkin' only the person on the spot is "
                    "looked at; 'door' can only be recorded with an explicit acknowledgement "
                    "of the legal position."
                ]
            ),
            items=[*golive.DOOR_LEGAL_POSITION] if any(s.mode == "door" for s in stores) else [],
        ),
        Section(
            "3. Human oversight (Art. 14)",
            items=[
                "Two-step reveal: a card first shows only the preferred name and the enrolment "
                "photo; history, preferences and suggestions open only when the salesperson "
                "confirms it is that person (each opening is in the access log).",
                "A card from a pass carries no photo: nobody's face was compared, so the "
                "salesperson asks the name before opening it; in 'pass+face' the card says "
                "whether the 1:1 face check matched.",
                "'Not this person' hides the card on every tablet at once, opens an incident for "
                "the privacy officer and stops that camera from making a card for that member "
                "for a while.",
                f"Last 30 days: {sum(arrivals.values())} arrivals "
                f"({arrivals.get('face', 0)} by face, {arrivals.get('pass', 0)} by pass), "
                f"{incidents} 'not this person' reports.",
            ],
        ),
        Section(
            "4. Logging (Art. 12)",
            table=[
                ["", ""],
                [
                    "What is logged",
                    "every consent change, template change, gallery publication, device "
                    "confirmation, mode change, pass issue and revocation, and every staff view "
                    "of a profile, by pseudonym only",
                ],
                [
                    "Integrity",
                    "SHA-256 hash chain; Ed25519-signed checkpoints every "
                    f"{settings.audit_checkpoint_every} entries",
                ],
                ["Entries now", f"{entries} ({checkpoints} signed checkpoints)"],
                [
                    "Last verified",
                    f"{_when(last_check.at, tz)}: {'intact' if last_check.ok else 'BROKEN'}"
                    if last_check
                    else "never",
                ],
            ],
        ),
        Section(
            "5. Accuracy (Art. 15), from the model's calibration",
            table=[
                ["", ""],
                ["Model", c.model_id],
                ["Threshold (distance)", f"{c.threshold}"],
                ["Minimum margin to the second-best member", f"{c.min_margin}"],
                ["Target false-match rate per comparison", f"{c.target_fmr:g}"],
                ["Observed false-match rate", f"{c.observed_fmr:g} ({c.impostor.count} pairs)"],
                ["Observed false-non-match rate", f"{c.observed_fnmr:g} ({c.genuine.count} pairs)"],
                ["Measured on", c.dataset],
                ["Identities, images", f"{c.identities}, {c.images}"],
                ["Detector", c.detector],
                ["Rule", c.rule],
                ["Calibrated", _when(c.created_at, tz)],
            ],
            paragraphs=[
                "A door camera searches every member (1:N), where the false-match risk grows "
                "with the number of members; a pass with a face check compares one template "
                "(1:1). False matches are handled as incidents (section 3)."
            ],
        ),
        Section(
            "6. Retention",
            table=[
                ["What", "Limit"],
                [
                    "Consent",
                    f"{settings.consent_months} months unless renewed; templates destroyed when "
                    "it ends",
                ],
                [
                    "Face templates",
                    f"at most {settings.retention_years} years after the last interaction",
                ],
                ["Withdrawal", "templates, data key and pass revoked at once; galleries re-issued"],
                [
                    "Non-members in front of the camera",
                    "nothing: a face that matches nobody is discarded in memory on the device",
                ],
                ["Card on a tablet", f"{settings.visit_live_s // 60} minutes after arrival"],
                ["Audit log", "kept; pseudonyms only"],
            ],
        ),
        Section(
            "7. Information to people",
            items=[
                "An entrance sign per store (printed from the console, with the store's mode) "
                "with a QR code to the public privacy page.",
                "The public privacy page lists the stores where recognition is on, each with its "
                "mode, and how to withdraw.",
                "Membership without a face is offered at the register as an equal first choice.",
            ],
        ),
    ]
    return Record(
        TITLE,
        now,
        settings.controller_name,
        settings.privacy_contact,
        sections,
        tz,
        kicker="EU AI ACT",
        heading=TITLE,
    )


def _store_id(session: Session, code: str) -> int:
    return signage.store(session, code).id
