"""Published reference figures ("anchors") for the benchmarks, found wherever they live.

Anchor files are small JSON documents of published numbers (the MOSES table,
the PMO leaderboard...). They sit in the shared folder beside the repository:
``$MOLSPACE_ANCHORS``, ``/work/shared/anchors`` or ``../shared/anchors`` relative
to the repository. A benchmark prints its own rows beside them with
:func:`print_beside`; when no anchor file is found it says so and prints ours
alone, so a benchmark never fails for want of a reference.

    from _anchors import load_anchor, print_beside
    anchor = load_anchor("moses_table")           # dict, or None when not found
    print_beside("MOSES", anchor["columns"], {"molspace": ours}, anchor["rows"])
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["anchor_dirs", "anchor_path", "load_anchor", "print_beside"]


def anchor_dirs() -> list[Path]:
    """Folders searched for anchor files, in order."""
    dirs = []
    if os.environ.get("MOLSPACE_ANCHORS"):
        dirs.append(Path(os.environ["MOLSPACE_ANCHORS"]))
    dirs += [Path("/work/shared/anchors"), ROOT.parent / "shared" / "anchors"]
    return dirs


def anchor_path(name: str) -> Path | None:
    """The first ``<name>.json`` (or ``name`` as given) found in :func:`anchor_dirs`."""
    filename = name if name.endswith(".json") else f"{name}.json"
    for folder in anchor_dirs():
        if (folder / filename).is_file():
            return folder / filename
    return None


def load_anchor(name: str) -> dict[str, Any] | None:
    """The parsed anchor file ``name``, or None (with a note on stdout) when none is found."""
    path = anchor_path(name)
    if path is None:
        print(f"(anchor {name!r} not found in {', '.join(map(str, anchor_dirs()))})")
        return None
    with open(path) as handle:
        data = json.load(handle)
    data.setdefault("_path", str(path))
    return data


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return str(value)


def print_beside(
    title: str,
    columns: Sequence[str],
    ours: Mapping[str, Mapping[str, Any]],
    published: Mapping[str, Sequence[Any] | Mapping[str, Any]] | None = None,
    *,
    published_columns: Sequence[str] | None = None,
    source: str | None = None,
    digits: int = 4,
) -> None:
    """Print published rows (dim) then ours (bold) under the same ``columns``, with rich.

    ``published`` rows are either lists aligned with ``published_columns`` (default
    ``columns``) or mappings column -> value; ``ours`` rows are mappings.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=source, caption_justify="left")
    table.add_column("model", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right")
    for model, values in (published or {}).items():
        lookup = (
            dict(values)
            if isinstance(values, Mapping)
            else dict(zip(published_columns or columns, values, strict=True))
        )
        table.add_row(model, *(_fmt(lookup.get(c), digits) for c in columns), style="dim")
    for model, values in ours.items():
        table.add_row(model, *(_fmt(values.get(c), digits) for c in columns), style="bold")
    Console(width=max(120, 12 * (len(columns) + 1))).print(table)
