"""Report sections: small values that know how to render themselves as an HTML fragment.

A screening, optimization or analysis step builds a list of these and hands it
to ``build_report``; nothing here touches the file system or the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = [
    "Columns",
    "Facts",
    "Funnel",
    "FunnelRow",
    "Headline",
    "KeyValues",
    "Links",
    "MoleculeGrid",
    "Plot",
    "Section",
    "Stack",
    "Stat",
    "Table",
    "Text",
    "molecule_svg",
    "page",
]

_XML_DECL = re.compile(r"<\?xml[^>]*\?>\s*")
_SVG_ROOT = re.compile(r"<svg\b[^>]*>", re.DOTALL)
_VIEWBOX = re.compile(r"viewBox='([^']*)'")
_CLASS_STYLE = re.compile(r" class='([^']*)'([^<>]*?) style='([^']*)'")
_STYLE = re.compile(r" style='([^']*)'")


class Page:
    """Drawings shared by one page: each distinct molecule is drawn once, as an SVG
    ``<symbol>``, and every card showing it is a small ``<use>``; RDKit's long inline
    style strings become page-wide CSS classes. Both keep a report of hundreds of
    structures a few hundred kB instead of several MB."""

    def __init__(self) -> None:
        self.symbols: dict[str, tuple[str, str]] = {}  # key -> (symbol id, viewBox)
        self.markup: list[str] = []
        self.styles: dict[str, str] = {}  # style text -> class name

    def _class(self, style: str) -> str:
        name = self.styles.get(style)
        if name is None:
            name = self.styles[style] = f"y{len(self.styles)}"
        return name

    def _compact(self, body: str) -> str:
        body = _CLASS_STYLE.sub(
            lambda m: f" class='{m.group(1)} {self._class(m.group(3))}'{m.group(2)}", body
        )
        return _STYLE.sub(lambda m: f" class='{self._class(m.group(1))}'", body)

    def molecule(self, smiles: str, size: tuple[int, int]) -> str | None:
        """A ``<svg><use/></svg>`` for the molecule, drawing it once per page; None if invalid."""
        key = f"{size[0]}x{size[1]}:{smiles}"
        if key not in self.symbols:
            svg = molecule_svg(smiles, size)
            if svg is None:
                return None
            root = _SVG_ROOT.search(svg)
            view = _VIEWBOX.search(root.group(0)) if root else None
            box = view.group(1) if view else f"0 0 {size[0]} {size[1]}"
            inner = svg[root.end() : svg.rfind("</svg>")] if root else svg
            inner = inner.replace("<!-- END OF HEADER -->", "")
            digest = hashlib.sha1(key.encode()).hexdigest()[:10]
            ident = f"m{digest}"
            self.symbols[key] = (ident, box)
            self.markup.append(
                f"<symbol id='{ident}' viewBox='{box}'>{self._compact(inner).strip()}</symbol>"
            )
        ident, box = self.symbols[key]
        return (
            f"<svg viewBox='{box}' width='{size[0]}' height='{size[1]}' role='img'>"
            f"<use href='#{ident}'/></svg>"
        )

    def sprite(self) -> str:
        """The hidden SVG holding every symbol, plus the CSS of the shared styles."""
        if not self.markup:
            return ""
        css = "".join(f".{name}{{{style}}}" for style, name in self.styles.items())
        return (
            f"<style>{css}</style><svg width='0' height='0' aria-hidden='true' "
            "style='position:absolute'><defs>" + "".join(self.markup) + "</defs></svg>"
        )


_PAGE: ContextVar[Page | None] = ContextVar("molspace_report_page", default=None)


@contextmanager
def page() -> Iterator[Page]:
    """Render sections inside this to share drawings across the page (see ``Page``)."""
    current = Page()
    token = _PAGE.set(current)
    try:
        yield current
    finally:
        _PAGE.reset(token)


class Section(Protocol):
    """Anything with a title that renders to an HTML fragment."""

    @property
    def title(self) -> str: ...

    def render(self) -> str: ...


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _href(path: str) -> str:
    """A relative file link as an attribute value: percent-encoded, then escaped."""
    from urllib.parse import quote

    return _esc(quote(path, safe="/._-~"))


@dataclass(frozen=True)
class Text:
    """Plain prose; blank lines separate paragraphs. Escaped, so any string is safe."""

    title: str
    body: str = ""

    def render(self) -> str:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", self.body) if p.strip()]
        return "".join(f"<p>{_esc(p)}</p>" for p in paragraphs)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


@dataclass(frozen=True)
class KeyValues:
    """A run summary (e.g. ``summary.json``) as a two-column table; nested keys are dotted."""

    title: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        rows = "".join(
            f"<tr><th scope='row'>{_esc(k)}</th><td>{_esc(_format_value(v))}</td></tr>"
            for k, v in _flatten(self.data)
        )
        return f"<table class='kv'>{rows}</table>"


def molecule_svg(smiles: str, size: tuple[int, int] = (200, 200)) -> str | None:
    """Inline SVG of one molecule (no XML declaration), or None when it cannot be parsed."""
    from molspace.chem import parse_smiles
    from molspace.chem.draw import mols_to_grid_svg

    if not smiles or not parse_smiles(smiles).ok:
        return None
    svg = mols_to_grid_svg([smiles], [""], per_row=1, size=size)
    return _XML_DECL.sub("", svg).strip()


@dataclass(frozen=True)
class MoleculeGrid:
    """Molecules as a responsive grid of inline SVG cards, one ``figure.mol`` per molecule.

    One SVG per molecule (rather than one big grid image) keeps captions selectable
    and searchable and lets the page reflow on narrow screens. Unparseable SMILES
    still get a card, marked invalid, so the count on the page is the count asked for.
    """

    title: str
    smiles: Sequence[str]
    legends: Sequence[str] | None = None
    size: tuple[int, int] = (200, 160)
    max_molecules: int = 500

    def __post_init__(self) -> None:
        if self.legends is not None and len(self.legends) != len(self.smiles):
            raise ValueError(
                f"MoleculeGrid {self.title!r}: {len(self.legends)} legends for "
                f"{len(self.smiles)} molecules"
            )

    def render(self) -> str:
        shown = list(self.smiles)[: self.max_molecules]
        legends = list(self.legends)[: self.max_molecules] if self.legends is not None else None
        cards = []
        for i, smi in enumerate(shown):
            smi = "" if smi is None or (isinstance(smi, float) and math.isnan(smi)) else str(smi)
            shared = _PAGE.get()
            svg = shared.molecule(smi, self.size) if shared else molecule_svg(smi, self.size)
            caption = _esc(legends[i]) if legends is not None else ""
            if svg is None:
                body = f"<div class='invalid-mol'>cannot draw<br><code>{_esc(smi)}</code></div>"
                cls = "mol invalid"
            else:
                body = svg
                cls = "mol"
            cards.append(
                f"<figure class='{cls}' data-smiles='{_esc(smi)}' title='{_esc(smi)}'>"
                f"{body}<figcaption>{caption}</figcaption></figure>"
            )
        note = ""
        if len(self.smiles) > len(shown):
            note = f"<p class='note'>showing {len(shown)} of {len(self.smiles)} molecules</p>"
        return f"{note}<div class='mol-grid'>{''.join(cards)}</div>"


def _format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if value != 0 and (abs(float(value)) >= 1e5 or abs(float(value)) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.1f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Table:
    """A DataFrame as a table whose columns sort on click (numeric columns numerically)."""

    title: str
    frame: pd.DataFrame
    max_rows: int = 1000
    link: str | None = None  # the whole table, relative to the report
    total_rows: int | None = None  # rows in the whole table when ``frame`` is a slice

    def render(self) -> str:
        df = self.frame.head(self.max_rows)
        numeric = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c].dtype)}
        head = "".join(
            f"<th data-type='{'num' if c in numeric else 'text'}' tabindex='0'>{_esc(c)}</th>"
            for c in df.columns
        )
        body_rows = []
        for row in df.itertuples(index=False, name=None):
            cells = []
            for col, value in zip(df.columns, row, strict=True):
                if col in numeric:
                    raw = "" if value is None or pd.isna(value) else repr(float(value))
                    cells.append(f"<td data-v='{raw}'>{_esc(_format_value(value))}</td>")
                else:
                    cells.append(f"<td>{_esc(_format_value(value))}</td>")
            body_rows.append(f"<tr>{''.join(cells)}</tr>")
        note = ""
        total = max(self.total_rows or 0, len(self.frame))
        if total > len(df):
            note = f"showing {len(df)} of {total:,} rows"
        if self.link:
            note = (f"{note}; " if note else "") + (
                f"whole table: <a href='{_href(self.link)}'>{_esc(self.link)}</a>"
            )
            note = f"<p class='note'>{note[0].upper()}{note[1:]}</p>"
        elif note:
            note = f"<p class='note'>{note}</p>"
        return (
            f"{note}<div class='table-wrap'><table class='sortable'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body_rows)}</tbody></table></div>"
        )


@dataclass(frozen=True)
class Plot:
    """A matplotlib Figure (rendered to inline PNG), PNG bytes, or an SVG string."""

    title: str
    figure: Any
    caption: str = ""
    dpi: int = 110

    def image_tag(self) -> str:
        fig = self.figure
        alt = _esc(self.title)
        if isinstance(fig, str):
            if "<svg" not in fig:
                raise ValueError(f"Plot {self.title!r}: a string figure must be SVG markup")
            return f"<div class='svg-plot'>{_XML_DECL.sub('', fig)}</div>"
        if isinstance(fig, (bytes, bytearray)):
            data = bytes(fig)
        else:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
            data = buffer.getvalue()
        encoded = base64.b64encode(data).decode("ascii")
        return f"<img class='plot' alt='{alt}' src='data:image/png;base64,{encoded}'>"

    def render(self) -> str:
        caption = f"<figcaption>{_esc(self.caption)}</figcaption>" if self.caption else ""
        return f"<figure class='plot'>{self.image_tag()}{caption}</figure>"


@dataclass(frozen=True)
class Stat:
    """One number of a report's opening: ``key`` names it in ``summary.json``."""

    key: str
    label: str
    value: Any
    note: str = ""


@dataclass(frozen=True)
class Headline:
    """The opening numbers as large figures; each carries ``data-key`` and its raw value,
    so a test (or a script) can read them back from the rendered page."""

    title: str
    stats: Sequence[Stat]
    lead: str = ""
    parts: Sequence[Section] = ()  # shown below the numbers, each under its own heading

    def render(self) -> str:
        cards = []
        for stat in self.stats:
            raw = "" if stat.value is None else _raw(stat.value)
            note = f"<span class='stat-note'>{_esc(stat.note)}</span>" if stat.note else ""
            cards.append(
                f"<div class='stat'><span class='stat-label'>{_esc(stat.label)}</span>"
                f"<span class='stat-value' data-key='{_esc(stat.key)}' data-value='{_esc(raw)}'>"
                f"{_esc(_format_value(stat.value) if stat.value is not None else 'n/a')}</span>"
                f"{note}</div>"
            )
        lead = f"<p class='lead'>{_esc(self.lead)}</p>" if self.lead else ""
        body = "".join(f"<h3>{_esc(p.title)}</h3>{p.render()}" for p in self.parts)
        return f"{lead}<div class='headline'>{''.join(cards)}</div>{body}"


def _raw(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    return str(value)


@dataclass(frozen=True)
class FunnelRow:
    """One stage of a funnel: how many molecules were left, in which step, how long it took."""

    key: str
    stage: str
    count: int | None
    step: str = ""
    seconds: float | None = None
    note: str = ""
    nested: bool = True  # a subset of the stage before (False: a new source, no share)


@dataclass(frozen=True)
class Funnel:
    """Molecules kept stage by stage, with a bar per stage (log scale: 20,000 and 50
    must both be visible) and the share of the stage before."""

    title: str
    rows: Sequence[FunnelRow]

    def render(self) -> str:
        counts = [r.count for r in self.rows if r.count]
        top = math.log10(max(counts) + 1) if counts else 1.0
        body = []
        previous: int | None = None
        for row in self.rows:
            if row.count is None:
                count, bar, share = "", "", ""
            else:
                count = f"{row.count:,}"
                width = 100 * math.log10(row.count + 1) / top if top else 0
                bar = f"<div class='bar' style='width:{max(width, 0.5):.1f}%'></div>"
                share = f"{100 * row.count / previous:.1f}%" if previous and row.nested else ""
                previous = row.count or previous
            seconds = "" if row.seconds is None else _duration(row.seconds)
            raw = "" if row.count is None else str(row.count)
            body.append(
                f"<tr><th scope='row'>{_esc(row.stage)}</th>"
                f"<td class='num' data-key='funnel.{_esc(row.key)}' data-value='{raw}'>{count}</td>"
                f"<td class='bar-cell'>{bar}</td><td class='num'>{share}</td>"
                f"<td>{_esc(row.step)}</td><td class='num'>{_esc(seconds)}</td>"
                f"<td class='note'>{_esc(row.note)}</td></tr>"
            )
        head = (
            "<tr><th>stage</th><th>molecules</th><th></th><th>of previous</th>"
            "<th>step</th><th>time</th><th></th></tr>"
        )
        return f"<table class='funnel'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


@dataclass(frozen=True)
class Columns:
    """Sections side by side (e.g. candidates beside screened hits); they wrap on narrow
    screens."""

    title: str
    parts: Sequence[Section]
    lead: str = ""

    def render(self) -> str:
        cols = "".join(
            f"<div class='col'><h3>{_esc(p.title)}</h3>{p.render()}</div>" for p in self.parts
        )
        lead = f"<p class='lead'>{_esc(self.lead)}</p>" if self.lead else ""
        return f"{lead}<div class='columns'>{cols}</div>"


@dataclass(frozen=True)
class Stack:
    """Several sections under one heading, each with its own sub-heading."""

    title: str
    parts: Sequence[Section]
    lead: str = ""

    def render(self) -> str:
        body = "".join(f"<h3>{_esc(p.title)}</h3>{p.render()}" for p in self.parts)
        lead = f"<p class='lead'>{_esc(self.lead)}</p>" if self.lead else ""
        return lead + body


@dataclass(frozen=True)
class Links:
    """Files of the run, linked relative to the report so the folder can move as a whole."""

    title: str
    links: Sequence[tuple[str, str, str]]  # (label, href, note)

    def render(self) -> str:
        rows = "".join(
            f"<li><a href='{_href(href)}'>{_esc(label)}</a>"
            + (f" <span class='note'>{_esc(note)}</span>" if note else "")
            + "</li>"
            for label, href, note in self.links
        )
        return f"<ul class='files'>{rows}</ul>"


@dataclass(frozen=True)
class Facts:
    """Labelled sentences (the question a run asked): label in bold, then the text."""

    title: str
    items: Sequence[tuple[str, str]]
    lead: str = ""

    def render(self) -> str:
        rows = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in self.items)
        lead = f"<p class='lead'>{_esc(self.lead)}</p>" if self.lead else ""
        return f"{lead}<dl class='facts'>{rows}</dl>"
