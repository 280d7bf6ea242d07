"""A rich progress bar for a screen: molecules done, molecules per second, ETA."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from molspace.screening.spec import ScreenSpec

__all__ = ["screen_progress"]


def _total(paths: Sequence[Path], spec: ScreenSpec) -> int | None:
    from molspace.io import count_records

    o = spec.screen
    try:
        return sum(
            count_records(p, fmt=o.format, smiles_column=o.smiles_column, id_column=o.id_column)
            for p in paths
        )
    except Exception:  # a count is a nicety; the reader reports real problems
        return None


@contextmanager
def screen_progress(
    paths: Sequence[Path], spec: ScreenSpec, *, enabled: bool
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(rows)``; draws a bar on stderr when ``enabled``."""
    if not enabled:
        yield lambda rows: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} mol/s", style="cyan")

    progress = Progress(
        TextColumn("screening"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task("screen", total=_total(paths, spec))
        yield lambda rows: progress.advance(task, rows)
