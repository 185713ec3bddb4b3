"""The store go-live gate (privacy invariant 11) and the printable entrance sign.

Recognition at a store stays off until a privacy officer or admin has confirmed that the
entrance sign is up, recorded the store's DPIA reference and its member zone: the region of the
camera frame that is processed at all and the smallest face that is (people who do not step up
to the camera are not even detected). Until then no gallery is issued to the store's devices
(``server.services.recognition.gallery.seal_for_device`` refuses), so nothing can be matched there.

The zone recorded here is the store's authoritative setting: :func:`member_zone` is shipped to
every device of the store inside its sealed gallery, and the edge uses it in place of its own
``VERTROUWD_EDGE_ZONE_*`` / ``..._MIN_FACE_SIZE`` settings (those apply only to a store that
recorded no zone).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from reportlab.graphics import renderPDF
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.audit_kinds import StorePaused, StoreZoneRecorded
from consent.gallery import MemberZone
from server.db.recognition import EdgeDevice, StoreMode, StoreZone
from server.db.stores import Store
from server.services import audit
from server.services.console import pdf
from server.services.errors import BadInput, NotFound
from server.services.recognition import devices


def checked_zone(x: float, y: float, w: float, h: float, min_face_size: int) -> MemberZone:
    """A member zone from the officer's or the CLI's numbers; out of bounds is ``BadInput``
    (422 / a CLI message) with the reason."""
    try:
        return MemberZone(x, y, w, h, min_face_size)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def member_zone(session: Session, store_id: int) -> MemberZone | None:
    """The store's recorded member zone (None when go-live has not recorded one)."""
    row = session.get(StoreZone, store_id)
    if row is None:
        return None
    return MemberZone(row.zone_x, row.zone_y, row.zone_w, row.zone_h, row.min_face_size)


def go_live(
    session: Session,
    *,
    store: Store,
    dpia_reference: str,
    signage_confirmed: bool,
    zone: MemberZone,
    actor: str,
    now: datetime,
) -> None:
    """Take a store live (or re-confirm a live one): signage, DPIA reference and member zone
    recorded together, each audited. Refused with a reason when anything is missing."""
    dpia = dpia_reference.strip()
    if len(dpia) > 200:
        raise BadInput("DPIA reference: at most 200 characters")
    devices.go_live(
        session,
        store=store,
        dpia_reference=dpia,
        signage_confirmed=signage_confirmed,
        actor=actor,
        now=now,
    )
    row = session.get(StoreZone, store.id)
    if row is None:
        row = StoreZone(store_id=store.id)
        session.add(row)
    row.zone_x, row.zone_y, row.zone_w, row.zone_h = zone.x, zone.y, zone.w, zone.h
    row.min_face_size = zone.min_face_size
    row.recorded_by = actor
    row.recorded_at = now
    session.flush()
    recorded = StoreZoneRecorded(
        store=store.code, x=zone.x, y=zone.y, w=zone.w, h=zone.h, min_face_size=zone.min_face_size
    )
    audit.append(session, recorded, actor=actor, subject=None, at=now)


def pause(session: Session, *, store: Store, reason: str, actor: str, now: datetime) -> None:
    """Recognition off at a store: no gallery is issued to its devices any more, so each stops
    matching when its installed gallery's TTL runs out (fail closed)."""
    reason = reason.strip()
    if not reason:
        raise BadInput("say why recognition is paused (it is kept in the audit log)")
    if len(reason) > 300:
        raise BadInput("reason: at most 300 characters")
    if not store.live:
        return
    store.live = False
    audit.append(
        session, StorePaused(store=store.code, reason=reason), actor=actor, subject=None, at=now
    )


@dataclass(frozen=True)
class StoreRow:
    code: str
    name: str
    live: bool
    signage_confirmed_at: datetime | None
    dpia_reference: str | None
    zone: MemberZone | None
    zone_recorded_by: str | None
    zone_recorded_at: datetime | None
    gallery_version: int
    devices: int
    mode: str = "door"
    """The recognition mode (``door`` when none was recorded: before modes existed)."""
    door_acknowledged: bool = False

    @property
    def missing(self) -> list[str]:
        """What go-live still needs (empty for a live store with a zone)."""
        out = []
        if self.signage_confirmed_at is None:
            out.append("entrance signage")
        if not self.dpia_reference:
            out.append("DPIA reference")
        if self.zone is None:
            out.append("member zone")
        return out

    def as_row(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "live": self.live,
            "signage_confirmed_at": self.signage_confirmed_at,
            "dpia_reference": self.dpia_reference,
            "zone": self.zone.to_json() if self.zone else None,
            "zone_recorded_by": self.zone_recorded_by,
            "zone_recorded_at": self.zone_recorded_at,
            "gallery_version": self.gallery_version,
            "devices": self.devices,
            "mode": self.mode,
            "door_acknowledged": self.door_acknowledged,
        }


def store_rows(session: Session) -> list[StoreRow]:
    counts = dict(
        session.execute(
            select(EdgeDevice.store_id, func.count())
            .where(EdgeDevice.revoked_at.is_(None))
            .group_by(EdgeDevice.store_id)
        ).all()
    )
    out = []
    for s in session.scalars(select(Store).order_by(Store.name)):
        zone_row = session.get(StoreZone, s.id)
        mode_row = session.get(StoreMode, s.id)
        out.append(
            StoreRow(
                code=s.code,
                name=s.name,
                live=s.live,
                signage_confirmed_at=s.signage_confirmed_at,
                dpia_reference=s.dpia_reference,
                zone=member_zone(session, s.id),
                zone_recorded_by=zone_row.recorded_by if zone_row else None,
                zone_recorded_at=zone_row.recorded_at if zone_row else None,
                gallery_version=s.gallery_version,
                devices=int(counts.get(s.id, 0)),
                mode=mode_row.mode if mode_row else "door",
                door_acknowledged=bool(mode_row and mode_row.door_acknowledged),
            )
        )
    return out


def store(session: Session, code: str) -> Store:
    try:
        return devices.store_by_code(session, code.strip().lower())
    except NotFound:
        raise NotFound(f"no store {code[:40]!r}") from None


def live_stores(session: Session) -> list[Store]:
    return list(session.scalars(select(Store).where(Store.live.is_(True)).order_by(Store.name)))


# -- the entrance sign -----------------------------------------------------------------------


@dataclass(frozen=True)
class SignText:
    """The sign's words in one language (from ``server.api.page_text``)."""

    title: str
    lead: str
    points: list[str]
    scan: str
    footer: list[str]
    store_line: str


def sign_pdf(*, text: SignText, url: str, title: str) -> bytes:
    """An A4 entrance sign: a camera pictogram, the promise in large type, what it means, how
    to stop, and a QR code to the public privacy page (``url``)."""
    buf = io.BytesIO()
    width, height = A4
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(title)
    c.setAuthor("Vertrouwd")
    c.setSubject(text.lead)
    margin = 18 * mm

    # top band with the store's name
    band = 24 * mm
    c.setFillColor(pdf.INK)
    c.rect(0, height - band, width, band, stroke=0, fill=1)
    c.setFillColor(pdf.WHITE)
    c.setFont(pdf.BOLD, 15)
    c.drawString(margin, height - band + 9 * mm, "Vertrouwd")
    c.setFont(pdf.FONT, 12)
    c.drawRightString(width - margin, height - band + 9 * mm, text.store_line)

    # pictogram: a camera in a circle, with a check mark ("only with consent")
    cx, cy, r = width / 2, height - band - 29 * mm, 21 * mm
    _pictogram(c, cx, cy, r)

    # the promise and what it means, shrunk until it fits above the QR panel
    panel_h = 54 * mm
    panel_y = 24 * mm
    inner = width - 2 * margin
    top = cy - r - 8 * mm
    for scale in (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7):
        blocks = _text_blocks(text, inner, scale)
        needed = sum(h + gap for _, h, gap, _ in blocks)
        if top - needed >= panel_y + panel_h + 6 * mm:
            break
    y = top
    for para, h, gap, bullet in blocks:
        y -= h
        if bullet:
            c.setFillColor(pdf.ACCENT)
            c.circle(margin + 3 * mm, y + h - 2.6 * mm * scale, 1.8 * mm * scale, stroke=0, fill=1)
            para.drawOn(c, margin + 9 * mm, y)
        else:
            para.drawOn(c, margin, y)
        y -= gap

    # QR code panel at the bottom
    c.setFillColor(pdf.ACCENT_LIGHT)
    c.roundRect(margin, panel_y, inner, panel_h, 4 * mm, stroke=0, fill=1)
    qr_size = 42 * mm
    qr = pdf.qr_drawing(url, qr_size)
    c.setFillColor(pdf.WHITE)
    c.rect(
        margin + 6 * mm - 2 * mm,
        panel_y + 6 * mm - 2 * mm,
        qr_size + 4 * mm,
        qr_size + 4 * mm,
        stroke=0,
        fill=1,
    )
    renderPDF.draw(qr, c, margin + 6 * mm, panel_y + 6 * mm)
    scan_left = margin + qr_size + 16 * mm
    scan_w = inner - qr_size - 22 * mm
    scan = Paragraph(
        pdf.escape(text.scan),
        pdf.style("signscan", fontName=pdf.BOLD, fontSize=16, leading=21, textColor=pdf.INK),
    )
    link = Paragraph(
        pdf.escape(url),
        pdf.style("signurl", fontName="Courier", fontSize=11, leading=14, textColor=pdf.ACCENT),
    )
    _, h1 = scan.wrap(scan_w, panel_h)
    _, h2 = link.wrap(scan_w, panel_h)
    top = panel_y + panel_h / 2 + (h1 + h2 + 4 * mm) / 2
    scan.drawOn(c, scan_left, top - h1)
    link.drawOn(c, scan_left, top - h1 - 4 * mm - h2)

    # footer: controller and contact
    c.setFillColor(pdf.MUTED)
    c.setFont(pdf.FONT, 9.5)
    fy = 15 * mm
    for line in text.footer:
        c.drawCentredString(width / 2, fy, line)
        fy -= 4.5 * mm
    c.showPage()
    c.save()
    return buf.getvalue()


def _pictogram(c: Canvas, cx: float, cy: float, r: float) -> None:
    """A white camera on a green disc, with a check mark badge; drawn relative to ``r``."""
    u = r / (26 * mm)  # the drawing was designed for a 26 mm radius
    c.setFillColor(pdf.ACCENT)
    c.circle(cx, cy, r, stroke=0, fill=1)
    c.setFillColor(pdf.WHITE)
    c.roundRect(
        cx - 15 * u * mm, cy - 9 * u * mm, 24 * u * mm, 17 * u * mm, 3 * u * mm, stroke=0, fill=1
    )
    path = c.beginPath()  # the lens hood
    path.moveTo(cx + 9 * u * mm, cy - 3 * u * mm)
    path.lineTo(cx + 17 * u * mm, cy - 8 * u * mm)
    path.lineTo(cx + 17 * u * mm, cy + 7 * u * mm)
    path.lineTo(cx + 9 * u * mm, cy + 2 * u * mm)
    path.close()
    c.drawPath(path, stroke=0, fill=1)
    c.setFillColor(pdf.ACCENT)
    c.circle(cx - 3 * u * mm, cy - 0.5 * u * mm, 4.5 * u * mm, stroke=0, fill=1)
    c.setFillColor(pdf.WHITE)
    c.circle(cx + 16 * u * mm, cy + 17 * u * mm, 7.5 * u * mm, stroke=0, fill=1)
    c.setStrokeColor(pdf.ACCENT)
    c.setLineWidth(2.2 * u * mm)
    c.setLineCap(1)
    c.setLineJoin(1)
    c.lines(
        [
            (cx + 12.5 * u * mm, cy + 17 * u * mm, cx + 15 * u * mm, cy + 14 * u * mm),
            (cx + 15 * u * mm, cy + 14 * u * mm, cx + 19.5 * u * mm, cy + 20 * u * mm),
        ]
    )


def _text_blocks(
    text: SignText, inner: float, scale: float
) -> list[tuple[Paragraph, float, float, bool]]:
    """(paragraph, height, gap after, is a bullet point) at ``scale`` of the full type size."""
    title_style = pdf.style(
        "signtitle",
        fontName=pdf.BOLD,
        fontSize=32 * scale,
        leading=37 * scale,
        alignment=1,
        textColor=pdf.INK,
    )
    lead_style = pdf.style(
        "signlead", fontSize=17 * scale, leading=23 * scale, alignment=1, textColor=pdf.INK
    )
    point_style = pdf.style(
        "signpoint", fontSize=13.5 * scale, leading=18.5 * scale, textColor=pdf.INK
    )
    out: list[tuple[Paragraph, float, float, bool]] = []
    for para, gap, bullet, w in (
        (Paragraph(pdf.escape(text.title), title_style), 4 * mm, False, inner),
        (Paragraph(pdf.escape(text.lead), lead_style), 8 * mm * scale, False, inner),
        *(
            (Paragraph(pdf.escape(p), point_style), 3.5 * mm * scale, True, inner - 9 * mm)
            for p in text.points
        ),
    ):
        _, h = para.wrap(w, 1000 * mm)
        out.append((para, h, gap, bullet))
    return out


# The default of ``ServerSettings.controller_name``: a placeholder, not a controller.
UNSET_CONTROLLER = "the store operator"


def require_controller(*, controller_name: str | None, privacy_contact: str | None) -> None:
    """Go-live is refused until the controller and the privacy contact are configured
    (``VERTROUWD_CONTROLLER_NAME``, ``VERTROUWD_PRIVACY_CONTACT``): /privacy, the entrance sign
    and the Art. 30 record name them, and a member must know whom to ask. They are
    deployment-wide settings rather than store fields because the controller is the legal
    entity behind every store of the deployment (the same on every page and in one Art. 30
    record), not a property of one shop."""
    missing = []
    name = (controller_name or "").strip()
    if not name or name == UNSET_CONTROLLER:
        missing.append("the controller (VERTROUWD_CONTROLLER_NAME)")
    if not (privacy_contact or "").strip():
        missing.append("the privacy contact (VERTROUWD_PRIVACY_CONTACT)")
    if missing:
        raise BadInput(
            "go-live refused: set "
            + " and ".join(missing)
            + " first; /privacy, the entrance sign and the Art. 30 record name them"
        )
