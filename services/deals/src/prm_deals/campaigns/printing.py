"""A launch's asset as a PDF for print: its rendered HTML read as text (headings,
paragraphs, list items, links with their tracked URL printed), then the partner's contact
details. The HTML is read, never run: no script, style or remote resource is fetched."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from typing import Any

from prm_platform.problems import Conflict

_BLOCKS = frozenset({"p", "div", "section", "article", "header", "footer", "li", "tr", "br",
                     "h1", "h2", "h3", "h4", "table", "ul", "ol", "blockquote"})
_HEADINGS = {"h1": 18, "h2": 15, "h3": 13, "h4": 12}
_SKIPPED = frozenset({"script", "style", "head", "title", "noscript", "template"})


class _Text(HTMLParser):
    """Blocks of (size, text, link) from HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str, str | None]] = []
        self._words: list[str] = []
        self._size = 11
        self._link: str | None = None
        self._skipping = 0

    def _end_block(self) -> None:
        text = " ".join(" ".join(self._words).split())
        if text:
            self.blocks.append((self._size, text, self._link))
        self._words = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self._end_block()
            self._size = _HEADINGS.get(tag, 11)
        elif tag == "a":
            href = dict(attrs).get("href")
            self._link = href if href and href.startswith("https://") else None

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self._end_block()
            self._size = 11
        elif tag == "a" and self._link:
            self._words.append(f"({self._link})")
            self._link = None

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._words.append(data)


def _lines(asset: dict[str, Any], brand: dict[str, Any]) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    if asset.get("subject"):
        lines.append((18, asset["subject"]))
    if asset.get("html"):
        reader = _Text()
        reader.feed(asset["html"])
        reader.close()
        reader._end_block()
        lines += [(size, text) for size, text, _ in reader.blocks]
    elif asset.get("text"):
        lines += [(11, line) for line in asset["text"].splitlines() if line.strip()]
    contact = [brand.get(f) for f in ("name", "address", "phone", "email", "website")]
    lines += [(9, c) for c in contact if c]
    return lines


def pdf(asset: dict[str, Any], brand: dict[str, Any], *, font: str | None) -> bytes:
    # Imported here: fpdf brings numpy, fontTools and Pillow, half a second of every deals
    # process's start for the few requests that print.
    from fpdf import FPDF

    lines = _lines(asset, brand)
    document = FPDF(format="A4")
    document.set_auto_page_break(auto=True, margin=15)
    document.set_title(asset.get("subject") or asset["key"])
    document.add_page()
    if font and os.path.isfile(font):
        document.add_font("brand", fname=font)
        family = "brand"
    else:
        family = "helvetica"
        for _, text in lines:
            try:
                text.encode("latin-1")
            except UnicodeEncodeError:
                raise Conflict("this asset's text is beyond Latin-1 and no Unicode font is "
                               "configured (PRM_DEALS_PDF_FONT)") from None
    for size, text in lines:
        document.set_font(family, size=size)
        document.multi_cell(0, size * 0.55, text, new_x="LMARGIN", new_y="NEXT")
        document.ln(2)
    return bytes(document.output())
