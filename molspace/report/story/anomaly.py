"""An anomaly run's part of the story: the reference, the threshold, the most unusual."""

from __future__ import annotations

from pathlib import Path

from molspace.report.sections import FunnelRow, Plot, Stat
from molspace.report.story.cards import cards
from molspace.report.story.page import Acc
from molspace.report.story.parts import Part
from molspace.report.story.tables import read_table, tidy


def add_anomaly(part: Part, acc: Acc, report_dir: Path, max_molecules: int) -> None:
    """Add an anomaly run's reference, threshold, score histogram and most unusual molecules."""
    from molspace.report.plots import score_histogram

    s = part.summary
    settings = s.get("settings", {})
    acc.question.append(("library", str(settings.get("library", ""))))
    info = s.get("model_info", {}) if isinstance(s.get("model_info"), dict) else {}
    reference = info.get("reference") or settings.get("reference") or settings.get("anomaly_model")
    acc.question.append(("reference", f"{reference} (threshold at quantile {s.get('quantile')})"))
    acc.funnel.extend(
        [
            FunnelRow("anomaly_read", "read", s.get("n_read"), part.name, part.seconds),
            FunnelRow("anomaly_scored", "scored", s.get("n_scored"), part.name),
            FunnelRow("outliers", "outliers (above the threshold)", s.get("n_outliers"), part.name),
        ]
    )
    acc.stats.append(Stat("outliers", "outliers", s.get("n_outliers")))
    acc.stats.append(Stat("threshold", "threshold", s.get("threshold")))
    scores = read_table(part.folder / "anomaly_scores.csv")
    if scores is None or scores.empty:
        return
    acc.used.add(part.folder / "anomaly_scores.csv")
    ok = scores[scores["status"] == "ok"] if "status" in scores else scores
    if "anomaly_score" in ok:
        acc.evidence.append(
            Plot(
                f"Anomaly scores ({part.name})",
                score_histogram(ok["anomaly_score"], threshold=s.get("threshold")),
            )
        )
    if "smiles" in ok and len(ok):
        top = ok.head(12)
        legends = [f"score {v:.2f}" for v in top["anomaly_score"]]
        acc.answer.append(cards(f"most unusual molecules ({part.name})", top, legends))
    acc.table(
        f"anomaly scores, most unusual first ({part.name})",
        tidy(scores, ["anomaly_score", "outlier"]),
        part.folder / "anomaly_scores.csv",
        report_dir,
        max_rows=50,
    )
