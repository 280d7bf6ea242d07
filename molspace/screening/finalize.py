"""The finishing pass over partition outputs: global dedup, top-k, results, rejects, summary.

A :class:`Finalizer` takes the stored partitions in input order, each as soon as
it and every earlier one are on disk, so the pass runs alongside the screen
instead of after it (a screen on every core otherwise ends with one core reading
and rewriting everything while the others idle). Memory is one partition plus
the dedup hash set (8 bytes per unique molecule) plus the top-k rows, whatever
the library size. It is deterministic and always works from the partition
files, which is why a resumed or fault-interrupted screen gives exactly the
result of an uninterrupted one.

Dedup rule: the first occurrence in input order (file, then row) keeps its
verdict; every later row with the same key becomes ``passed = False``,
``failed_filter = "duplicate"``. Top-k ranks passing rows by the rank column,
ties going to the earlier row.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.screening.keyset import HashSet64, hash_keys
from molspace.screening.manifest import Manifest, PartitionEntry
from molspace.screening.spec import ScreenSpec

__all__ = ["Finalizer", "finalize"]

REJECT_SOURCE_COLUMNS = ["source", "row", "id", "smiles", "reason"]
STALE_OUTPUTS = ("summary.json", "top_k.csv")  # rewritten when the pass completes


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


class Finalizer:
    """Writes ``results/``, ``rejects.csv`` and ``top_k.csv`` from stored partitions, in order.

    Starting one clears what an earlier pass wrote (``results/``, ``rejects.csv``,
    ``top_k.csv``, ``summary.json``): a screen stopped half-way leaves no summary
    that would describe other results.
    """

    def __init__(self, out_dir: Path, spec: ScreenSpec) -> None:
        from molspace.io import RejectsWriter

        self.out_dir, self.options = out_dir, spec.screen
        self.results_dir = out_dir / "results"
        if self.results_dir.exists():
            shutil.rmtree(self.results_dir)
        self.results_dir.mkdir(parents=True)
        for name in STALE_OUTPUTS:
            (out_dir / name).unlink(missing_ok=True)
        self.key_column = {"inchikey": "inchikey", "smiles": "canonical_smiles"}.get(
            self.options.dedup
        )
        # a docking stage ranks again once it has docked (molspace.screening.docking_stage)
        self.rank_by = spec.rank_column(docked=False)
        self.seen = HashSet64()
        self.top = _TopK(self.options.top_k, self.rank_by, spec.rank_ascending(docked=False))
        self.counts: Counter[str] = Counter()
        self.rejected_by: Counter[str] = Counter()
        self.failed_by: Counter[str] = Counter()
        self.passed_each: Counter[str] = Counter()
        self.evaluated_each: Counter[str] = Counter()
        self.next = 0  # the first partition not finished yet
        self.seconds = 0.0
        self.rejects = RejectsWriter(out_dir / "rejects.csv")
        self._closed = False

    def feed(self, manifest: Manifest) -> None:
        """Finish every stored partition that is next in input order (call after each store)."""
        start = time.perf_counter()
        while self.next in manifest.entries:
            self._add(self.next, manifest.entries[self.next])
            self.next += 1
        self.seconds += time.perf_counter() - start

    def finish(self, manifest: Manifest) -> dict[str, Any]:
        """Finish the remaining partitions, write ``top_k.csv``; the counts for the summary."""
        from molspace.io import write_table

        self.feed(manifest)
        start = time.perf_counter()
        for partition in sorted(p for p in manifest.entries if p >= self.next):
            self._add(partition, manifest.entries[partition])  # only after a gap (never expected)
        self.close()
        best = self.top.result()
        if best is not None:
            write_table(best, self.out_dir / "top_k.csv")
        self.seconds += time.perf_counter() - start
        return {
            "rows_in": self.counts["rows_in"],
            "accepted": self.counts["ok"],
            "passed": self.counts["passed"],
            "rejected": self.counts["rejected"],
            "rejected_by_reason": dict(sorted(self.rejected_by.items())),
            "failed_by_filter": dict(sorted(self.failed_by.items())),
            "passed_each_filter": {k: self.passed_each[k] for k in sorted(self.evaluated_each)},
            "evaluated_each_filter": dict(sorted(self.evaluated_each.items())),
            "duplicates": self.failed_by.get("duplicate", 0),
            "unique_molecules": len(self.seen) if self.key_column else None,
            "results_rows": self.counts["results_rows"],
            "top_k_rows": 0 if best is None else len(best),
            "rank_by": self.rank_by,
        }

    def close(self) -> None:
        """Release the rejects file (idempotent; ``finish`` closes it too)."""
        if not self._closed:
            self._closed = True
            self.rejects.close()

    def __enter__(self) -> Finalizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add(self, partition: int, entry: PartitionEntry) -> None:
        from molspace.io import write_table

        table = pd.read_parquet(self.out_dir / entry.file)
        self.counts["rows_in"] += len(table)
        bad = (table["status"] == "rejected").to_numpy(dtype=bool)
        if bad.any():
            rejected = table.loc[bad, REJECT_SOURCE_COLUMNS].rename(columns={"smiles": "input"})
            self.rejects.write(rejected)
            self.rejected_by.update(_category(r) for r in rejected["reason"])
        table = table.loc[~bad].reset_index(drop=True)
        self.counts["rejected"] += int(bad.sum())
        if self.key_column is not None and len(table):
            _global_dedup(table, self.key_column, self.seen)
        failed = table["failed_filter"]
        self.failed_by.update(failed.dropna().tolist())
        unique = (failed.isna() | (failed != "duplicate")).to_numpy(dtype=bool)
        for column in table.columns:
            if column.startswith("pass_"):
                verdicts = table.loc[unique, column]
                self.evaluated_each[column[5:]] += int(verdicts.notna().sum())
                self.passed_each[column[5:]] += int(verdicts.fillna(False).astype(bool).sum())
        passing = table.loc[table["passed"].to_numpy(dtype=bool)]
        self.counts["ok"] += len(table)
        self.counts["passed"] += len(passing)
        self.top.offer(passing, partition)
        written = passing if self.options.only_passing else table
        self.counts["results_rows"] += len(written)
        write_table(written, self.results_dir / f"part-{partition:06d}.parquet")


def finalize(out_dir: Path, spec: ScreenSpec, manifest: Manifest) -> dict[str, Any]:
    """The whole pass at once over every stored partition; returns the counts."""
    with Finalizer(out_dir, spec) as finisher:
        return finisher.finish(manifest)


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
