"""The record of processing activities (GDPR Art. 30), generated from the live configuration.

Nothing in it is typed by hand: purposes and processing operations come from
``consent.records``, the consent texts in force from their files (with their SHA-256), the
categories of data from the tables that hold customer data (``customer_tables``: a table added
later appears here, flagged when it has no description yet), retention from the settings,
recipients from ``processors``, safeguards from the key ring, the gallery suite, the audit chain
and its last verification, and the stores from the go-live gate (DPIA reference, signage, member
zone). :func:`to_markdown` and :func:`to_pdf` render the same :class:`Record`.

This is an engineering record of what the system does; the controller's own Art. 30 register
and DPIA remain the legal documents.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.audit_kinds import AuditKind
from consent.gallery import MemberZone
from consent.records import (
    CURRENT_CONSENT_VERSION,
    CURRENT_PASS_CONSENT_VERSION,
    LANGUAGES,
    LEGAL_BASIS,
    PASS_LEGAL_BASIS,
    PASS_PROCESSING,
    PASS_PURPOSE,
    PROCESSING,
    PURPOSE,
    PURPOSE_ID,
    current_consent_text,
    current_pass_consent_text,
)
from server.db.audit import AuditEntry, AuditVerification
from server.db.membership import ConsentRecord
from server.db.models import customer_tables
from server.db.staff import Staff
from server.services import localtime
from server.services.console import pdf
from server.services.membership import epochs
from server.services.recognition import signage
from server.settings import ServerSettings

TITLE = "Record of processing activities (GDPR Art. 30)"

DATA_CATEGORIES: dict[str, tuple[str, str]] = {
    "customers": ("Identity and contact", "name, preferred name, e-mail, language, loyalty id"),
    "customer_keys": ("Key material", "the member's data key, wrapped by the server key"),
    "consent_records": (
        "Proof of consent",
        "purpose, scope (stores), text version and SHA-256, channel, collector, dates, status",
    ),
    "face_templates": (
        "Biometric data (Art. 9)",
        "face templates (128 numbers each), encrypted; never shown or exported",
    ),
    "face_thumbnails": (
        "Biometric data (Art. 9)",
        "one small enrolment photo, encrypted, for the salesperson's visual check",
    ),
    "visits": ("Visits", "store, time of recognition, match score, what staff did with the card"),
    "sales": ("Purchases", "receipts from the point of sale linked to the member"),
    "purchases": ("Purchases", "purchase lines: product, category, brand, size, quantity"),
    "preferences": ("Preferences", "brands, categories, sizes, notes the member shared"),
    "allergies": (
        "Health data (Art. 9)",
        "allergies and intolerances, so suggestions never conflict with them",
    ),
    "dietary_needs": (
        "Dietary needs (may reveal health or belief, Art. 9)",
        "vegan, halal, kosher, gluten-free and similar",
    ),
    "service_items": ("Orders and repairs", "open repairs, special orders, pickups, returns"),
    "staff_notes": ("Staff notes", "short notes by colleagues (at most 500 characters)"),
    "customer_external_ids": ("Linked numbers", "the member's number in the CRM, POS or webshop"),
    "member_passes": (
        "Membership pass",
        "the SHA-256 digest of the member's pass (never the pass itself), issue and revocation",
    ),
    "incidents": (
        "Recognition incidents",
        "'not this person' reports: camera, score, margin, the officer's outcome",
    ),
}

SUITES = {
    "mlkem768-x25519": "HPKE (RFC 9180): ML-KEM-768 + X25519 hybrid KEM, HKDF-SHA256, AES-256-GCM",
    "x25519": "HPKE (RFC 9180): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM",
}


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)
    """first row: the header"""
    widths: list[float] = field(default_factory=list)
    """fractions of the page width per column in the PDF (empty: chosen by column count)"""


@dataclass(frozen=True)
class Record:
    title: str
    generated_at: datetime
    controller: str
    contact: str | None
    sections: list[Section]
    tz: tzinfo
    """the stores' zone: every time in the record is shown in it"""
    kicker: str = "GDPR ARTICLE 30"
    heading: str = "Record of processing activities"
    """the PDF's title block (the AI Act record, ``aiact``, is rendered by the same code)"""

    @property
    def text(self) -> str:
        return to_markdown(self)


@dataclass(frozen=True)
class KeyInfo:
    """What the record says about the key-encryption keys (ids and counts, never a key)."""

    current_key_id: str
    keys: int


def _when(dt: datetime | None, tz: tzinfo) -> str:
    """``2026-11-25 15:05 CET``: local time in the stores' zone, with its abbreviation."""
    if dt is None:
        return "never"
    return f"{localtime.local(dt, tz):%Y-%m-%d %H:%M} {localtime.abbreviation(dt, tz)}"


def build(session: Session, *, settings: ServerSettings, keys: KeyInfo, now: datetime) -> Record:
    """The record as the system is configured and running at ``now``."""
    active = int(
        session.scalar(
            select(func.count())
            .select_from(ConsentRecord)
            .where(ConsentRecord.status == "active", ConsentRecord.expires_at > now)
        )
        or 0
    )
    staff_counts = dict(
        session.execute(
            select(Staff.role, func.count()).where(Staff.active.is_(True)).group_by(Staff.role)
        ).all()
    )
    rotated = session.scalar(
        select(AuditEntry.at)
        .where(AuditEntry.kind == AuditKind.KEYS_ROTATED)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    last_check = session.scalar(
        select(AuditVerification).order_by(AuditVerification.at.desc()).limit(1)
    )
    stores = signage.store_rows(session)
    texts = [current_consent_text(lang) for lang in LANGUAGES]
    texts += [current_pass_consent_text(lang) for lang in LANGUAGES]
    contact = settings.privacy_contact
    tz = settings.zone

    sections: list[Section] = [
        Section(
            "1. Controller",
            table=[
                ["", ""],
                ["Controller", settings.controller_name],
                [
                    "Privacy officer (contact)",
                    contact or "not configured (set VERTROUWD_PRIVACY_CONTACT)",
                ],
                ["Public notice", f"{settings.public_url.rstrip('/')}/privacy"],
                ["Record generated", _when(now, tz)],
                [
                    "Times in this record",
                    localtime.zone_note(tz, year=localtime.today(now, tz).year),
                ],
            ],
        ),
        Section(
            "2. Purposes and legal basis",
            table=[
                ["Purpose", "Legal basis", "Data subjects"],
                [
                    f"{PURPOSE[0].upper()}{PURPOSE[1:]} ({PURPOSE_ID})",
                    LEGAL_BASIS,
                    "members who opted in",
                ],
                [
                    f"{PASS_PURPOSE[0].upper()}{PASS_PURPOSE[1:]}",
                    PASS_LEGAL_BASIS,
                    "members who chose a membership without a face",
                ],
                [
                    "Proof of consent and accountability: the hash-chained audit log",
                    "GDPR Art. 6(1)(c) with Art. 7(1) and 5(2)",
                    "members (by pseudonym), staff",
                ],
                [
                    "Security of access by staff: the access log",
                    "GDPR Art. 6(1)(f) legitimate interest",
                    "staff",
                ],
            ],
            paragraphs=["Processing operations consented to:"],
            items=[*PROCESSING, *(f"without a face: {p}" for p in PASS_PROCESSING)],
        ),
        Section(
            "3. Consent texts in force",
            table=[
                ["Version", "Lang.", "Title", "SHA-256"],
                *([t.version, t.language, t.title, t.sha256] for t in texts),
            ],
            paragraphs=[
                f"New consents are given on version {CURRENT_CONSENT_VERSION} (membership with "
                f"face recognition) or {CURRENT_PASS_CONSENT_VERSION} (membership without a "
                "face, with a pass); each consent record keeps the version and SHA-256 of the "
                "exact text the member was shown."
            ],
        ),
        Section(
            "4. Categories of data subjects",
            table=[
                ["Who", "Now", "What is processed"],
                [
                    "Members who opted in",
                    f"{active} with an active consent",
                    "the categories of data below",
                ],
                [
                    "Store staff",
                    ", ".join(f"{n} {role}" for role, n in sorted(staff_counts.items())) or "none",
                    "account, role, store; the access log (who opened which profile, when)",
                ],
                [
                    "People passing the camera",
                    "not counted",
                    "a face in the member zone is compared in memory on the store device and "
                    "discarded at once when it matches no member: no image, template, log line "
                    "or event is kept or sent; in 'checkin' mode only a person on the check-in "
                    "spot is looked at, in 'pass' mode no face is processed at all (the mode "
                    "of each store: section 10)",
                ],
            ],
        ),
        Section(
            "5. Categories of personal data (members)",
            table=[
                ["Table", "Category", "What"],
                *(
                    [name, *DATA_CATEGORIES.get(name, ("(no description yet)", "see the table"))]
                    for name in sorted(customer_tables())
                ),
            ],
            paragraphs=[
                "Every table that holds a member's data is listed (taken from the database "
                "schema); each is covered by the member's export (Art. 15/20) and by erasure "
                "(Art. 17)."
            ],
        ),
        Section(
            "6. Retention (time limits for erasure)",
            table=[
                ["What", "Limit"],
                [
                    "Consent",
                    f"{settings.consent_months} months, unless the member renews it; "
                    "templates are destroyed when it ends",
                ],
                [
                    "Face templates",
                    f"at most {settings.retention_years} years after the member's last "
                    "interaction, whatever the consent says (the retention job runs every "
                    f"{settings.retention_interval_s // 60} minutes)",
                ],
                ["Withdrawal", "templates and data key destroyed at once, galleries re-issued"],
                [
                    "Erasure",
                    "every row of the member deleted at once; consent records kept without the "
                    "member (proof that consent existed), incidents kept without the member",
                ],
                [
                    "Erasure in backups",
                    epochs.promise(settings).sentence()
                    + f" ({settings.key_rotation_days} + {settings.backup_retention_days} = "
                    f"{epochs.promise(settings).days} days: key rotation period + backup "
                    "retention; key-encryption keys are kept outside the database backups)",
                ],
                [
                    "Gallery on a store device",
                    f"stops matching {settings.gallery_ttl_s // 60} minutes after it could last "
                    f"confirm it is current; a sealed gallery expires after "
                    f"{settings.gallery_validity_s // 3600} hours",
                ],
                ["Card on a tablet", f"{settings.visit_live_s // 60} minutes after arrival"],
                ["Self-service link", f"{settings.self_service_ttl_days} days"],
                ["Audit log", "kept; it names members only by pseudonym"],
            ],
        ),
        Section(
            "7. Recipients",
            paragraphs=[
                "No member data is sold, shared or disclosed to third parties.",
                "Processors: "
                + ("; ".join(settings.processors) if settings.processors else "none configured")
                + ".",
            ],
        ),
        Section(
            "8. Transfers to third countries",
            paragraphs=[
                "None. Face models run on the store devices and the server; nothing is sent to "
                "an outside service."
            ],
        ),
        Section(
            "9. Technical and organisational measures (Art. 32)",
            table=[
                ["Measure", "As configured"],
                [
                    "Encryption at rest",
                    "AES-256-GCM under a per-member data key; data keys wrapped by the server's "
                    f"key-encryption key ({keys.keys} in the key ring, current "
                    f"{keys.current_key_id}, last rotated {_when(rotated, tz)})",
                ],
                [
                    "Crypto-shredding",
                    "withdrawal and erasure delete the member's data key first: every copy of "
                    "their templates, in any backup, becomes unreadable",
                ],
                [
                    "Personal fields sealed",
                    "names, contact details, loyalty and CRM ids, preferences, dietary needs, "
                    "allergies, service items and staff notes are stored only as AES-256-GCM "
                    "ciphertext under the member's profile key (bound to table, column and row); "
                    "staff search through keyed HMAC-SHA256 blind indexes; erasure deletes the "
                    "profile key, so no database page, WAL segment or dump holds them readably",
                ],
                [
                    "Galleries to store devices",
                    f"{SUITES.get(settings.gallery_kem, settings.gallery_kem)}, sealed to one "
                    "device; manifest signed with Ed25519; pseudonyms only, no names",
                ],
                [
                    "Audit log",
                    "SHA-256 hash chain over every consent change, template change, gallery, "
                    "device confirmation and staff view; Ed25519-signed checkpoints every "
                    f"{settings.audit_checkpoint_every} entries; last verified "
                    + (
                        f"{_when(last_check.at, tz)}: {'intact' if last_check.ok else 'BROKEN'}"
                        if last_check
                        else "never"
                    ),
                ],
                [
                    "Access control",
                    "staff see a member only in their own store, only while the visit is live; "
                    "every opening and every refusal is logged",
                ],
                [
                    "Data minimisation",
                    "photos discarded after enrolment; no frames, crops or embeddings of "
                    "non-members; logs hold no embeddings or images",
                ],
                [
                    "Go-live gate",
                    "recognition is off in a store until its entrance signage, DPIA reference "
                    "and member zone are confirmed",
                ],
            ],
        ),
        Section(
            "10. Stores, recognition modes, DPIA references and member zones",
            table=[
                [
                    "Store",
                    "Recognition",
                    "Mode",
                    "DPIA reference",
                    "Signage confirmed",
                    "Member zone",
                ],
                *(
                    [
                        f"{s.name} ({s.code})",
                        "on" if s.live else "off",
                        s.mode,
                        s.dpia_reference or "-",
                        _when(s.signage_confirmed_at, tz) if s.signage_confirmed_at else "-",
                        _zone_text(s.zone),
                    ]
                    for s in stores
                ),
            ]
            if stores
            else [],
            paragraphs=[] if stores else ["No stores are set up yet."],
        ),
    ]
    return Record(TITLE, now, settings.controller_name, contact, sections, tz)


def _zone_text(zone: MemberZone | None) -> str:
    if zone is None:
        return "not recorded"
    return (
        f"{zone.w * 100:.0f}% x {zone.h * 100:.0f}% of the frame at "
        f"({zone.x * 100:.0f}%, {zone.y * 100:.0f}%); faces from {zone.min_face_size} px"
    )


# -- Markdown --------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(record: Record) -> str:
    lines = [
        f"# {record.title}",
        "",
        f"Controller: {record.controller}  ",
        f"Privacy officer: {record.contact or 'not configured'}  ",
        f"Generated from the live configuration: {_when(record.generated_at, record.tz)}",
        "",
    ]
    for section in record.sections:
        lines += [f"## {section.title}", ""]
        if section.table:
            header, *rows = section.table
            if not any(header):  # a key/value table
                lines += ["| | |", "|---|---|"]
            else:
                lines += [
                    "| " + " | ".join(_md_cell(h) for h in header) + " |",
                    "|" + "---|" * len(header),
                ]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        for para in section.paragraphs:
            lines += [para, ""]
        if section.items:
            lines += [f"- {item}" for item in section.items]
            lines.append("")
    lines += [
        "---",
        "",
        "This record is generated by Vertrouwd from its running configuration. It is an "
        "engineering record, not legal advice; the controller's DPIA remains the reference.",
        "",
    ]
    return "\n".join(lines)


# -- PDF -------------------------------------------------------------------------------------


def _cell(text: str, bold: bool = False) -> Paragraph:
    return Paragraph(pdf.escape(text), pdf.STYLES["cellbold" if bold else "cell"])


def _table(rows: list[list[str]], width: float, widths: list[float] | None = None) -> Table:
    header, *body = rows
    key_value = not any(header)
    ncols = len(header)
    if widths and len(widths) == ncols:
        col_widths = [width * w for w in widths]
    elif key_value or ncols == 2:
        col_widths = [width * 0.3, width * 0.7]
    elif ncols == 3:
        col_widths = [width * 0.3, width * 0.3, width * 0.4]
    elif ncols == 4:
        col_widths = [width * 0.16, width * 0.1, width * 0.34, width * 0.4]
    else:
        col_widths = [width / ncols] * ncols
    data: list[list[Any]] = []
    if not key_value:
        data.append([_cell(h, bold=True) for h in header])
    for row in body:
        data.append([_cell(c, bold=key_value and i == 0) for i, c in enumerate(row)])
    table = Table(data, colWidths=col_widths, repeatRows=0 if key_value else 1)
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, pdf.LINE),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), 5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 5),
    ]
    if not key_value:
        commands += [
            ("BACKGROUND", (0, 0), (-1, 0), pdf.ACCENT_LIGHT),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, pdf.ACCENT),
        ]
    table.setStyle(TableStyle(commands))
    return table


def to_pdf(record: Record) -> bytes:
    """The record as an A4 PDF: title block, numbered sections with tables, and a running
    header and footer with the page number."""
    buf = io.BytesIO()
    margin = 18 * mm
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=22 * mm,
        bottomMargin=18 * mm,
        title=record.title,
        author=record.controller,
        subject=f"{PURPOSE} - generated {_when(record.generated_at, record.tz)}",
        creator="Vertrouwd",
    )
    width = A4[0] - 2 * margin
    story: list[Any] = [
        Paragraph(pdf.escape(record.kicker), pdf.STYLES["kicker"]),
        Paragraph(pdf.escape(record.heading), pdf.STYLES["title"]),
        Paragraph(
            pdf.escape(
                f"{record.controller} · generated from the live configuration on "
                f"{_when(record.generated_at, record.tz)}"
            ),
            pdf.STYLES["subtitle"],
        ),
    ]
    for section in record.sections:
        # a heading never stays alone at the foot of a page; long tables split (header repeated)
        story.append(CondPageBreak(45 * mm))
        story.append(Paragraph(pdf.escape(section.title), pdf.STYLES["h2"]))
        if section.table:
            story.append(_table(section.table, width, section.widths))
            story.append(Spacer(1, 4))
        for para in section.paragraphs:
            story.append(Paragraph(pdf.escape(para), pdf.STYLES["body"]))
            story.append(Spacer(1, 3))
        if section.items:
            story.append(
                ListFlowable(
                    [
                        ListItem(Paragraph(pdf.escape(item), pdf.STYLES["body"]), leftIndent=12)
                        for item in section.items
                    ],
                    bulletType="bullet",
                    start="•",
                    leftIndent=12,
                    bulletColor=pdf.ACCENT,
                )
            )
    story += [
        Spacer(1, 10 * mm),
        Paragraph(
            "This record is generated by Vertrouwd from its running configuration. It is an "
            "engineering record, not legal advice; the controller's DPIA remains the reference.",
            pdf.STYLES["small"],
        ),
    ]

    def decorate(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFillColor(pdf.ACCENT)
        canvas.rect(0, A4[1] - 8 * mm, A4[0], 8 * mm, stroke=0, fill=1)
        canvas.setFillColor(pdf.MUTED)
        canvas.setFont(pdf.FONT, 8)
        canvas.drawString(margin, A4[1] - 14 * mm, f"Vertrouwd · {record.title}")
        canvas.drawRightString(
            A4[0] - margin, A4[1] - 14 * mm, _when(record.generated_at, record.tz)
        )
        canvas.setStrokeColor(pdf.LINE)
        canvas.line(margin, 12 * mm, A4[0] - margin, 12 * mm)
        canvas.drawString(margin, 8 * mm, record.controller)
        canvas.drawRightString(A4[0] - margin, 8 * mm, f"page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()
