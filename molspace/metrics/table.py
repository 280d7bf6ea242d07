"""Our MOSES row beside the published ones, as a rich table and as plain data.

The published rows (molecularsets/moses README, mean of 3 runs of 30,000
samples against the Test set) ship in ``molspace/data/moses_published.json``
so ``molspace evaluate`` can print them without network or repo access.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PUBLISHED_PATH", "format_value", "load_published", "moses_table"]

PUBLISHED_PATH = Path(__file__).resolve().parents[1] / "data" / "moses_published.json"
# lower is better only for FCD; the others are "closer to the test set / higher is better"
LOWER_IS_BETTER = frozenset({"FCD/Test", "FCD/TestSF"})


def load_published(path: str | Path = PUBLISHED_PATH) -> dict[str, Any]:
    """{"columns": [...], "rows": {model: [values]}, "source": ...} of the published table."""
    with open(path) as handle:
        return json.load(handle)


def format_value(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def moses_table(
    rows: Mapping[str, Mapping[str, float]],
    *,
    published: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
    title: str = "MOSES metrics (Test set)",
) -> Any:  # rich.table.Table
    """A rich Table: published rows first (dim), then ours (bold); one column per metric."""
    from rich.table import Table

    published = load_published() if published is None else published
    columns = list(columns or published["columns"])
    table = Table(title=title, caption=published.get("source"), caption_justify="left")
    table.add_column("model", no_wrap=True)
    for name in columns:
        arrow = "↓" if name in LOWER_IS_BETTER else "↑"
        table.add_column(f"{name} {arrow}" if name.startswith("FCD") else name, justify="right")
    for model, values in published["rows"].items():
        lookup = dict(zip(published["columns"], values, strict=True))
        table.add_row(model, *(format_value(lookup.get(c)) for c in columns), style="dim")
    for model, values in rows.items():
        table.add_row(model, *(format_value(values.get(c)) for c in columns), style="bold")
    return table
