"""The opening of a report, top down: the question a run asked, its answer, the funnel of
molecules step by step, the evidence as pictures; tables and raw files come after.

Everything is read from what the run left on disk: ``run.json`` of a workflow (step
kinds, configs, times) and each step's summary (``summary.json`` of a screen, an
optimization or a docking run; ``explore.json``, ``map.json``, ``anomaly.json``,
``interpolation.json`` of the analyses), plus their result tables. A key a summary
lacks is left out rather than guessed, so older runs and partial runs still report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.report.sections import (
    Columns,
    Facts,
    Funnel,
    FunnelRow,
    Headline,
    Links,
    MoleculeGrid,
    Plot,
    Section,
    Stat,
    Table,
    Text,
)

__all__ = ["Part", "Story", "describe_objective", "find_parts", "tell"]

_SKIP_DIRS = {"parts", "cache", "checkpoint", "latent", "rejects"}
_ANALYSES = {
    "explore.json": "explore",
    "map.json": "map",
    "anomaly.json": "anomaly",
    "interpolation.json": "interpolate",
}
PROPERTIES = ("qed", "sa", "mw", "clogp", "tpsa")
_PROPERTY_LABELS = {"qed": "QED", "sa": "SA score", "mw": "MW", "clogp": "cLogP", "tpsa": "TPSA"}
_TOP = 6  # molecules side by side in the answer


@dataclass
class Part:
    """One step's outputs: its kind, where its summary lies, and its time when known."""

    kind: str  # screen | optimize | dock | explore | map | anomaly | interpolate
    name: str  # the workflow step's name, or the folder's
    folder: Path  # the folder holding its summary
    summary: dict[str, Any]
    seconds: float | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the workflow step's config


@dataclass
class Story:
    """The sections of the opening, the numbers behind them, and the files they used."""

    opening: list[Section]
    evidence: list[Section]
    tables: list[Section]
    summary: dict[str, Any]
    used: set[Path]  # files shown in full by the story (the generic pass skips them)


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _kind_of_summary(data: Mapping[str, Any], folder: Path) -> str | None:
    if "n_oracle_calls" in data:
        return "optimize"
    if "docked" in data and "rows_in" in data:
        return "dock"
    if "rows_in" in data and "accepted" in data:
        return "screen"
    del folder
    return None


def find_parts(root: Path) -> tuple[dict[str, Any] | None, list[Part]]:
    """The workflow manifest (None for a single command's folder) and every step found."""
    manifest = _load_json(root / "run.json")
    steps: dict[str, Any] = (manifest or {}).get("steps", {}) if manifest else {}
    if manifest is not None and not isinstance(steps, dict):
        steps = {}
    parts: list[Part] = []
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        if any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
            continue
        kind = _ANALYSES.get(path.name)
        data = _load_json(path) if (kind or path.name == "summary.json") else None
        if data is None:
            continue
        kind = kind or _kind_of_summary(data, path.parent)
        if kind is None:
            continue
        step = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in steps else None
        record = steps.get(step, {}) if step else {}
        seconds = record.get("seconds") if isinstance(record, dict) else None
        parts.append(
            Part(
                kind=kind,
                name=step or (str(rel.parent) if str(rel.parent) != "." else root.name),
                folder=path.parent,
                summary=data,
                seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
                config=record.get("config", {}) if isinstance(record, dict) else {},
            )
        )
    return manifest, parts


# ---------------------------------------------------------------- the question, in words

_COMPONENT_WORDS = {
    "qed": "drug-likeness (QED, 0..1)",
    "sa": "synthetic accessibility (SA score, 1 easy .. 10 hard)",
    "logp": "cLogP",
    "clogp": "cLogP",
    "mw": "molecular weight",
    "tpsa": "topological polar surface area",
    "hbd": "H-bond donors",
    "hba": "H-bond acceptors",
    "rotb": "rotatable bonds",
    "heavy_atoms": "heavy atoms",
    "penalized_logp": "penalized logP",
    "alerts": "structural alerts",
    "ring_size": "largest ring size",
    "docking": "docking score",
}


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _transform_words(transform: Mapping[str, Any] | None) -> str:
    if not transform:
        return "as is"
    kind = transform.get("kind", "identity")
    low, high = transform.get("low"), transform.get("high")
    if kind == "sigmoid":
        return f"higher is better (sigmoid: 0 at {_num(low)}, 1 at {_num(high)})"
    if kind == "reverse_sigmoid":
        return f"lower is better (reverse sigmoid: 1 at {_num(low)}, 0 at {_num(high)})"
    if kind == "double_sigmoid":
        width = transform.get("width")
        return f"best between {_num(low)} and {_num(high)} (soft edges, width {_num(width)})"
    if kind == "range":
        return f"1 inside [{_num(low)}, {_num(high)}], falling outside"
    if kind == "linear":
        direction = "lower" if transform.get("reverse") else "higher"
        return f"{direction} is better (linear from {_num(low)} to {_num(high)})"
    if kind == "step":
        side = "at most" if transform.get("reverse") else "at least"
        return f"1 when {side} {_num(transform.get('threshold'))}, else 0"
    return "as is"


def describe_objective(objective: Mapping[str, Any] | None) -> tuple[str, list[str], list[str]]:
    """(one-line aggregation, one line per component, component labels) of an [objective]."""
    if not objective or not objective.get("components"):
        return "", [], []
    lines, labels = [], []
    components = list(objective["components"])
    total = sum(float(c.get("weight", 1.0)) for c in components) or 1.0
    for comp in components:
        kind = str(comp.get("type", "?"))
        label = str(comp.get("name") or kind)
        labels.append(label)
        if kind == "similarity":
            refs = comp.get("smiles") or []
            what = "Tanimoto similarity (Morgan) to " + ", ".join(str(s) for s in refs[:3])
            if len(refs) > 3:
                what += f" and {len(refs) - 3} more"
        elif kind == "substructure":
            what = f"substructure {comp.get('smarts') or comp.get('smiles') or ''}".strip()
        elif kind == "custom":
            what = f"custom function {comp.get('function', '')}".strip()
        else:
            what = _COMPONENT_WORDS.get(kind, kind)
        weight = float(comp.get("weight", 1.0))
        lines.append(
            f"{label}: {what}; {_transform_words(comp.get('transform'))}; "
            f"weight {_num(weight)} ({100 * weight / total:.0f}%)"
        )
    aggregation = objective.get("aggregation", "geometric")
    if aggregation == "geometric":
        head = (
            f"maximize the weighted geometric mean of {len(components)} desirabilities in "
            "[0, 1] (a component at 0 vetoes a molecule)"
        )
    else:
        head = f"maximize the weighted mean of {len(components)} desirabilities in [0, 1]"
    return head, lines, labels


# ---------------------------------------------------------------- reading tables


def _read(path: Path | None, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
    if path is None or not path.exists():
        return None
    try:
        if path.is_dir() or path.suffix == ".parquet":
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet")
            names = [c for c in dataset.schema.names if c != "z"]
            if columns is not None:
                names = [c for c in columns if c in names]
            return dataset.to_table(columns=names).to_pandas()
        frame = pd.read_csv(path)
        return frame[[c for c in columns if c in frame]] if columns is not None else frame
    except Exception:
        return None


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def _best(frame: pd.DataFrame | None, column: str, ascending: bool = False) -> float | None:
    if frame is None or column not in frame or frame.empty:
        return None
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    if values.empty:
        return None
    return float(values.min() if ascending else values.max())


def _top_mean(frame: pd.DataFrame | None, column: str, k: int = 10) -> float | None:
    if frame is None or column not in frame or frame.empty:
        return None
    values = pd.to_numeric(frame[column], errors="coerce").dropna().sort_values(ascending=False)
    return float(values.head(k).mean()) if len(values) else None


def _legend(row: pd.Series, labels: Sequence[str], prefix: str) -> str:
    parts = [prefix]
    if "score" in row and pd.notna(row["score"]):
        parts[0] += f"  score {float(row['score']):.3f}"
    comps = []
    for label in labels:
        value = row.get(label)
        if value is not None and not isinstance(value, str) and pd.notna(value):
            comps.append(f"{label} {float(value):.3g}")
    if comps:
        parts.append("  ".join(comps))
    dock = row.get("docking_score")
    if dock is not None and pd.notna(dock):
        parts.append(f"docking {float(dock):.2f} kcal/mol")
    return "\n".join(parts)


def _rel(path: Path, base: Path) -> str:
    import os

    return Path(os.path.relpath(path, base)).as_posix()


# ---------------------------------------------------------------- the story


@dataclass
class _Acc:
    """What the parts contribute, gathered before the sections are laid out."""

    question: list[tuple[str, str]] = field(default_factory=list)
    stats: list[Stat] = field(default_factory=list)
    funnel: list[FunnelRow] = field(default_factory=list)
    answer: list[Section] = field(default_factory=list)
    answer_lead: str = ""
    after_funnel: list[Section] = field(default_factory=list)
    evidence: list[Section] = field(default_factory=list)
    tables: list[Section] = field(default_factory=list)
    used: set[Path] = field(default_factory=set)
    numbers: dict[str, Any] = field(default_factory=dict)

    def table(
        self,
        title: str,
        frame: pd.DataFrame,
        path: Path,
        report_dir: Path,
        max_rows: int = Table.max_rows,
    ) -> None:
        """A result table linked to the file it shows; that file is then not listed again
        among the raw files."""
        self.tables.append(Table(title, frame, max_rows=max_rows, link=_rel(path, report_dir)))
        self.used.add(path)


def _objective_of(manifest: dict[str, Any] | None, parts: Sequence[Part]) -> dict[str, Any] | None:
    """The run's [objective]: the workflow's, else a step's own, else a screen's."""
    if manifest:
        raw = manifest.get("config", {})
        if isinstance(raw, dict) and isinstance(raw.get("objective"), dict):
            return raw["objective"]
    for part in parts:
        obj = part.config.get("objective")
        if isinstance(obj, dict):
            return obj
        config = part.summary.get("config")
        if isinstance(config, dict) and isinstance(config.get("objective"), dict):
            return config["objective"]
        if isinstance(part.summary.get("objective"), dict):
            return part.summary["objective"]
    return None


def tell(root: Path, report_dir: Path, *, seed: int = 0, max_molecules: int = 48) -> Story:
    """Read the run at ``root`` and lay out its opening (see module doc)."""
    manifest, parts = find_parts(root)
    acc = _Acc()
    objective = _objective_of(manifest, parts)
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
        found = _guarded(acc, part, _screen, part, acc, labels, report_dir, seed, max_molecules)
        hits, library_sample = found if found is not None else (hits, library_sample)
    if screens and not optimizes and hits is not None:
        frames = {"screened hits": hits}
        if library_sample is not None:
            frames["library sample"] = library_sample
        plot = _guarded(acc, screens[0], _property_plot, frames, with_score=True)
        if plot is not None:
            acc.evidence.append(plot)
    for part in by_kind.get("dock", []):
        _guarded(acc, part, _dock, part, acc, report_dir, max_molecules)
    for part in optimizes:
        _guarded(
            acc,
            part,
            _optimize,
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
        _guarded(acc, part, _explore, part, acc, report_dir, max_molecules)
    for part in by_kind.get("map", []):
        _guarded(acc, part, _map, part, acc, report_dir, max_molecules)
    for part in by_kind.get("anomaly", []):
        _guarded(acc, part, _anomaly, part, acc, report_dir, max_molecules)
    for part in by_kind.get("interpolate", []):
        _guarded(acc, part, _interpolate, part, acc, report_dir)
    opening: list[Section] = []
    if acc.question:
        opening.append(Facts("The question", acc.question))
    if acc.stats or acc.answer:
        opening.append(Headline("The answer", acc.stats, lead=acc.answer_lead, parts=acc.answer))
    if acc.funnel:
        opening.append(Funnel("The funnel: molecules kept at each stage", acc.funnel))
    opening.extend(acc.after_funnel)
    steps = {}
    if manifest:
        for name, record in manifest.get("steps", {}).items():
            if isinstance(record, dict) and record.get("kind") != "report":
                steps[name] = {
                    "kind": record.get("kind"),
                    "status": record.get("status"),
                    "seconds": record.get("seconds"),
                }
    summary = {
        "run_dir": str(root.resolve()),
        "kinds": sorted(by_kind),
        "question": {"objective": head, "components": lines, "facts": dict(acc.question[:0])},
        "answer": {s.key: s.value for s in acc.stats},
        "funnel": {
            r.key: {"stage": r.stage, "count": r.count, "step": r.step, "seconds": r.seconds}
            for r in acc.funnel
        },
        "steps": steps,
        **acc.numbers,
    }
    summary["question"]["facts"] = {k: v for k, v in acc.question if k}
    return Story(opening, acc.evidence, acc.tables, summary, acc.used)


def _guarded(acc: _Acc, part: Part, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one step's part of the story; a file it cannot read becomes a visible note
    (a report must not die on one odd file), and the rest of the report goes on."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        acc.tables.append(
            Text(f"{part.name}: not shown", f"could not read {part.folder}: {message}")
        )
        return None


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


def _screen(
    part: Part,
    acc: _Acc,
    labels: Sequence[str],
    report_dir: Path,
    seed: int,
    max_molecules: int,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    s = part.summary
    acc.question.append(("library", _describe_library(part)))
    config = s.get("config") if isinstance(s.get("config"), dict) else {}
    filters = (config or {}).get("filters") or part.config.get("filters") or {}
    rules = [*filters.get("rules", []), *filters.get("alerts", [])] if filters else []
    if rules:
        acc.question.append(("filters", ", ".join(str(r) for r in rules)))
    top, results, rejects = _screen_files(part)
    hits = _read(top)
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
    best_hit = _best(hits, rank_by, ascending)
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
            "top10_mean_hit": _top_mean(hits, "score"),
        }
    )
    if hits is not None and "smiles" in hits:
        shown = hits.head(max_molecules)
        acc.answer.append(
            _grid(
                f"best screened hits ({name})",
                shown.head(_TOP),
                labels,
                "hit",
            )
        )
        acc.tables.append(
            Table(
                f"screened hits, best first ({name})",
                _tidy(hits, labels),
                max_rows=50,
                link=_rel(top, report_dir) if top else None,
            )
        )
        if top:
            acc.used.add(top)
    if rejects is not None:
        frame = _read(rejects, ["reason"])
        if frame is not None and len(frame):
            counts = frame["reason"].astype(str).str.split(":").str[0].value_counts()
            acc.after_funnel.append(
                Table(
                    f"why molecules were rejected ({name})",
                    pd.DataFrame({"reason": counts.index, "molecules": counts.to_numpy()}),
                    max_rows=20,
                    link=_rel(rejects, report_dir),
                )
            )
            acc.used.add(rejects)
    poses = sorted(q for q in part.folder.rglob("poses.sdf.gz") if "parts" not in q.parts)
    if poses:
        acc.tables.append(
            Links(
                f"docked poses ({name})",
                [(_rel(q, report_dir), _rel(q, report_dir), "SD file") for q in poses],
            )
        )
    library = None
    if results is not None:
        import pyarrow.dataset as ds

        try:
            dataset = ds.dataset(results, format="parquet")
            keep = [c for c in ("smiles", "score", *PROPERTIES) if c in dataset.schema.names]
            library = _sample(dataset.to_table(columns=keep).to_pandas(), 2000, seed)
        except Exception:
            library = None
        n = s.get("passed") if s.get("only_passing") else s.get("accepted")
        acc.tables.append(
            Links(
                f"all screened molecules ({name})",
                [
                    (
                        f"{_rel(results, report_dir)}/",
                        _rel(results, report_dir),
                        f"{n if n is not None else '?'} rows with descriptors and score "
                        "components (Parquet partitions; pandas.read_parquet reads the folder)",
                    )
                ],
            )
        )
        acc.used.add(results)
    return hits, library


_LAST = ("source", "row", "canonical_smiles", "inchikey", "status", "reason", "input")


def _tidy(frame: pd.DataFrame, labels: Sequence[str] = ()) -> pd.DataFrame:
    """A result table for reading: molecule and score first, then the score's components,
    then docking, properties and the rest; bookkeeping columns last; no latent vectors."""
    drop = {c for c in frame.columns if c in ("z", "latent") or str(c).startswith("value_")}
    columns = [c for c in frame.columns if c not in drop]
    first = [c for c in ("rank", "id", "smiles", "score", "docking_score") if c in columns]
    comps = [c for c in labels if c in columns and c not in first]
    desir = [c for c in columns if str(c).endswith("_desirability")]
    props = [c for c in PROPERTIES if c in columns and c not in comps]
    last = [c for c in _LAST if c in columns]
    placed = {*first, *comps, *desir, *props, *last}
    rest = [c for c in columns if c not in placed]
    return frame[[*first, *comps, *props, *rest, *desir, *last]]


def _cards(title: str, frame: pd.DataFrame, legends: Sequence[str]) -> MoleculeGrid:
    """The molecules of ``frame`` as small cards, small enough for several side by side in
    the answer."""
    return MoleculeGrid(title, frame["smiles"].astype(str).tolist(), legends, size=(180, 140))


def _grid(title: str, frame: pd.DataFrame, labels: Sequence[str], prefix: str) -> MoleculeGrid:
    """Cards numbered by position in ``frame`` (already best first)."""
    legends = [
        _legend(row, labels, f"{prefix} #{i}") for i, (_, row) in enumerate(frame.iterrows(), 1)
    ]
    return _cards(title, frame, legends)


def _first(summary: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if summary.get(key) is not None:
            return summary[key]
    return None


def _optimize(
    part: Part,
    acc: _Acc,
    labels: Sequence[str],
    report_dir: Path,
    hits: pd.DataFrame | None,
    library: pd.DataFrame | None,
    seed: int,
    max_molecules: int,
) -> None:
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
    scored = _read(study / "candidates.parquet")
    if not labels and scored is not None:  # no [objective] recorded: its columns tell
        labels = [c[: -len("_desirability")] for c in scored if c.endswith("_desirability")]
        if labels:
            acc.question.insert(
                0,
                ("objective", "not recorded here; the score combines " + ", ".join(labels)),
            )
    shortlist_path = step_dir / "candidates.parquet"
    shortlist = _read(shortlist_path) if shortlist_path != study / "candidates.parquet" else None
    trials = _read(study / "trials.csv", ["seed_smiles", "status"])
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
    best = _best(final, value) if value else None
    best_hit = acc.numbers.get("screen", {}).get("best_hit")
    acc.stats.insert(0, Stat("best_candidate", f"best candidate ({value})", best))
    cand_mean = _top_mean(final, value) if value else None
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
        grids.append(_grid(f"best candidates ({name})", final.head(_TOP), labels, "candidate"))
    if grids:
        hit_grid = [g for g in acc.answer if isinstance(g, MoleculeGrid)]
        acc.answer = [a for a in acc.answer if not isinstance(a, MoleculeGrid)]
        title = "Candidates beside the screened hits" if hit_grid else "Best candidates"
        acc.answer.append(Columns(title, [*grids, *hit_grid]))
    if final is not None and len(final):
        acc.answer.append(_comparison(final, hits, labels, value or "score", _TOP))
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
        plot = _property_plot(frames)
        if plot is not None:
            acc.evidence.append(plot)
        latent = _latent_map(config.get("model"), frames, seed)
        if latent is not None:
            acc.evidence.append(latent)
    if final is not None:
        link = shortlist_path if shortlist is not None else study / "candidates.parquet"
        acc.tables.insert(
            0,
            Table(
                f"candidates, best first ({name})",
                _tidy(final, labels),
                max_rows=50,
                link=_rel(link, report_dir),
            ),
        )
        acc.used.add(link)
    if scored is not None and shortlist is not None:
        every = study / "candidates.parquet"
        acc.tables.append(
            Links(
                f"every scored molecule ({name})",
                [
                    (_rel(every, report_dir), _rel(every, report_dir), f"{len(scored):,} rows"),
                    (
                        _rel(study / "trials.csv", report_dir),
                        _rel(study / "trials.csv", report_dir),
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


def _property_plot(frames: Mapping[str, pd.DataFrame], with_score: bool = False) -> Plot | None:
    from molspace.report.plots import property_histograms

    filled: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        if "smiles" not in frame:
            continue
        missing = [p for p in PROPERTIES if p not in frame]
        if missing:
            from molspace.analysis.common import properties_frame

            props = properties_frame(frame["smiles"].astype(str).tolist(), missing)
            frame = pd.concat([frame.reset_index(drop=True), props], axis=1)
        filled[name] = frame.rename(columns=_PROPERTY_LABELS)
    if not filled:
        return None
    columns = [_PROPERTY_LABELS[p] for p in PROPERTIES]
    if with_score:
        columns.insert(0, "score")
    return Plot(
        "Properties: " + " vs ".join(filled),
        property_histograms(filled, columns, per_row=5),
        caption="density histograms; " + ", ".join(f"{k}: {len(v)}" for k, v in filled.items()),
    )


def _latent_map(
    model: str | None, frames: Mapping[str, pd.DataFrame], seed: int, limit: int = 500
) -> Plot | None:
    """PCA of the latent vectors: library sample, hits and candidates in one picture."""
    from molspace.analysis.common import encode_with_reasons
    from molspace.latent import LatentSpace

    try:
        space = LatentSpace.load(model)
    except Exception:
        return None
    groups: dict[str, np.ndarray] = {}
    for name, frame in frames.items():
        if "smiles" not in frame:
            continue
        smiles = _sample(frame, limit, seed)["smiles"].astype(str).tolist()
        z, _ = encode_with_reasons(space, smiles)
        z = z[np.isfinite(z).all(axis=1)]
        if len(z):
            groups[name] = z
    if not groups:
        return None
    from sklearn.decomposition import PCA

    base = groups.get("library sample", np.concatenate(list(groups.values())))
    if len(base) < 3:
        return None
    pca = PCA(n_components=2, random_state=seed).fit(base)
    from molspace.report.plots import groups_map

    coords = {name: pca.transform(z) for name, z in groups.items()}
    explained = pca.explained_variance_ratio_
    return Plot(
        "Latent map (PCA of the encoded molecules)",
        groups_map(coords, axis_labels=(f"PC1 ({explained[0]:.0%})", f"PC2 ({explained[1]:.0%})")),
        caption="PCA fitted on the "
        + ("library sample" if "library sample" in groups else "molecules shown")
        + "; "
        + ", ".join(f"{k}: {len(v)}" for k, v in groups.items()),
    )


def _dock(part: Part, acc: _Acc, report_dir: Path, max_molecules: int) -> None:
    s = part.summary
    step = part.name
    acc.question.append(("target", f"{s.get('target')} (docking box {s.get('box', {})})"))
    acc.funnel.extend(
        [
            FunnelRow("dock_read", "read for docking", s.get("rows_in"), step, part.seconds),
            FunnelRow("docked", "docked", s.get("docked"), step),
        ]
    )
    results = _read(part.folder / "results.parquet")
    if results is not None and "docking_score" in results:
        ranked = results.sort_values("docking_score", na_position="last").reset_index(drop=True)
        best = _best(ranked, "docking_score", ascending=True)
        acc.stats.append(Stat("best_docking_score", "best docking score (kcal/mol)", best))
        acc.numbers["dock"] = {"docked": s.get("docked"), "best_docking_score": best}
        ok = ranked.dropna(subset=["docking_score"])
        if "smiles" in ok and len(ok):
            acc.answer.append(_grid(f"best docked ({step})", ok.head(_TOP), [], "docked"))
        acc.table(
            f"docking results ({step})",
            _tidy(ranked),
            part.folder / "results.parquet",
            report_dir,
            max_rows=50,
        )
    poses = part.folder / "poses.sdf.gz"
    if poses.exists():
        acc.tables.append(
            Links(
                f"poses ({step})",
                [(_rel(poses, report_dir), _rel(poses, report_dir), "docked poses, SD file")],
            )
        )


_EXPLORE_STAGES = (
    ("n_decoded", "decoded"),
    ("n_valid", "valid molecules"),
    ("n_distinct_analogs", "distinct analogs"),
    ("n_in_band", "in the similarity band"),
)


def _explore(part: Part, acc: _Acc, report_dir: Path, max_molecules: int) -> None:
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
    analogs = _read(part.folder / "analogs.csv")
    if analogs is None or analogs.empty:
        return
    acc.stats.append(Stat("analogs", "analogs kept", len(analogs)))
    acc.answer.append(_grid(f"analogs ({part.name})", analogs.head(12), ["similarity"], "analog"))
    plot = _property_plot({"analogs": analogs})
    if plot is not None:
        acc.evidence.append(plot)
    acc.table(
        f"analogs ({part.name})",
        _tidy(analogs, ["similarity"]),
        part.folder / "analogs.csv",
        report_dir,
        max_rows=50,
    )


def _map(part: Part, acc: _Acc, report_dir: Path, max_molecules: int) -> None:
    from molspace.report.plots import cluster_map, scatter_map

    s = part.summary
    settings = s.get("settings", {})
    acc.question.append(("library", str(settings.get("library", ""))))
    projection = s.get("projection", {})
    method = projection.get("method") if isinstance(projection, dict) else None
    acc.question.append(("projection", str(method or settings.get("projection", ""))))
    acc.funnel.extend(
        [
            FunnelRow("map_read", "read", s.get("n_read"), part.name, part.seconds),
            FunnelRow("mapped", "encoded and mapped", s.get("n_mapped"), part.name),
        ]
    )
    acc.stats.append(Stat("clusters", "clusters", s.get("n_clusters")))
    acc.stats.append(Stat("mapped", "molecules mapped", s.get("n_mapped")))
    frame = _read(part.folder / "map.parquet")
    if frame is None or frame.empty:
        return
    acc.used.add(part.folder / "map.parquet")
    coords = frame[["x", "y"]].to_numpy(dtype=float)
    reps = None  # a map without clusters has no representatives
    if "cluster" in frame:
        figure, reps = cluster_map(frame, coords)
        acc.evidence.append(Plot(f"Map coloured by cluster ({part.name})", figure))
    if reps is not None and len(reps):
        rows = frame.iloc[reps].sort_values("cluster").head(max_molecules)
        acc.answer.append(
            _cards(
                f"cluster representatives ({part.name})",
                rows,
                [f"cluster {c}" for c in rows["cluster"]],
            )
        )
    for column in [c for c in PROPERTIES if c in frame][:2]:
        acc.evidence.append(
            Plot(
                f"Map coloured by {column} ({part.name})",
                scatter_map(coords, frame[column].to_numpy(), label=column),
            )
        )


def _anomaly(part: Part, acc: _Acc, report_dir: Path, max_molecules: int) -> None:
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
    scores = _read(part.folder / "anomaly_scores.csv")
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
        acc.answer.append(_cards(f"most unusual molecules ({part.name})", top, legends))
    acc.table(
        f"anomaly scores, most unusual first ({part.name})",
        _tidy(scores, ["anomaly_score", "outlier"]),
        part.folder / "anomaly_scores.csv",
        report_dir,
        max_rows=50,
    )


def _interpolate(part: Part, acc: _Acc, report_dir: Path) -> None:
    from molspace.report.plots import similarity_path_plot

    s = part.summary
    acc.question.append(("path", f"{s.get('start')} → {s.get('end')}"))
    acc.stats.append(
        Stat("distinct_decoded", "distinct molecules on the path", s.get("n_distinct_decoded"))
    )
    frame = _read(part.folder / "interpolation.csv")
    if frame is None or frame.empty:
        return
    acc.used.add(part.folder / "interpolation.csv")
    if {"t", "sim_start", "sim_end"} <= set(frame.columns):
        acc.evidence.append(
            Plot(f"Similarity along the path ({part.name})", similarity_path_plot(frame))
        )
        legends = [f"t={t:.2f}" for t in frame["t"]]
        acc.answer.append(_cards(f"the path ({part.name})", frame, legends))
    acc.table(f"path ({part.name})", frame, part.folder / "interpolation.csv", report_dir)


def finite(value: Any) -> bool:
    """True for a real, finite number (what the headline can show)."""
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))
