"""What a training run writes as it goes: ``steps.csv``/``metrics.csv`` rows and the
progress lines of a long run (rate, ETA).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

__all__ = ["EVAL_FIELDS", "STEP_FIELDS", "CsvLog", "TrainProgress", "fmt"]


class CsvLog:
    """Append-only CSV with a fixed header (survives resume: existing rows are kept)."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = path
        self.fields = fields
        if not path.exists():
            with path.open("w", newline="") as handle:
                csv.writer(handle).writerow(fields)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerow([fmt(row.get(f)) for f in self.fields])


def fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


STEP_FIELDS = [
    "step",
    "epoch",
    "time_s",
    "lr",
    "beta",
    "loss",
    "recon",
    "kl",
    "prop_mse",
    "token_acc",
    "mol_per_s",
]
EVAL_FIELDS = [
    "step",
    "epoch",
    "time_s",
    "train_molecules",
    "beta",
    "val_loss",
    "val_recon",
    "val_kl",
    "val_token_acc",
    "val_exact",
    "val_prop_mse",
    "active_units",
    "best",
]


class TrainProgress:
    """A rich progress bar on a terminal; nothing otherwise (log lines take over)."""

    def __init__(self, show: bool, total: int, done: int) -> None:
        self.show = show
        self.total = total
        self.done = done
        self._progress: Any = None

    def __enter__(self) -> TrainProgress:
        if self.show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                "train", total=self.total, completed=self.done, loss="-"
            )
        return self

    def advance(self, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=f"{loss:.3f}")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
