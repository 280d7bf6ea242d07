"""Report sections: small values that know how to render themselves as an HTML fragment.

A screening, optimization or analysis step builds a list of these and hands it
to ``build_report``; nothing here touches the file system or the network.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = ["KeyValues", "MoleculeGrid", "Plot", "Section", "Table", "Text", "molecule_svg"]

_XML_DECL = re.compile(r"<\?xml[^>]*\?>\s*")


class Section(Protocol):
    """Anything with a title that renders to an HTML fragment."""

    @property
    def title(self) -> str: ...

    def render(self) -> str: ...


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


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
            svg = molecule_svg(smi, self.size)
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
        if len(self.frame) > len(df):
            note = f"<p class='note'>showing {len(df)} of {len(self.frame)} rows</p>"
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
