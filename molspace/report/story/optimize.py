"""An optimization's part of the story: the search, its funnel, candidates beside the hits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from molspace.report.sections import (
    Columns,
    FunnelRow,
    Links,
    MoleculeGrid,
    Plot,
    Section,
    Stat,
    Table,
    Text,
)
from molspace.report.story.cards import TOP, grid
from molspace.report.story.page import Acc
from molspace.report.story.parts import Part
from molspace.report.story.pictures import latent_map, property_plot
from molspace.report.story.tables import best_value, read_table, rel, tidy, top_mean


def _first(summary: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if summary.get(key) is not None:
            return summary[key]
    return None


def add_optimize(
    part: Part,
    acc: Acc,
    labels: Sequence[str],
    report_dir: Path,
    hits: pd.DataFrame | None,
    library: pd.DataFrame | None,
    seed: int,
    max_molecules: int,
) -> None:
    """Add an optimization's search, funnel, verdict against the screened hits, pictures
    and tables."""
    s = part.summary
    config = s.get("config") if isinstance(s.get("config"), dict) else {}
    config = config or {}
    model = config.get("model") or "the shipped model"
    space = config.get("space") or {}
    search = f"{s.get('sampler', config.get('sampler', '?'))} sampler, budget {s.get('budget')}"
    if isinstance(space, dict) and space.get("kind"):
        search += f" distinct molecules, in a {space.get('kind')} space"
        if space.get("n_components"):
            search += f" of {space['n_components']} dimensions"
    acc.question.append(("model", str(model)))
    acc.question.append(("search", search))
    study = part.folder
    step_dir = study.parent if part.name != study.name else study
    scored = read_table(study / "candidates.parquet")
    if not labels and scored is not None:  # no [objective] recorded: its columns tell
        labels = [c[: -len("_desirability")] for c in scored if c.endswith("_desirability")]
        if labels:
            acc.question.insert(
                0,
                ("objective", "not recorded here; the score combines " + ", ".join(labels)),
            )
    shortlist_path = step_dir / "candidates.parquet"
    own = study / "candidates.parquet"
    shortlist = read_table(shortlist_path) if shortlist_path != own else None
    trials = read_table(study / "trials.csv", ["seed_smiles", "status"])
    seeds = None
    if trials is not None and "seed_smiles" in trials:
        seeds = int(trials["seed_smiles"].fillna("").astype(str).ne("").sum())
    name = part.name
    step = f"{name} (optimize)" if name != "optimize" else name
    value = "score" if scored is not None and "score" in scored else None
    if scored is not None and value is None:
        value = next((c for c in scored.columns if c.endswith("_desirability")), None)
    n_scored = _first(s, "n_scored", "scored", "n_oracle_calls")
    feasible = _first(s, "n_feasible", "feasible")
    if feasible is None and scored is not None and "feasible" in scored:
        feasible = int(scored["feasible"].astype(bool).sum())
    novel = _first(s, "n_novel", "novel")
    if novel is None and scored is not None and "novel" in scored:
        mask = scored["novel"].astype(bool)
        if "feasible" in scored:
            mask &= scored["feasible"].astype(bool)
        novel = int(mask.sum())
    rejections = s.get("prefilter_rejections")
    seconds = part.seconds if part.seconds is not None else s.get("seconds")
    if seeds:
        acc.funnel.append(FunnelRow("seeds", "seeds (encoded hits tried first)", seeds, step))
    n_rejected = (
        sum(int(v) for v in rejections.values() if isinstance(v, (int, float)))
        if isinstance(rejections, dict)
        else 0
    )
    acc.funnel.append(
        FunnelRow(
            "scored",
            "scored (distinct molecules, oracle calls)",
            n_scored,
            step,
            seconds,
            note=f"{n_rejected:,} decoded molecules rejected before scoring" if n_rejected else "",
            nested=False,
        )
    )
    acc.funnel.append(FunnelRow("feasible", "feasible (meet the constraints)", feasible, step))
    if novel is not None:
        acc.funnel.append(FunnelRow("novel", "novel (not in the training set)", novel, step))
    final = shortlist if shortlist is not None else scored
    if shortlist is not None:
        acc.funnel.append(
            FunnelRow(
                "shortlisted",
                "shortlisted (screened molecules dropped)",
                len(shortlist),
                step,
                note=f"at most {part.config['shortlist']}" if part.config.get("shortlist") else "",
            )
        )
    if isinstance(rejections, dict) and rejections:
        frame = pd.DataFrame(
            {"rule": list(rejections), "molecules": [rejections[k] for k in rejections]}
        ).sort_values("molecules", ascending=False)
        acc.after_funnel.append(Table(f"rejected before scoring ({name})", frame, max_rows=30))
    best = best_value(final, value) if value else None
    best_hit = acc.numbers.get("screen", {}).get("best_hit")
    acc.stats.insert(0, Stat("best_candidate", f"best candidate ({value})", best))
    cand_mean = top_mean(final, value) if value else None
    hit_mean = acc.numbers.get("screen", {}).get("top10_mean_hit")
    if best is not None and best_hit is not None:
        margin = best - best_hit
        acc.stats.append(Stat("margin", "margin over the best hit", margin))
        verdict = "beat" if margin > 0 else ("tie" if margin == 0 else "fall short of")
        lead = (
            f"The best candidate scores {best:.3f}; the best screened hit {best_hit:.3f}: "
            f"the candidates {verdict} the screen by {abs(margin):.3f}"
        )
        if cand_mean is not None and hit_mean is not None:
            lead += f" (top-10 mean {cand_mean:.3f} vs {hit_mean:.3f})"
        acc.answer_lead = lead + "."
    if final is not None:
        acc.stats.append(
            Stat(
                "candidates",
                "candidates shortlisted" if shortlist is not None else "molecules scored",
                len(final),
                f"from {n_scored:,} scored" if isinstance(n_scored, int) else "",
            )
        )
    if cand_mean is not None:
        acc.stats.append(Stat("top10_mean_candidates", "top-10 mean, candidates", cand_mean))
    if hit_mean is not None and cand_mean is not None:
        acc.stats.append(Stat("top10_mean_hits", "top-10 mean, screened hits", hit_mean))
    acc.numbers["optimize"] = {
        "seeds": seeds,
        "scored": n_scored,
        "feasible": feasible,
        "novel": novel,
        "shortlisted": None if shortlist is None else len(shortlist),
        "best_candidate": best,
        "top10_mean_candidates": cand_mean,
        "prefilter_rejections": rejections if isinstance(rejections, dict) else None,
    }
    grids: list[Section] = []
    if final is not None and "smiles" in final and len(final):
        grids.append(grid(f"best candidates ({name})", final.head(TOP), labels, "candidate"))
    if grids:
        hit_grid = [g for g in acc.answer if isinstance(g, MoleculeGrid)]
        acc.answer = [a for a in acc.answer if not isinstance(a, MoleculeGrid)]
        title = "Candidates beside the screened hits" if hit_grid else "Best candidates"
        acc.answer.append(Columns(title, [*grids, *hit_grid]))
    if final is not None and len(final):
        acc.answer.append(_comparison(final, hits, labels, value or "score", TOP))
    # evidence: history, properties, latent map
    if scored is not None and value and "oracle_call" in scored:
        from molspace.report.plots import search_history_plot

        acc.evidence.append(
            Plot(
                f"Search history ({name})",
                search_history_plot(scored, value, best_hit=best_hit),
                caption="each point a distinct molecule in the order it was scored; the "
                "dashed line is the best screened hit",
            )
        )
    frames: dict[str, pd.DataFrame] = {}
    if final is not None and len(final):
        frames["candidates"] = final.head(max(max_molecules, 100))
    if hits is not None and len(hits):
        frames["screened hits"] = hits
    if library is not None and len(library):
        frames["library sample"] = library
    if frames:
        plot = property_plot(frames)
        if plot is not None:
            acc.evidence.append(plot)
        latent = latent_map(config.get("model"), frames, seed)
        if latent is not None:
            acc.evidence.append(latent)
    if final is not None:
        link = shortlist_path if shortlist is not None else study / "candidates.parquet"
        acc.tables.insert(
            0,
            Table(
                f"candidates, best first ({name})",
                tidy(final, labels),
                max_rows=50,
                link=rel(link, report_dir),
            ),
        )
        acc.used.add(link)
    if scored is not None and shortlist is not None:
        every = study / "candidates.parquet"
        acc.tables.append(
            Links(
                f"every scored molecule ({name})",
                [
                    (rel(every, report_dir), rel(every, report_dir), f"{len(scored):,} rows"),
                    (
                        rel(study / "trials.csv", report_dir),
                        rel(study / "trials.csv", report_dir),
                        "every trial of the Optuna study",
                    ),
                ],
            )
        )
        acc.used.update({study / "candidates.parquet", study / "candidates.csv"})
    storage = s.get("storage")
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        acc.tables.append(
            Text(
                f"the Optuna study ({name})",
                f"Open it in optuna-dashboard: optuna-dashboard {storage}",
            )
        )


def _comparison(
    final: pd.DataFrame,
    hits: pd.DataFrame | None,
    labels: Sequence[str],
    value: str,
    n: int,
) -> Table:
    """Top candidates and top hits in one table, with the score's components."""
    extra = [c for c in ("docking_score", "novel", "seed_similarity") if c in final]
    columns = ["smiles", value, *[c for c in labels if c in final], *extra]
    rows = final.head(n)[[c for c in columns if c in final]].copy()
    rows.insert(0, "source", "candidate")
    frames = [rows]
    if hits is not None and len(hits):
        hit_cols = ["smiles", value, *[c for c in labels if c in hits]]
        if "docking_score" in hits:
            hit_cols.append("docking_score")
        other = hits.head(n)[[c for c in hit_cols if c in hits]].copy()
        other.insert(0, "source", "screened hit")
        frames.append(other)
    table = pd.concat(frames, ignore_index=True)
    title = "Score components" + (": candidates and screened hits" if len(frames) > 1 else "")
    return Table(title, table, max_rows=4 * n)
