"""Consent texts as the register and self-service pages show them.

The texts are a small subset of Markdown (``##`` headings, ``-`` lists, ``**bold**``,
paragraphs); this renders exactly that subset to HTML, escaping everything first, so the words
shown are the words whose SHA-256 is recorded with the consent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from consent.records import (
    LANGUAGES,
    ConsentText,
    consent_text,
    current_consent_text,
    current_pass_consent_text,
)

SHORT_HASH = 12
_BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class ConsentView:
    version: str
    language: str
    title: str
    sha256: str
    html: Markup

    @property
    def short_hash(self) -> str:
        return self.sha256[:SHORT_HASH]


def _inline(line: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", str(escape(line)))


def markdown_subset_html(body: str) -> Markup:
    """HTML for a consent text body (see the module docstring for the subset)."""
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append("<p>" + " ".join(_inline(p) for p in paragraph) + "</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("## "):
            flush()
            out.append(f"<h3>{_inline(line[3:])}</h3>")
        elif line.startswith("- "):
            if paragraph:
                flush()
            items.append(line[2:])
        elif items:
            items[-1] += " " + line  # a wrapped list item
        else:
            paragraph.append(line)
    flush()
    return Markup("\n".join(out))  # noqa: S704 - every piece of text was escaped above


def _view(text: ConsentText) -> ConsentView:
    return ConsentView(
        version=text.version,
        language=text.language,
        title=text.title,
        sha256=text.sha256,
        html=markdown_subset_html(text.body),
    )


def current_views() -> list[ConsentView]:
    """The text new consents are given on, in every language."""
    return [_view(current_consent_text(lang)) for lang in LANGUAGES]


def current_pass_views() -> list[ConsentView]:
    """The text memberships without a face are given on, in every language (issue 12)."""
    return [_view(current_pass_consent_text(lang)) for lang in LANGUAGES]


def view(version: str, language: str) -> ConsentView:
    """One text; ``UnknownConsentTextError`` when there is no such version/language."""
    return _view(consent_text(version, language))
