"""Molecules as cards: best first, each with its score and components as a legend."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from molspace.report.sections import MoleculeGrid

TOP = 6  # molecules side by side in the answer


def _legend(row: pd.Series, labels: Sequence[str], prefix: str) -> str:
    parts = [prefix]
    if "score" in row and pd.notna(row["score"]):
        parts[0] += f"  score {float(row['score']):.3f}"
    comps = []
    for label in labels:
        value = row.get(label)
        if value is not None and not isinstance(value, str) and pd.notna(value):
            comps.append(f"{label} {float(value):.3g}")
    if comps:
        parts.append("  ".join(comps))
    dock = row.get("docking_score")
    if dock is not None and pd.notna(dock):
        parts.append(f"docking {float(dock):.2f} kcal/mol")
    return "\n".join(parts)


def cards(title: str, frame: pd.DataFrame, legends: Sequence[str]) -> MoleculeGrid:
    """The molecules of ``frame`` as small cards, small enough for several side by side in
    the answer."""
    return MoleculeGrid(title, frame["smiles"].astype(str).tolist(), legends, size=(180, 140))


def grid(title: str, frame: pd.DataFrame, labels: Sequence[str], prefix: str) -> MoleculeGrid:
    """Cards numbered by position in ``frame`` (already best first)."""
    legends = [
        _legend(row, labels, f"{prefix} #{i}") for i, (_, row) in enumerate(frame.iterrows(), 1)
    ]
    return cards(title, frame, legends)
