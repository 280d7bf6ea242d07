"""Telling a run's story: each step adds its part, then the opening is laid out.

The order of the kinds is the order of the pipeline (screen, dock, optimize, then the
analyses), so a screen's hits are known when the optimization is compared to them.
"""

from __future__ import annotations

from pathlib import Path

from molspace.report.story.anomaly import add_anomaly
from molspace.report.story.dock import add_dock
from molspace.report.story.explore import add_explore
from molspace.report.story.interpolate import add_interpolate
from molspace.report.story.map import add_map
from molspace.report.story.objective import describe_objective, objective_of
from molspace.report.story.opening import lay_out, summarize
from molspace.report.story.optimize import add_optimize
from molspace.report.story.page import Acc, Story, guarded
from molspace.report.story.parts import Part, find_parts
from molspace.report.story.pictures import property_plot
from molspace.report.story.screen import add_screen


def tell(root: Path, report_dir: Path, *, seed: int = 0, max_molecules: int = 48) -> Story:
    """Read the run at ``root`` and lay out its opening (see the package doc)."""
    manifest, parts = find_parts(root)
    acc = Acc()
    objective = objective_of(manifest, parts)
    head, lines, labels = describe_objective(objective)
    if head:
        acc.question.append(("objective", head))
        acc.question.extend(("", line) for line in lines)
    by_kind: dict[str, list[Part]] = {}
    for part in parts:
        by_kind.setdefault(part.kind, []).append(part)
    screens = by_kind.get("screen", [])
    optimizes = by_kind.get("optimize", [])
    hits = None
    library_sample = None
    for part in screens:
        found = guarded(acc, part, add_screen, part, acc, labels, report_dir, seed, max_molecules)
        hits, library_sample = found if found is not None else (hits, library_sample)
    if screens and not optimizes and hits is not None:
        frames = {"screened hits": hits}
        if library_sample is not None:
            frames["library sample"] = library_sample
        plot = guarded(acc, screens[0], property_plot, frames, with_score=True)
        if plot is not None:
            acc.evidence.append(plot)
    for part in by_kind.get("dock", []):
        guarded(acc, part, add_dock, part, acc, report_dir, max_molecules)
    for part in optimizes:
        guarded(
            acc,
            part,
            add_optimize,
            part,
            acc,
            labels,
            report_dir,
            hits,
            library_sample,
            seed,
            max_molecules,
        )
    for part in by_kind.get("explore", []):
        guarded(acc, part, add_explore, part, acc, report_dir, max_molecules)
    for part in by_kind.get("map", []):
        guarded(acc, part, add_map, part, acc, report_dir, max_molecules)
    for part in by_kind.get("anomaly", []):
        guarded(acc, part, add_anomaly, part, acc, report_dir, max_molecules)
    for part in by_kind.get("interpolate", []):
        guarded(acc, part, add_interpolate, part, acc, report_dir)
    opening = lay_out(acc)
    summary = summarize(root, manifest, by_kind, head, lines, acc)
    return Story(opening, acc.evidence, acc.tables, summary, acc.used)
