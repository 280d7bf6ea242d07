"""An interpolation's part of the story: the path between two molecules."""

from __future__ import annotations

from pathlib import Path

from molspace.report.sections import Plot, Stat
from molspace.report.story.cards import cards
from molspace.report.story.page import Acc
from molspace.report.story.parts import Part
from molspace.report.story.tables import read_table


def add_interpolate(part: Part, acc: Acc, report_dir: Path) -> None:
    """Add an interpolation's end points, the path's molecules and its similarity curve."""
    from molspace.report.plots import similarity_path_plot

    s = part.summary
    acc.question.append(("path", f"{s.get('start')} → {s.get('end')}"))
    acc.stats.append(
        Stat("distinct_decoded", "distinct molecules on the path", s.get("n_distinct_decoded"))
    )
    frame = read_table(part.folder / "interpolation.csv")
    if frame is None or frame.empty:
        return
    acc.used.add(part.folder / "interpolation.csv")
    if {"t", "sim_start", "sim_end"} <= set(frame.columns):
        acc.evidence.append(
            Plot(f"Similarity along the path ({part.name})", similarity_path_plot(frame))
        )
        legends = [f"t={t:.2f}" for t in frame["t"]]
        acc.answer.append(cards(f"the path ({part.name})", frame, legends))
    acc.table(f"path ({part.name})", frame, part.folder / "interpolation.csv", report_dir)
