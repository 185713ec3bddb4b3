"""What the console's PDFs share: colours (those of ``static/vertrouwd.css``), paragraph styles,
and a QR code drawn as vector graphics (sharp at any print size). Built-in PDF fonts only
(Helvetica), so nothing is fetched or installed to make a PDF."""

from __future__ import annotations

from typing import Any

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm

INK = colors.HexColor("#1d2433")
MUTED = colors.HexColor("#4f596b")
ACCENT = colors.HexColor("#2f6f5e")
ACCENT_LIGHT = colors.HexColor("#e6f0ec")
LINE = colors.HexColor("#c8ccd4")
PAPER = colors.HexColor("#f4f1ec")
WHITE = colors.white

FONT = "Helvetica"
BOLD = "Helvetica-Bold"


def style(name: str, **kw: Any) -> ParagraphStyle:
    base: dict[str, Any] = {"fontName": FONT, "fontSize": 10, "leading": 14, "textColor": INK}
    base.update(kw)
    return ParagraphStyle(name, **base)


STYLES = {
    "kicker": style("kicker", fontName=BOLD, fontSize=9, leading=12, textColor=ACCENT),
    "title": style("title", fontName=BOLD, fontSize=22, leading=27, spaceAfter=4),
    "subtitle": style("subtitle", fontSize=11, leading=15, textColor=MUTED, spaceAfter=10),
    "h2": style(
        "h2",
        fontName=BOLD,
        fontSize=13,
        leading=17,
        textColor=ACCENT,
        spaceBefore=12,
        spaceAfter=4,
    ),
    "body": style("body"),
    "small": style("small", fontSize=8.5, leading=11, textColor=MUTED),
    "cell": style("cell", fontSize=9, leading=12),
    "cellbold": style("cellbold", fontName=BOLD, fontSize=9, leading=12),
    "bullet": style("bullet", leftIndent=12, bulletIndent=2),
}


def qr_drawing(text: str, size: float = 40 * mm) -> Drawing:
    """A QR code for ``text`` as a vector drawing ``size`` wide (error correction M)."""
    widget = QrCodeWidget(text, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    w, h = x1 - x0, y1 - y0
    drawing = Drawing(size, size, transform=[size / w, 0, 0, size / h, 0, 0])
    drawing.add(widget)
    return drawing


def escape(text: str) -> str:
    """Text for a reportlab ``Paragraph`` (which reads a small XML-like markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
