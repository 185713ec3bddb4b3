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
from collections.abc import Mapping
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
    PASS_PROCESSING,
    PROCESSING,
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
from server.services.console.ropa_text import ROPA_TEXT, ropa_texts
from server.services.membership import epochs
from server.services.recognition import signage
from server.settings import ServerSettings

TITLE = ROPA_TEXT["en"]["title"]

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
    kicker: str = ROPA_TEXT["en"]["kicker"]
    heading: str = ROPA_TEXT["en"]["heading"]
    """the PDF's title block (the AI Act record, ``aiact``, is rendered by the same code)"""
    words: Mapping[str, str] = field(default_factory=lambda: ROPA_TEXT["en"])
    """the frame's words (Markdown header, PDF subtitle, footer, page numbers), in the
    record's language"""

    @property
    def text(self) -> str:
        return to_markdown(self)


@dataclass(frozen=True)
class KeyInfo:
    """What the record says about the key-encryption keys (ids and counts, never a key)."""

    current_key_id: str
    keys: int


def _when(dt: datetime | None, tz: tzinfo, never: str = "never") -> str:
    """``2026-11-25 15:05 CET``: local time in the stores' zone, with its abbreviation."""
    if dt is None:
        return never
    return f"{localtime.local(dt, tz):%Y-%m-%d %H:%M} {localtime.abbreviation(dt, tz)}"


def build(
    session: Session,
    *,
    settings: ServerSettings,
    keys: KeyInfo,
    now: datetime,
    language: str = "en",
) -> Record:
    """The record as the system is configured and running at ``now``, in ``language`` (the
    stores' staff language; ``ropa_text`` holds its words)."""
    w = ropa_texts(language)
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
    controller = settings.controller_name.strip()
    if not controller or controller == signage.UNSET_CONTROLLER:
        controller = w["controller_unset"]
    promise = epochs.promise(settings)

    def when(dt: datetime | None) -> str:
        return _when(dt, tz, w["never"])

    def role(name: str) -> str:
        return w.get(f"role:{name}", name)

    def category(name: str) -> list[str]:
        return [
            w.get(f"category:{name}", w["no_description"]),
            w.get(f"holds:{name}", w["see_table"]),
        ]

    verified = (
        w["verified_ok" if last_check.ok else "verified_bad"].format(at=when(last_check.at))
        if last_check
        else w["never"]
    )
    sections: list[Section] = [
        Section(
            w["s_controller"],
            table=[
                ["", ""],
                [w["controller"], controller],
                [w["contact"], contact or w["contact_unset"]],
                [w["public_notice"], f"{settings.public_url.rstrip('/')}/privacy"],
                [w["generated"], when(now)],
                [w["times"], localtime.zone_note(tz, year=localtime.today(now, tz).year)],
            ],
        ),
        Section(
            w["s_purposes"],
            table=[
                [w["purpose"], w["legal_basis"], w["data_subjects"]],
                [w["purpose_face"].format(id=PURPOSE_ID), w["basis_face"], w["subjects_face"]],
                [w["purpose_pass"], w["basis_pass"], w["subjects_pass"]],
                [w["purpose_audit"], w["basis_audit"], w["subjects_audit"]],
                [w["purpose_access"], w["basis_access"], w["subjects_access"]],
            ],
            paragraphs=[w["operations"]],
            items=[
                *(w[f"processing:{i}"] for i in range(len(PROCESSING))),
                *(
                    w["without_face"].format(operation=w[f"pass_processing:{i}"])
                    for i in range(len(PASS_PROCESSING))
                ),
            ],
        ),
        Section(
            w["s_texts"],
            table=[
                [w["version"], w["lang"], w["text_title"], "SHA-256"],
                *([t.version, t.language, t.title, t.sha256] for t in texts),
            ],
            paragraphs=[
                w["texts_note"].format(
                    face=CURRENT_CONSENT_VERSION, pass_version=CURRENT_PASS_CONSENT_VERSION
                )
            ],
        ),
        Section(
            w["s_subjects"],
            table=[
                [w["who"], w["now"], w["what_processed"]],
                [w["members_opted"], w["active_n"].format(n=active), w["below"]],
                [
                    w["store_staff"],
                    ", ".join(
                        w["role_count"].format(n=n, role=role(name))
                        for name, n in sorted(staff_counts.items())
                    )
                    or w["none"],
                    w["staff_what"],
                ],
                [w["passers"], w["not_counted"], w["passers_what"]],
            ],
        ),
        Section(
            w["s_data"],
            table=[
                [w["table"], w["category"], w["what"]],
                *([name, *category(name)] for name in sorted(customer_tables())),
            ],
            paragraphs=[w["tables_note"]],
        ),
        Section(
            w["s_retention"],
            table=[
                [w["what"], w["limit"]],
                [w["ret_consent"], w["ret_consent_value"].format(months=settings.consent_months)],
                [
                    w["ret_templates"],
                    w["ret_templates_value"].format(
                        years=settings.retention_years,
                        minutes=settings.retention_interval_s // 60,
                    ),
                ],
                [w["ret_withdrawal"], w["ret_withdrawal_value"]],
                [w["ret_erasure"], w["ret_erasure_value"]],
                [
                    w["ret_backups"],
                    w["ret_backups_value"].format(
                        promise=promise.sentence(language),
                        rotation=settings.key_rotation_days,
                        retention=settings.backup_retention_days,
                        days=promise.days,
                    ),
                ],
                [
                    w["ret_gallery"],
                    w["ret_gallery_value"].format(
                        minutes=settings.gallery_ttl_s // 60,
                        hours=settings.gallery_validity_s // 3600,
                    ),
                ],
                [w["ret_card"], w["ret_card_value"].format(minutes=settings.visit_live_s // 60)],
                [w["ret_link"], w["ret_link_value"].format(days=settings.self_service_ttl_days)],
                [w["ret_audit"], w["ret_audit_value"]],
            ],
        ),
        Section(
            w["s_recipients"],
            paragraphs=[
                w["not_shared"],
                w["processors"].format(
                    processors="; ".join(settings.processors)
                    if settings.processors
                    else w["none_configured"]
                ),
            ],
        ),
        Section(w["s_transfers"], paragraphs=[w["transfers"]]),
        Section(
            w["s_measures"],
            table=[
                [w["measure"], w["as_configured"]],
                [
                    w["m_encryption"],
                    w["m_encryption_value"].format(
                        keys=keys.keys, current=keys.current_key_id, rotated=when(rotated)
                    ),
                ],
                [w["m_shredding"], w["m_shredding_value"]],
                [w["m_sealed"], w["m_sealed_value"]],
                [
                    w["m_galleries"],
                    w["m_galleries_value"].format(
                        suite=SUITES.get(settings.gallery_kem, settings.gallery_kem)
                    ),
                ],
                [
                    w["m_audit"],
                    w["m_audit_value"].format(every=settings.audit_checkpoint_every, last=verified),
                ],
                [w["m_access"], w["m_access_value"]],
                [w["m_minimisation"], w["m_minimisation_value"]],
                [w["m_golive"], w["m_golive_value"]],
            ],
        ),
        Section(
            w["s_stores"],
            table=[
                [w["store"], w["recognition"], w["mode"], w["dpia"], w["signage"], w["zone"]],
                *(
                    [
                        f"{s.name} ({s.code})",
                        w["on"] if s.live else w["off"],
                        s.mode,
                        s.dpia_reference or w["dash"],
                        when(s.signage_confirmed_at) if s.signage_confirmed_at else w["dash"],
                        _zone_text(s.zone, w),
                    ]
                    for s in stores
                ),
            ]
            if stores
            else [],
            paragraphs=[] if stores else [w["no_stores"]],
        ),
    ]
    return Record(
        w["title"],
        now,
        controller,
        contact,
        sections,
        tz,
        kicker=w["kicker"],
        heading=w["heading"],
        words=w,
    )


def _zone_text(zone: MemberZone | None, w: Mapping[str, str]) -> str:
    if zone is None:
        return w["zone_none"]
    return w["zone_value"].format(
        w=f"{zone.w * 100:.0f}",
        h=f"{zone.h * 100:.0f}",
        x=f"{zone.x * 100:.0f}",
        y=f"{zone.y * 100:.0f}",
        px=zone.min_face_size,
    )


# -- Markdown --------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(record: Record) -> str:
    w = record.words
    lines = [
        f"# {record.title}",
        "",
        w["md_controller"].format(controller=record.controller) + "  ",
        w["md_contact"].format(contact=record.contact or w["md_unset"]) + "  ",
        w["md_generated"].format(at=_when(record.generated_at, record.tz)),
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
    lines += ["---", "", w["footer"], ""]
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
    w = record.words
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
        subject=w["pdf_subject"].format(
            purpose=record.heading, at=_when(record.generated_at, record.tz)
        ),
        creator="Vertrouwd",
    )
    width = A4[0] - 2 * margin
    story: list[Any] = [
        Paragraph(pdf.escape(record.kicker), pdf.STYLES["kicker"]),
        Paragraph(pdf.escape(record.heading), pdf.STYLES["title"]),
        Paragraph(
            pdf.escape(
                w["pdf_subtitle"].format(
                    controller=record.controller, at=_when(record.generated_at, record.tz)
                )
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
        Paragraph(pdf.escape(w["footer"]), pdf.STYLES["small"]),
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
        canvas.drawRightString(A4[0] - margin, 8 * mm, w["pdf_page"].format(n=document.page))
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()
