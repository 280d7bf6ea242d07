"""An exploration's part of the story: the query, the similarity band, the analogs."""

from __future__ import annotations

from pathlib import Path

from molspace.report.sections import FunnelRow, Stat
from molspace.report.story.cards import grid
from molspace.report.story.page import Acc
from molspace.report.story.parts import Part
from molspace.report.story.pictures import property_plot
from molspace.report.story.tables import read_table, tidy

_EXPLORE_STAGES = (
    ("n_decoded", "decoded"),
    ("n_valid", "valid molecules"),
    ("n_distinct_analogs", "distinct analogs"),
    ("n_in_band", "in the similarity band"),
)


def add_explore(part: Part, acc: Acc, report_dir: Path, max_molecules: int) -> None:
    """Add an exploration's query, band, funnel and analogs."""
    s = part.summary
    settings = s.get("settings", {}) if isinstance(s.get("settings"), dict) else {}
    band = settings.get("band")
    acc.question.append(("query", str(s.get("query", settings.get("smiles", "")))))
    mode = settings.get("mode", "radius")
    wanted = f"analogs with Tanimoto similarity {band[0]}..{band[1]}" if band else "analogs"
    acc.question.append(("exploration", f"{wanted}, sampled by {mode} in the latent space"))
    achieved = s.get("achieved", {}) if isinstance(s.get("achieved"), dict) else {}
    for key, stage in _EXPLORE_STAGES:
        if isinstance(achieved.get(key), int):
            seconds = part.seconds if not acc.funnel else None
            acc.funnel.append(FunnelRow(f"explore_{key}", stage, achieved[key], part.name, seconds))
    acc.stats.append(Stat("in_band", "analogs in the band", achieved.get("n_in_band")))
    quantiles = achieved.get("similarity_quantiles")
    if isinstance(quantiles, dict) and quantiles.get("q50") is not None:
        acc.stats.append(Stat("median_similarity", "median similarity", quantiles["q50"]))
    if achieved.get("note"):
        acc.answer_lead = str(achieved["note"])
    analogs = read_table(part.folder / "analogs.csv")
    if analogs is None or analogs.empty:
        return
    acc.stats.append(Stat("analogs", "analogs kept", len(analogs)))
    acc.answer.append(grid(f"analogs ({part.name})", analogs.head(12), ["similarity"], "analog"))
    plot = property_plot({"analogs": analogs})
    if plot is not None:
        acc.evidence.append(plot)
    acc.table(
        f"analogs ({part.name})",
        tidy(analogs, ["similarity"]),
        part.folder / "analogs.csv",
        report_dir,
        max_rows=50,
    )
