"""Build a report from whatever a run directory holds.

Tolerant by design: it recognises tables by their columns, not by which command
wrote them, renders what it understands, and turns anything it cannot read into
a visible note instead of an error. Recognised content:

* JSON summaries/manifests -> key/value tables;
* rejects tables (source,row,id,input,reason) -> counts per reason + rows;
* interpolation paths (origin, t, sim_start, sim_end) -> path grid + similarity plot;
* maps (x, y) -> scatter coloured by cluster and by properties;
* optimization trials (number + value/score) -> history plot;
* any other table with a ``smiles`` column -> ranked molecule grid, table, histograms;
* PNG/SVG images -> embedded as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from molspace.errors import InputError
from molspace.report.sections import KeyValues, Links, MoleculeGrid, Plot, Section, Table, Text

__all__ = [
    "raw_files",
    "report_from_run",
    "sections_for_run",
    "sections_for_table",
    "summary_path_for",
]

_TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".tsv", ".tsv.gz")
_MAX_TABLE_ROWS = 200_000
_MAX_JSON_BYTES = 2_000_000
_REJECTS = {"source", "row", "id", "input", "reason"}
# columns that rank a table, best first: (column, descending)
_RANKERS = (
    ("rank", False),
    ("score", True),
    ("anomaly_score", True),
    ("similarity", True),
    ("value", True),
)
_PROPERTY_HINTS = (
    "score",
    "mw",
    "clogp",
    "logp",
    "tpsa",
    "qed",
    "sa",
    "hbd",
    "hba",
    "rotb",
    "penalized_logp",
    "similarity",
    "anomaly_score",
    "heavy_atoms",
)


def _is_table(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in _TABLE_SUFFIXES)


def _read_table(path: Path) -> pd.DataFrame:
    if path.is_dir() or path.name.endswith(".parquet"):
        import pyarrow.dataset as ds

        dataset = ds.dataset(path, format="parquet")
        columns = [c for c in dataset.schema.names if c != "z"]  # latent vectors stay out
        return dataset.head(_MAX_TABLE_ROWS, columns=columns).to_pandas()
    sep = "\t" if ".tsv" in path.name.lower() else ","
    return pd.read_csv(path, sep=sep, nrows=_MAX_TABLE_ROWS)


def _shorten(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    nested = isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value)
    if isinstance(value, list) and (len(value) > 12 or nested):
        return f"[{len(value)} items]"
    return value


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
    ]


def _legend(row: pd.Series, extra: list[str]) -> str:
    parts = [str(row["id"])] if "id" in row.index and pd.notna(row["id"]) else []
    for column in extra:
        value = row.get(column)
        if value is not None and pd.notna(value):
            parts.append(
                f"{column} {value:.3g}" if isinstance(value, float) else f"{column} {value}"
            )
    return "\n".join(parts)


def sections_for_table(
    frame: pd.DataFrame,
    name: str,
    *,
    max_molecules: int = 48,
    link: str | None = None,
    max_rows: int = 50,
) -> list[Section]:
    """Sections for one table, chosen by its columns (see module doc); tables show their
    first ``max_rows`` rows and link the whole file (``link``, relative to the report)."""
    from molspace.report import plots

    columns = set(frame.columns)
    if columns >= _REJECTS:
        counts = frame["reason"].astype(str).str.split(":").str[0].value_counts()
        summary = pd.DataFrame({"reason": counts.index, "count": counts.to_numpy()})
        return [
            Table(f"{name}: rejected rows by reason ({len(frame)} rows)", summary),
            Table(f"{name}: rejected rows", frame, max_rows=max_rows, link=link),
        ]
    sections: list[Section] = []
    if {"origin", "t", "sim_start", "sim_end", "smiles"} <= columns:
        legends = [
            f"t={t:.2f}  start {a:.2f} / end {b:.2f}"
            for t, a, b in zip(frame["t"], frame["sim_start"], frame["sim_end"], strict=True)
        ]
        sections.append(
            MoleculeGrid(
                f"{name}: interpolation path ({len(frame)} molecules)",
                frame["smiles"].astype(str).tolist(),
                legends,
            )
        )
        sections.append(
            Plot(f"{name}: similarity along the path", plots.similarity_path_plot(frame))
        )
        sections.append(Table(f"{name}: path table", frame, link=link))
        return sections
    if {"x", "y"} <= columns:
        coords = frame[["x", "y"]].to_numpy(dtype=float)
        if "cluster" in columns:
            figure, reps = plots.cluster_map(frame, coords)
            sections.append(Plot(f"{name}: map coloured by cluster", figure))
            if reps is not None and len(reps):
                rep_rows = frame.iloc[reps].sort_values("cluster")
                sections.append(
                    MoleculeGrid(
                        f"{name}: cluster representatives",
                        rep_rows["smiles"].astype(str).tolist(),
                        [f"cluster {c}" for c in rep_rows["cluster"]],
                    )
                )
        for column in [c for c in _numeric(frame) if c in _PROPERTY_HINTS][:4]:
            sections.append(
                Plot(
                    f"{name}: map coloured by {column}",
                    plots.scatter_map(coords, frame[column].to_numpy(), label=column),
                )
            )
        return sections
    if "number" in columns and ({"value", "score"} & columns):
        column = "value" if "value" in columns else "score"
        ordered = frame.sort_values("number")
        sections.append(
            Plot(
                f"{name}: optimization history",
                plots.history_plot(
                    ordered[column].to_numpy(), label=column, x=ordered["number"].to_numpy()
                ),
            )
        )
    if "smiles" in columns:
        ranked = frame
        ranker = next(
            (
                (c, d)
                for c, d in _RANKERS
                if c in columns and pd.api.types.is_numeric_dtype(frame[c].dtype)
            ),
            None,
        )
        if ranker is not None:
            ranked = frame.sort_values(ranker[0], ascending=not ranker[1], na_position="last")
        top = ranked.head(max_molecules)
        shown = [c for c in ("score", "similarity", "anomaly_score", "qed") if c in columns][:2]
        title = f"{name}: top {len(top)} of {len(frame)}" + (f" by {ranker[0]}" if ranker else "")
        sections.append(
            MoleculeGrid(
                title,
                top["smiles"].astype(str).tolist(),
                [_legend(r, shown) for _, r in top.iterrows()],
            )
        )
        props = [c for c in _numeric(frame) if c in _PROPERTY_HINTS]
        if props:
            sections.append(
                Plot(
                    f"{name}: property distributions",
                    plots.property_histograms({name: frame}, props),
                )
            )
    sections.append(
        Table(f"{name}: table ({len(frame)} rows)", frame, max_rows=max_rows, link=link)
    )
    return sections


# what a chemist opens a report for comes first: results, then plots, then summaries
_FIRST = ("candidates", "top_k", "analogs", "interpolation", "anomaly_scores", "map", "clusters")
_INTERNAL_DIRS = {"parts", "cache", "checkpoint"}  # resume caches and training state


def _skipped(rel: Path, path: Path) -> bool:
    """Internal files: resume caches, input slices, and a CSV twin of a Parquet table."""
    if any(part in _INTERNAL_DIRS for part in rel.parts[:-1]) or rel.name in _INTERNAL_DIRS:
        return True
    if rel.name.startswith("head-") and rel.suffix == ".parquet":
        return True
    return path.suffix == ".csv" and path.with_suffix(".parquet").exists()


def _priority(rel: Path) -> int:
    name = rel.name.lower()
    if name == "run.json":
        return 9
    if any(name.startswith(key) for key in _FIRST) and "study" not in rel.parts:
        return 0
    if rel.suffix.lower() in (".png", ".svg"):
        return 1
    if name.endswith(".json"):
        return 2
    return 3


def sections_for_run(
    run_dir: str | Path,
    *,
    max_molecules: int = 48,
    skip: set[Path] | None = None,
    report_dir: Path | None = None,
) -> list[Section]:
    """Every section this run directory supports, in a stable (path) order; files and
    folders in ``skip`` (shown elsewhere, or the report's own) are left out."""
    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(f"{root}: run directory not found")
    skip = {p.resolve() for p in (skip or set())}
    base = report_dir if report_dir is not None else root
    found: list[tuple[int, str, list[Section]]] = []
    seen_dirs: set[Path] = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (
            any(part.startswith(".") for part in rel.parts)
            or any(p in seen_dirs for p in path.parents)
            or _skipped(rel, path)
            or path.resolve() in skip
            or any(p.resolve() in skip for p in path.parents)
        ):
            continue
        if path.is_dir():
            parts = sorted(path.glob("part-*.parquet"))
            if not parts:
                continue
            seen_dirs.add(path)
            if rel.name == "latent":  # encoded vectors: count only, never draw
                n = sum(_parquet_rows(p) for p in parts)
                found.append(
                    (
                        1,
                        str(rel),
                        [
                            Text(
                                f"{rel}",
                                f"{n} encoded molecules in {len(parts)} partition file(s).",
                            )
                        ],
                    )
                )
                continue
        elif path.name.startswith("part-") and path.parent in seen_dirs:
            continue
        priority = _priority(rel)
        try:
            link = _relative(path, base)
            found.append((priority, str(rel), _sections_for_path(path, rel, max_molecules, link)))
        except Exception as exc:  # a report must not die on one odd file
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            found.append((8, str(rel), [Text(f"{rel}: not shown", f"could not read: {message}")]))
    return [s for _, _, group in sorted(found, key=lambda f: f[:2]) for s in group]


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _relative(path: Path, base: Path) -> str:
    import os

    return Path(os.path.relpath(path, base)).as_posix()


def _sections_for_path(path: Path, rel: Path, max_molecules: int, link: str) -> list[Section]:
    name = str(rel)
    lower = path.name.lower()
    if path.is_dir() or _is_table(path):
        frame = _read_table(path)
        if frame.empty:
            return [Text(name, "empty table")]
        return sections_for_table(frame, name, max_molecules=max_molecules, link=link)
    if lower.endswith(".json") and path.stat().st_size <= _MAX_JSON_BYTES:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return [KeyValues(name, _shorten(data))]
        return []
    if lower.endswith(".png"):
        return [Plot(name, path.read_bytes())]
    if lower.endswith(".svg"):
        return [Plot(name, path.read_text(encoding="utf-8"))]
    return []


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def raw_files(root: Path, report_dir: Path, skip: set[Path]) -> Links:
    """Every file of the run, linked; a folder of partition files is one entry."""
    links: list[tuple[str, str, str]] = []
    skip = {p.resolve() for p in skip}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.startswith(".") for p in rel.parts) or path.resolve() in skip:
            continue
        if path.name.endswith(("-shm", "-wal", "-journal")):  # SQLite's working files
            continue
        if any(parent.name in _INTERNAL_DIRS for parent in path.parents if parent != root):
            continue
        if path.is_dir():
            if path.name in _INTERNAL_DIRS or rel.name == "results" or path.name == "latent":
                files = [f for f in path.rglob("*") if f.is_file()]
                note = f"folder, {len(files)} files, {_size(sum(f.stat().st_size for f in files))}"
                links.append((f"{rel}/", _relative(path, report_dir), note))
            continue
        if any(parent.name in ("results", "latent") for parent in rel.parents):
            continue
        links.append((str(rel), _relative(path, report_dir), _size(path.stat().st_size)))
    return Links("Raw files", links)


def _summary_path(out: Path) -> Path:
    """``summary.json`` beside the report, unless a step's own summary already lives there."""
    path = out.parent / "summary.json"
    if path.exists():
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("report") != out.name:
                return out.parent / f"{out.stem}_summary.json"
        except (OSError, ValueError, AttributeError):
            return out.parent / f"{out.stem}_summary.json"
    return path


def report_from_run(
    run_dir: str | Path,
    out_path: str | Path | None = None,
    *,
    title: str | None = None,
    max_molecules: int = 48,
    seed: int = 0,
) -> tuple[Path, int]:
    """Write ``<run_dir>/report.html`` (or ``out_path``) and its ``summary.json`` (the
    opening's numbers; see ``summary_path_for``); returns (path, number of sections).

    Top down: the question, the answer, the funnel, pictures, tables, raw files.
    A folder the story does not recognise gets a section per file it can read.
    """
    from molspace.report.html import build_report
    from molspace.report.story import tell

    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(f"{root}: run directory not found")
    out = Path(out_path) if out_path is not None else root / "report.html"
    summary_path = _summary_path(out)
    own = {out, summary_path}
    story = tell(root, out.parent, seed=seed, max_molecules=max_molecules)
    sections: list[Section] = [*story.opening, *story.evidence, *story.tables]
    if not sections:  # nothing recognised: what each file holds
        sections = sections_for_run(
            root, max_molecules=max_molecules, skip=own, report_dir=out.parent
        )
    if sections:
        sections.append(raw_files(root, out.parent, own))
    else:
        listing = ", ".join(sorted(p.name for p in root.iterdir())) or "(empty directory)"
        sections = [
            Text(
                "nothing to report",
                f"No tables, summaries or images were recognised in {root}. Contents: {listing}",
            )
        ]
    name = title or f"molspace report: {root.name}"
    build_report(
        sections,
        out,
        title=name,
        subtitle=str(root.resolve()),
        metadata={"run_dir": str(root.resolve())},
    )
    summary = {"report": out.name, "title": name, **story.summary}
    from molspace.io import atomic_path

    with atomic_path(summary_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return out, len(sections)


def summary_path_for(out_path: str | Path) -> Path:
    """Where ``report_from_run`` puts the summary of the report at ``out_path``."""
    return _summary_path(Path(out_path))
