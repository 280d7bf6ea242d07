"""The shipped model's learning curve: the MOSES figures measured at each export.

``curve.json`` in the bundle holds one row per exported training step (epochs, CPU hours,
FCD, Filters, reconstruction, ...), appended by ``benchmarks/vae.py --record`` and carried
over by every re-export, so the model card shows how far training has brought the model
and at what cost, not only where it stands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = [
    "CURVE_FILE",
    "curve_lines",
    "read_curve",
    "record_figures",
    "update_card_curve",
    "write_curve",
]

CURVE_FILE = "curve.json"
_BEGIN, _END = "<!-- curve -->", "<!-- /curve -->"
_COLUMNS = (
    ("FCD/Test", "FCD/Test", 2),
    ("FCD/TestSF", "FCD/TestSF", 2),
    ("SNN/Test", "SNN/Test", 3),
    ("Frag/Test", "Frag/Test", 3),
    ("Scaf/Test", "Scaf/Test", 3),
    ("IntDiv", "IntDiv", 3),
    ("Filters", "Filters", 3),
    ("Novelty", "Novelty", 3),
)


def read_curve(bundle_dir: str | Path) -> list[dict[str, Any]]:
    """The recorded rows, oldest step first ([] when none)."""
    path = Path(bundle_dir) / CURVE_FILE
    if not path.is_file():
        return []
    rows = json.loads(path.read_text())
    return sorted(rows, key=lambda r: r["step"])


def record_figures(bundle_dir: str | Path, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Add (or replace) the row of ``row["step"]`` and return the whole curve."""
    if "step" not in row:
        raise ValueError("a curve row needs the training step it was measured at")
    rows = [r for r in read_curve(bundle_dir) if r["step"] != row["step"]] + [row]
    return write_curve(bundle_dir, rows)


def write_curve(bundle_dir: str | Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store ``rows`` as the bundle's curve, oldest step first."""
    rows = sorted(rows, key=lambda r: r["step"])
    (Path(bundle_dir) / CURVE_FILE).write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def curve_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The curve as a Markdown section (empty when nothing was recorded)."""
    if not rows:
        return []
    head = ["step", "epochs", "CPU h", "samples", *(c[0] for c in _COLUMNS), "recon (n)"]
    lines = [
        _BEGIN,
        "## Curve: MOSES figures at each export",
        "",
        "Prior samples (greedy, seed 0) scored by `benchmarks/vae.py` against MOSES's Test "
        "(and scaffold TestSF) statistics; recon is exact greedy reconstruction of seeded "
        "random MOSES test molecules. CPU hours are the training's wall-clock hours on this "
        "2-core machine (1 torch thread). `source` says where a row was measured.",
        "",
        "| " + " | ".join(head) + " | source |",
        "|" + "---|" * (len(head) + 1),
    ]
    for r in rows:
        m = r.get("metrics", {})
        recon = r.get("recon")
        recon_cell = f"{recon:.3f} ({r.get('recon_n', 0):,})" if recon is not None else "-"
        cells = [
            f"{r['step']:,}",
            _cell(r.get("epochs"), 2),
            _cell(r.get("train_hours"), 1),
            f"{r.get('samples', 0):,}",
            *(_cell(m.get(key), digits) for _, key, digits in _COLUMNS),
            recon_cell,
            str(r.get("source", "")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, _END]


def update_card_curve(bundle_dir: str | Path) -> Path:
    """Rewrite the curve section of the bundle's ``MODEL_CARD.md`` (added before
    "## Reproduce" when the card has none yet)."""
    card = Path(bundle_dir) / "MODEL_CARD.md"
    text = card.read_text()
    section = "\n".join(curve_lines(read_curve(bundle_dir)))
    if _BEGIN in text and _END in text:
        before, rest = text.split(_BEGIN, 1)
        after = rest.split(_END, 1)[1]
        text = before + section + after
    elif section:
        marker = "## Reproduce"
        head, sep, tail = text.partition(marker)
        text = f"{head}{section}\n\n{sep}{tail}" if sep else f"{text}\n{section}\n"
    card.write_text(text)
    return card
