"""A docking run's part of the story: target, docked count, best poses."""

from __future__ import annotations

from pathlib import Path

from molspace.report.sections import FunnelRow, Links, Stat
from molspace.report.story.cards import TOP, grid
from molspace.report.story.page import Acc
from molspace.report.story.parts import Part
from molspace.report.story.tables import best_value, read_table, rel, tidy


def add_dock(part: Part, acc: Acc, report_dir: Path, max_molecules: int) -> None:
    """Add a docking run's target, funnel, best docked molecules and poses."""
    s = part.summary
    step = part.name
    acc.question.append(("target", f"{s.get('target')} (docking box {s.get('box', {})})"))
    acc.funnel.extend(
        [
            FunnelRow("dock_read", "read for docking", s.get("rows_in"), step, part.seconds),
            FunnelRow("docked", "docked", s.get("docked"), step),
        ]
    )
    results = read_table(part.folder / "results.parquet")
    if results is not None and "docking_score" in results:
        ranked = results.sort_values("docking_score", na_position="last").reset_index(drop=True)
        best = best_value(ranked, "docking_score", ascending=True)
        acc.stats.append(Stat("best_docking_score", "best docking score (kcal/mol)", best))
        acc.numbers["dock"] = {"docked": s.get("docked"), "best_docking_score": best}
        ok = ranked.dropna(subset=["docking_score"])
        if "smiles" in ok and len(ok):
            acc.answer.append(grid(f"best docked ({step})", ok.head(TOP), [], "docked"))
        acc.table(
            f"docking results ({step})",
            tidy(ranked),
            part.folder / "results.parquet",
            report_dir,
            max_rows=50,
        )
    poses = part.folder / "poses.sdf.gz"
    if poses.exists():
        acc.tables.append(
            Links(
                f"poses ({step})",
                [(rel(poses, report_dir), rel(poses, report_dir), "docked poses, SD file")],
            )
        )
