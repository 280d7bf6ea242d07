"""What a running search shows: distinct molecules scored against the budget, the best
feasible score, how many are feasible, the rate, and the share of repeated proposals.

``Snapshot`` is one reading; the search loop makes one after every batch, the Dask driver
reads one from the shared storage every few seconds (``study_counts``). ``ProgressReport``
shows them: a rich progress bar on a terminal, else one log line every ``every`` seconds
(batch logs, CI, ``nohup``), and always a last line at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

__all__ = ["ProgressReport", "Snapshot", "study_counts"]


@dataclass(frozen=True)
class Snapshot:
    """Counts of a search at one moment (study-wide where the reader can know them)."""

    scored: int  # distinct molecules scored (the budget spent)
    budget: int
    trials: int
    feasible: int  # scored molecules that meet the constraints (all, without constraints)
    best: float | None  # best first objective among the feasible ones
    repeat_fraction: float  # share of recent trials that decoded a known molecule
    distinct: int = 0  # distinct valid molecules decoded (scored or not)
    level: int = 0  # how far the loop changed course (molspace.optimization.course)

    def line(self, rate: float | None) -> str:
        best = "-" if self.best is None else f"{self.best:.3f}"
        speed = "" if rate is None else f", {rate:.1f} mol/min"
        return (
            f"optimize: {self.scored}/{self.budget} scored, {self.feasible} feasible, "
            f"best {best}{speed}, repeats {self.repeat_fraction:.0%} "
            f"({self.trials} trials, {self.distinct} distinct decoded)"
        )


def study_counts(trials: Sequence[Any], window: int = 64) -> dict[str, Any]:
    """Counts of a study's trials (any worker, any run): trials, distinct molecules
    decoded, scored, feasible, repeats (trials told a molecule known before), invalid,
    degenerate, failed, the best feasible first objective and the repeat fraction of the
    last ``window`` told trials."""
    decoded: set[str] = set()
    scored: set[str] = set()
    feasible: set[str] = set()
    statuses: dict[str, int] = {}
    best: float | None = None
    told: list[tuple[int, bool]] = []
    for t in trials:
        mol = t.user_attrs.get("mol")
        if not mol:
            continue
        status = str(mol.get("status", ""))
        statuses[status] = statuses.get(status, 0) + 1
        smiles = mol.get("smiles")
        if smiles and status not in ("invalid", "error", "abandoned"):
            decoded.add(smiles)
        told.append((t.number, status == "cached"))
        if status == "scored" and t.values and smiles:
            scored.add(smiles)
            if mol.get("feasible", True):
                feasible.add(smiles)
                best = t.values[0] if best is None else max(best, t.values[0])
    recent = [r for _, r in sorted(told)[-window:]]
    return {
        "n_trials": len(trials),
        "n_distinct_decoded": len(decoded),
        "n_scored": len(scored),
        "n_feasible": len(feasible),
        "n_repeats": statuses.get("cached", 0),
        "n_invalid": statuses.get("invalid", 0),
        "n_degenerate": statuses.get("degenerate", 0),
        "n_failed": sum(statuses.get(s, 0) for s in ("error", "abandoned", "unresolved")),
        "best_feasible": best,
        "repeat_fraction": sum(recent) / len(recent) if recent else 0.0,
    }


def snapshot_of(trials: Sequence[Any], budget: int, window: int = 64) -> Snapshot:
    """A ``Snapshot`` read from a study's trials (the Dask driver's view)."""
    c = study_counts(trials, window)
    return Snapshot(
        scored=c["n_scored"],
        budget=budget,
        trials=c["n_trials"],
        feasible=c["n_feasible"],
        best=c["best_feasible"],
        repeat_fraction=c["repeat_fraction"],
        distinct=c["n_distinct_decoded"],
    )


class ProgressReport:
    """Shows snapshots: a rich bar when ``stream`` is a terminal, else a line every
    ``every`` seconds. The rate counts molecules scored since the report started (a
    resumed run's earlier molecules do not inflate it)."""

    def __init__(self, every: float = 10.0, stream: TextIO | None = None) -> None:
        self.every = every
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.first: int | None = None
        self.last_line = float("-inf")
        self.last: Snapshot | None = None
        self._shown = False  # the last snapshot was written
        self._bar: Any = None
        self._task: Any = None
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("optimize"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()

    def rate(self, snap: Snapshot) -> float | None:
        """Molecules scored per minute since the report started."""
        if self.first is None:
            self.first = snap.scored
        minutes = (time.monotonic() - self.start) / 60
        return (snap.scored - self.first) / minutes if minutes > 1e-3 else None

    def __call__(self, snap: Snapshot) -> None:
        rate = self.rate(snap)
        self.last = snap
        if self._bar is not None:
            best = "-" if snap.best is None else f"{snap.best:.3f}"
            info = (
                f"best {best}  feasible {snap.feasible}  "
                f"{(rate or 0.0):.1f} mol/min  repeats {snap.repeat_fraction:.0%}"
            )
            if self._task is None:
                self._task = self._bar.add_task("optimize", total=snap.budget, info=info)
            self._bar.update(self._task, completed=min(snap.scored, snap.budget), info=info)
            return
        now = time.monotonic()
        self._shown = now - self.last_line >= self.every
        if self._shown:
            self.last_line = now
            print(snap.line(rate), file=self.stream, flush=True)

    def close(self) -> None:
        """Stop the bar, or write the last reading if it was not the last line shown."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.last is not None and not self._shown:
            print(self.last.line(self.rate(self.last)), file=self.stream, flush=True)
            self._shown = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.last) if self.last is not None else {}
