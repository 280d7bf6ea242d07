"""Reading a step's result tables and shaping them for the page.

A table that cannot be read is None, not an error: the report shows what it can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

PROPERTIES = ("qed", "sa", "mw", "clogp", "tpsa")


def read_table(path: Path | None, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
    """The table at ``path`` (a CSV, a Parquet file or folder; latent vectors left out), or
    None when it is missing or unreadable: a report shows what it can."""
    if path is None or not path.exists():
        return None
    try:
        if path.is_dir() or path.suffix == ".parquet":
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet")
            names = [c for c in dataset.schema.names if c != "z"]
            if columns is not None:
                names = [c for c in columns if c in names]
            return dataset.to_table(columns=names).to_pandas()
        frame = pd.read_csv(path)
        return frame[[c for c in columns if c in frame]] if columns is not None else frame
    except Exception:
        return None


def sample_rows(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows, the same ones on every run (seeded)."""
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def best_value(frame: pd.DataFrame | None, column: str, ascending: bool = False) -> float | None:
    """The best numeric value of ``column`` (the lowest when ``ascending``), or None."""
    if frame is None or column not in frame or frame.empty:
        return None
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    if values.empty:
        return None
    return float(values.min() if ascending else values.max())


def top_mean(frame: pd.DataFrame | None, column: str, k: int = 10) -> float | None:
    """The mean of the ``k`` highest values of ``column``, or None."""
    if frame is None or column not in frame or frame.empty:
        return None
    values = pd.to_numeric(frame[column], errors="coerce").dropna().sort_values(ascending=False)
    return float(values.head(k).mean()) if len(values) else None


def rel(path: Path, base: Path) -> str:
    """``path`` as a link from the report's folder, so the report can move with its run."""
    import os

    return Path(os.path.relpath(path, base)).as_posix()


_LAST = ("source", "row", "canonical_smiles", "inchikey", "status", "reason", "input")


def tidy(frame: pd.DataFrame, labels: Sequence[str] = ()) -> pd.DataFrame:
    """A result table for reading: molecule and score first, then the score's components,
    then docking, properties and the rest; bookkeeping columns last; no latent vectors."""
    drop = {c for c in frame.columns if c in ("z", "latent") or str(c).startswith("value_")}
    columns = [c for c in frame.columns if c not in drop]
    first = [c for c in ("rank", "id", "smiles", "score", "docking_score") if c in columns]
    comps = [c for c in labels if c in columns and c not in first]
    desir = [c for c in columns if str(c).endswith("_desirability")]
    props = [c for c in PROPERTIES if c in columns and c not in comps]
    last = [c for c in _LAST if c in columns]
    placed = {*first, *comps, *desir, *props, *last}
    rest = [c for c in columns if c not in placed]
    return frame[[*first, *comps, *props, *rest, *desir, *last]]


def finite(value: Any) -> bool:
    """True for a real, finite number (what the headline can show)."""
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))
