"""The finishing pass over partition outputs: global dedup, top-k, results, rejects, summary.

It reads ``parts/`` one partition at a time in input order, so memory is one
partition plus the dedup hash set (8 bytes per unique molecule) plus the top-k
rows, whatever the library size. It is deterministic and always reruns from the
partition files, which is why a resumed or fault-interrupted screen gives
exactly the result of an uninterrupted one.

Dedup rule: the first occurrence in input order (file, then row) keeps its
verdict; every later row with the same key becomes ``passed = False``,
``failed_filter = "duplicate"``. Top-k ranks passing rows by the rank column,
ties going to the earlier row.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.screen_spec import ScreenSpec
from molspace.screening.keyset import HashSet64, hash_keys
from molspace.screening.manifest import Manifest

__all__ = ["finalize"]

REJECT_SOURCE_COLUMNS = ["source", "row", "id", "smiles", "reason"]


def _category(reason: str) -> str:
    from molspace.chem import reason_category

    return reason_category(reason) or str(reason).split(":", 1)[0]


class _TopK:
    """The k best passing rows seen so far (ties: the earlier row wins)."""

    def __init__(self, k: int, column: str | None, ascending: bool) -> None:
        self.k, self.column, self.ascending = k, column, ascending
        self.rows: pd.DataFrame | None = None

    def offer(self, table: pd.DataFrame, partition: int) -> None:
        if self.k == 0 or self.column is None or len(table) == 0:
            return
        if self.column not in table.columns:
            from molspace.errors import ConfigError

            raise ConfigError(f"screen.rank_by: no column {self.column!r} in the results")
        table = table[table[self.column].notna()].copy()
        table["_partition"] = partition
        table["_order"] = np.arange(len(table))
        frames = [t for t in (self.rows, table) if t is not None and len(t)]
        if not frames:
            return
        merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        merged = merged.sort_values(
            [self.column, "_partition", "_order"],
            ascending=[self.ascending, True, True],
            kind="stable",
        )
        self.rows = merged.head(self.k).reset_index(drop=True)

    def result(self) -> pd.DataFrame | None:
        if self.rows is None:
            return None
        out = self.rows.drop(columns=["_partition", "_order"])
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        return out


def finalize(out_dir: Path, spec: ScreenSpec, manifest: Manifest) -> dict[str, Any]:
    """Write ``results/``, ``rejects.csv`` and ``top_k.csv``; return the counts for the summary."""
    from molspace.io import RejectsWriter, write_table

    options = spec.screen
    results_dir = out_dir / "results"
    if results_dir.exists():
        shutil.rmtree(results_dir)
    results_dir.mkdir(parents=True)
    key_column = {"inchikey": "inchikey", "smiles": "canonical_smiles"}.get(options.dedup)
    seen = HashSet64()
    top = _TopK(options.top_k, spec.rank_column(), options.ascending)
    counts: Counter[str] = Counter()
    rejected_by: Counter[str] = Counter()
    failed_by: Counter[str] = Counter()
    passed_each: Counter[str] = Counter()
    evaluated_each: Counter[str] = Counter()
    with RejectsWriter(out_dir / "rejects.csv") as rejects:
        for partition in sorted(manifest.entries):
            entry = manifest.entries[partition]
            table = pd.read_parquet(out_dir / entry.file)
            counts["rows_in"] += len(table)
            bad = (table["status"] == "rejected").to_numpy(dtype=bool)
            if bad.any():
                rejected = table.loc[bad, REJECT_SOURCE_COLUMNS].rename(columns={"smiles": "input"})
                rejects.write(rejected)
                rejected_by.update(_category(r) for r in rejected["reason"])
            table = table.loc[~bad].reset_index(drop=True)
            counts["rejected"] += int(bad.sum())
            if key_column is not None and len(table):
                _global_dedup(table, key_column, seen)
            failed = table["failed_filter"]
            failed_by.update(failed.dropna().tolist())
            unique = (failed.isna() | (failed != "duplicate")).to_numpy(dtype=bool)
            for column in table.columns:
                if column.startswith("pass_"):
                    verdicts = table.loc[unique, column]
                    evaluated_each[column[5:]] += int(verdicts.notna().sum())
                    passed_each[column[5:]] += int(verdicts.fillna(False).astype(bool).sum())
            passing = table.loc[table["passed"].to_numpy(dtype=bool)]
            counts["ok"] += len(table)
            counts["passed"] += len(passing)
            top.offer(passing, partition)
            written = passing if options.only_passing else table
            counts["results_rows"] += len(written)
            write_table(written, results_dir / f"part-{partition:06d}.parquet")
    best = top.result()
    if best is not None:
        write_table(best, out_dir / "top_k.csv")
    elif (out_dir / "top_k.csv").exists():
        (out_dir / "top_k.csv").unlink()
    return {
        "rows_in": counts["rows_in"],
        "accepted": counts["ok"],
        "passed": counts["passed"],
        "rejected": counts["rejected"],
        "rejected_by_reason": dict(sorted(rejected_by.items())),
        "failed_by_filter": dict(sorted(failed_by.items())),
        "passed_each_filter": {k: passed_each[k] for k in sorted(evaluated_each)},
        "evaluated_each_filter": dict(sorted(evaluated_each.items())),
        "duplicates": failed_by.get("duplicate", 0),
        "unique_molecules": len(seen) if key_column else None,
        "results_rows": counts["results_rows"],
        "top_k_rows": 0 if best is None else len(best),
        "rank_by": spec.rank_column(),
    }


def _global_dedup(table: pd.DataFrame, key_column: str, seen: HashSet64) -> None:
    """Mark rows whose key appeared in an earlier partition (in place)."""
    failed = table["failed_filter"]
    candidates = np.flatnonzero((failed.isna() | (failed != "duplicate")).to_numpy(dtype=bool))
    keys = table[key_column].to_numpy(dtype=object)[candidates]
    first = seen.first_seen(hash_keys(keys))
    later = candidates[~first]
    if len(later):
        table.loc[later, "passed"] = False
        table.loc[later, "failed_filter"] = "duplicate"
