"""Small server-rendered SVG charts for the console (no JavaScript, no chart library).

A chart is bars and/or lines over days, with a value axis of round numbers, a legend, and a
native tooltip (``<title>``) on every bar and point. Colours are SVG presentation attributes,
which the pages' Content-Security-Policy allows (no inline ``style``). Every value is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from server.services import localtime

INK = "#1d2433"
MUTED = "#4f596b"
GRID = "#e2e5ea"


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    colour: str
    kind: str = "bar"
    """bar | line"""
    tip: str = ""
    """a bar's or point's tooltip, ``{day}`` and ``{value}`` filled in, in the page's language
    (``25 nov: 3 toestemmingen gegeven``); empty: ``{day}: {value} <name>``"""

    def tooltip(self, day: str, value: str) -> str:
        if self.tip:
            return self.tip.format(day=day, value=value)
        return f"{day}: {value} {self.name.lower()}"


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``ticks`` intervals."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return float(mult * power)
    return float(10 * power)


def _fmt(value: float, unit: str, language: str = "en") -> str:
    # two decimals at most, none trailing: a tick at 0.25 reads 0.25, not 0.2
    text = f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"
    if language == "nl":  # a Dutch reader takes 2.5 for two and a half thousand
        text = text.replace(".", ",")
    return f"{text}{unit}"


def _day(d: date, language: str = "en") -> str:
    return f"{d.day} {localtime.month_abbreviation(d.month, language)}"


def chart(
    days: list[date],
    series: list[Series],
    *,
    title: str,
    description: str,
    unit: str = "",
    width: int = 560,
    height: int = 250,
    chart_id: str = "chart",
    language: str = "en",
) -> Markup:
    """An SVG chart of ``series`` over ``days`` (bars side by side, lines on top); days and
    numbers written for ``language`` (``3 mrt``, ``2,5%`` in Dutch)."""
    left, right, top, bottom = 48, 12, 34, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(days))
    peak = max([v for s in series for v in s.values] + [0.0])
    step = nice_step(peak if peak > 0 else 1.0)
    if not unit and all(float(v).is_integer() for s in series for v in s.values):
        step = max(1.0, math.ceil(step))  # counts: whole-number ticks
    y_max = step * max(1, math.ceil(peak / step)) if peak > 0 else step * 4
    slot = plot_w / n
    bars = [s for s in series if s.kind == "bar"]
    bar_w = max(1.0, min(18.0, slot * 0.8 / max(1, len(bars))))

    def y(value: float) -> float:
        return top + plot_h - (value / y_max) * plot_h

    out: list[str] = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="13">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
    ]
    # legend
    lx = left
    for s in series:
        if s.kind == "bar":
            out.append(f'<rect x="{lx}" y="8" width="12" height="12" rx="2" fill="{s.colour}"/>')
        else:
            out.append(
                f'<line x1="{lx}" y1="14" x2="{lx + 14}" y2="14" stroke="{s.colour}" '
                f'stroke-width="3" stroke-linecap="round"/>'
            )
        out.append(f'<text x="{lx + 18}" y="18" fill="{INK}">{escape(s.name)}</text>')
        lx += 28 + int(7.6 * len(s.name))
    # value axis and grid
    tick = 0.0
    while tick <= y_max + 1e-9:
        ty = y(tick)
        out.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{escape(_fmt(tick, unit, language))}</text>"
        )
        tick += step
    # day labels: at most about 7
    every = max(1, math.ceil(n / 7))
    for i, d in enumerate(days):
        if i % every == 0:
            cx = left + slot * (i + 0.5)
            out.append(
                f'<text x="{cx:.1f}" y="{height - 10}" text-anchor="middle" fill="{MUTED}">'
                f"{escape(_day(d, language))}</text>"
            )
    # bars
    group_w = bar_w * len(bars)
    for i, d in enumerate(days):
        x0 = left + slot * (i + 0.5) - group_w / 2
        for j, s in enumerate(bars):
            value = s.values[i] if i < len(s.values) else 0.0
            if value <= 0:
                continue
            by = y(value)
            out.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{by:.1f}" width="{max(1.0, bar_w - 1):.1f}" '
                f'height="{top + plot_h - by:.1f}" fill="{s.colour}">'
                f"<title>{escape(s.tooltip(_day(d, language), _fmt(value, unit, language)))}"
                "</title></rect>"
            )
    # lines
    for s in series:
        if s.kind != "line" or not s.values:
            continue
        points = [(left + slot * (i + 0.5), y(v)) for i, v in enumerate(s.values[: len(days)])]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="2.5" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
        )
        if len(points) <= 62:
            for (px, py), d, v in zip(points, days, s.values, strict=False):
                out.append(
                    f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{s.colour}">'
                    f"<title>{escape(s.tooltip(_day(d, language), _fmt(v, unit, language)))}"
                    "</title></circle>"
                )
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped
