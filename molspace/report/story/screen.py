"""A screen's part of the story: library and filters, the funnel, best hits, rejects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from molspace.report.sections import FunnelRow, Links, Stat, Table
from molspace.report.story.cards import TOP, grid
from molspace.report.story.page import Acc
from molspace.report.story.parts import Part
from molspace.report.story.tables import (
    PROPERTIES,
    best_value,
    read_table,
    rel,
    sample_rows,
    tidy,
    top_mean,
)


def _describe_library(part: Part) -> str:
    config = part.config
    libraries = config.get("library") or part.summary.get("inputs") or []
    if isinstance(libraries, str):
        libraries = [libraries]
    text = ", ".join(Path(str(p)).name for p in libraries)
    limit = config.get("limit")
    if limit:
        text += f" (first {int(limit):,} rows)"
    rows = part.summary.get("rows_in")
    if rows is not None:
        text += f": {int(rows):,} molecules read"
    return text


def _screen_files(part: Part) -> tuple[Path | None, Path | None, Path | None]:
    folder = part.folder
    top = next((p for p in (folder / "top_k.csv", folder / "top_k.parquet") if p.exists()), None)
    results = folder / "results" if (folder / "results").exists() else None
    rejects = folder / "rejects.csv" if (folder / "rejects.csv").exists() else None
    return top, results, rejects


def add_screen(
    part: Part,
    acc: Acc,
    labels: Sequence[str],
    report_dir: Path,
    seed: int,
    max_molecules: int,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Add a screen's question, funnel, best hits and tables; returns (hits, library sample)
    for the optimization to compare against."""
    s = part.summary
    acc.question.append(("library", _describe_library(part)))
    config = s.get("config") if isinstance(s.get("config"), dict) else {}
    filters = (config or {}).get("filters") or part.config.get("filters") or {}
    rules = [*filters.get("rules", []), *filters.get("alerts", [])] if filters else []
    if rules:
        acc.question.append(("filters", ", ".join(str(r) for r in rules)))
    top, results, rejects = _screen_files(part)
    hits = read_table(top)
    name = part.name
    step = f"{name} ({part.kind})" if part.name != part.kind else part.name
    rank_by = "docking_score" if hits is not None and "score" not in hits else "score"
    ascending = rank_by == "docking_score"
    if hits is not None and rank_by in hits:
        hits = hits.sort_values(rank_by, ascending=ascending, na_position="last")
        hits = hits.reset_index(drop=True)
    timings = s.get("timings", {}) if isinstance(s.get("timings"), dict) else {}
    seconds = part.seconds if part.seconds is not None else timings.get("total_s")
    acc.funnel.extend(
        [
            FunnelRow("read", "read", s.get("rows_in"), step, seconds),
            FunnelRow(
                "accepted",
                "accepted (parsed and standardized)",
                s.get("accepted"),
                step,
                note=f"{s.get('rejected', 0):,} rejected" if s.get("rejected") else "",
            ),
        ]
    )
    if isinstance(s.get("unique_molecules"), int):
        acc.funnel.append(FunnelRow("distinct", "distinct molecules", s["unique_molecules"], step))
    by_filter = s.get("failed_by_filter")
    failed: dict[str, int] = {}
    if isinstance(by_filter, dict):
        failed = {k: v for k, v in by_filter.items() if k != "duplicate" and isinstance(v, int)}
    note = ", ".join(f"{k} {v:,}" for k, v in sorted(failed.items(), key=lambda kv: -kv[1]))
    acc.funnel.append(
        FunnelRow(
            "passed",
            "passed filters",
            s.get("passed"),
            step,
            note=f"failed: {note}" if note else "",
        )
    )
    for key in sorted(k for k in s if "dock" in k.lower() and isinstance(s[k], int)):
        acc.funnel.append(FunnelRow(key, key.replace("_", " "), int(s[key]), step))
    if hits is not None:
        acc.funnel.append(FunnelRow("top_k", "top-k hits", len(hits), step))
    best_hit = best_value(hits, rank_by, ascending)
    acc.stats.append(
        Stat(
            "best_hit",
            f"best screened hit ({rank_by})",
            best_hit,
            f"of {s.get('passed', 0):,} that passed" if s.get("passed") is not None else "",
        )
    )
    acc.numbers.setdefault("screen", {}).update(
        {
            "rows_in": s.get("rows_in"),
            "accepted": s.get("accepted"),
            "passed": s.get("passed"),
            "top_k": None if hits is None else len(hits),
            "best_hit": best_hit,
            "top10_mean_hit": top_mean(hits, "score"),
        }
    )
    if hits is not None and "smiles" in hits:
        shown = hits.head(max_molecules)
        acc.answer.append(
            grid(
                f"best screened hits ({name})",
                shown.head(TOP),
                labels,
                "hit",
            )
        )
        acc.tables.append(
            Table(
                f"screened hits, best first ({name})",
                tidy(hits, labels),
                max_rows=50,
                link=rel(top, report_dir) if top else None,
            )
        )
        if top:
            acc.used.add(top)
    if rejects is not None:
        frame = read_table(rejects, ["reason"])
        if frame is not None and len(frame):
            counts = frame["reason"].astype(str).str.split(":").str[0].value_counts()
            acc.after_funnel.append(
                Table(
                    f"why molecules were rejected ({name})",
                    pd.DataFrame({"reason": counts.index, "molecules": counts.to_numpy()}),
                    max_rows=20,
                    link=rel(rejects, report_dir),
                )
            )
            acc.used.add(rejects)
    poses = sorted(q for q in part.folder.rglob("poses.sdf.gz") if "parts" not in q.parts)
    if poses:
        acc.tables.append(
            Links(
                f"docked poses ({name})",
                [(rel(q, report_dir), rel(q, report_dir), "SD file") for q in poses],
            )
        )
    library = None
    if results is not None:
        import pyarrow.dataset as ds

        try:
            dataset = ds.dataset(results, format="parquet")
            keep = [c for c in ("smiles", "score", *PROPERTIES) if c in dataset.schema.names]
            library = sample_rows(dataset.to_table(columns=keep).to_pandas(), 2000, seed)
        except Exception:
            library = None
        n = s.get("passed") if s.get("only_passing") else s.get("accepted")
        acc.tables.append(
            Links(
                f"all screened molecules ({name})",
                [
                    (
                        f"{rel(results, report_dir)}/",
                        rel(results, report_dir),
                        f"{n if n is not None else '?'} rows with descriptors and score "
                        "components (Parquet partitions; pandas.read_parquet reads the folder)",
                    )
                ],
            )
        )
        acc.used.add(results)
    return hits, library
