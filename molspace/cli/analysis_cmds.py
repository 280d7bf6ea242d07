"""``interpolate``, ``explore``, ``map``, ``anomaly``: latent-space analyses from the shell.

Each command validates its options through the same pydantic model a workflow
step uses (``molspace.analysis.runs``), runs it, writes its tables plus a
self-contained ``report.html`` into ``--out`` and prints one line per output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

_MODEL = typer.Option(None, "--model", "-m", help="Model bundle directory [shipped MOSES model].")
_OUT = typer.Option(..., "--out", "-o", help="Output directory.")
_REPORT = typer.Option(True, "--report/--no-report", help="Also write OUT/report.html.")
_SEED = typer.Option(0, "--seed", min=0, help="Random seed.")
_SMILES_COLUMN = typer.Option(None, help="SMILES column (tables).")
_ID_COLUMN = typer.Option(None, help="ID column (tables).")


def _names(text: str) -> list[str]:
    """A comma-separated option as a list, blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _finish(paths: dict[str, Path], out: Path, report: bool, title: str) -> None:
    if report:
        from molspace.report.run_dir import report_from_run

        paths["report"], _ = report_from_run(out, title=title)
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")


def _config(model: type, values: dict[str, Any], source: str) -> Any:
    from molspace.config import parse_config

    return parse_config(model, {k: v for k, v in values.items() if v is not None}, source)


def interpolate(
    start: str = typer.Argument(..., help="SMILES of the start molecule."),
    end: str = typer.Argument(..., help="SMILES of the end molecule."),
    out: Path = _OUT,
    model: str | None = _MODEL,
    steps: int = typer.Option(20, help="Points along the path (endpoints included)."),
    method: str = typer.Option("slerp", help="slerp (spherical) or linear."),
    report: bool = _REPORT,
) -> None:
    """Walk from START to END in latent space; list the distinct molecules met."""
    from molspace.analysis.runs import InterpolateConfig, run_interpolate

    config = _config(
        InterpolateConfig,
        {"start": start, "end": end, "model": model, "steps": steps, "method": method},
        "interpolate",
    )
    _finish(run_interpolate(config, out), out, report, "molspace interpolate")


def explore(
    smiles: str = typer.Argument(..., help="SMILES of the query molecule."),
    out: Path = _OUT,
    model: str | None = _MODEL,
    mode: str = typer.Option("radius", help="radius (calibrated sampling) or direction."),
    band: tuple[float, float] = typer.Option((0.4, 0.7), help="Target Tanimoto band LOW HIGH."),
    n_samples: int = typer.Option(500, help="Latent samples decoded (radius mode)."),
    keep: str = typer.Option("band", help="band: only analogs in the band; all: every one."),
    rank_by: str | None = typer.Option(None, help="Rank by this property's change."),
    minimize: bool = typer.Option(False, "--minimize", help="Rank by decrease of --rank-by."),
    prop: str | None = typer.Option(None, "--property", help="Direction mode: property to move."),
    decrease: bool = typer.Option(False, "--decrease", help="Direction mode: lower it."),
    reference: str | None = typer.Option(None, help="Library to fit a ridge direction on."),
    seed: int = _SEED,
    report: bool = _REPORT,
) -> None:
    """Analogs of SMILES at a calibrated similarity, or along a property direction."""
    from molspace.analysis.runs import ExploreConfig, run_explore

    config = _config(
        ExploreConfig,
        {
            "smiles": smiles,
            "model": model,
            "mode": mode,
            "band": band,
            "n_samples": n_samples,
            "keep": keep,
            "rank_by": rank_by,
            "maximize": not minimize,
            "property": prop,
            "increase": not decrease,
            "reference": reference,
            "seed": seed,
        },
        "explore",
    )
    paths = run_explore(config, out)
    import json

    achieved = json.loads(paths["summary"].read_text())["achieved"]
    q = achieved.get("similarity_quantiles", {})
    typer.echo(
        f"analogs: {achieved['n_in_band']} in band {list(config.band)}; achieved "
        f"similarity median {q.get('q50', float('nan'))} (q10 {q.get('q10')}, "
        f"q90 {q.get('q90')}), {achieved['fraction_in_band']:.0%} of samples in band"
    )
    _finish(paths, out, report, "molspace explore")


def map_(
    library: str = typer.Argument(..., help="Library file or directory."),
    out: Path = _OUT,
    model: str | None = _MODEL,
    projection: str = typer.Option("pca", help="pca, umap (umap-learn) or tsne (openTSNE)."),
    clustering: str = typer.Option("kmeans", help="kmeans or hdbscan."),
    n_clusters: int = typer.Option(8, help="k for k-means."),
    min_cluster_size: int = typer.Option(10, help="HDBSCAN minimum cluster size."),
    max_molecules: int = typer.Option(20_000, help="Map at most this many molecules."),
    color_by: str = typer.Option("qed,clogp,mw", help="Comma-separated properties to colour by."),
    smiles_column: str | None = _SMILES_COLUMN,
    id_column: str | None = _ID_COLUMN,
    seed: int = _SEED,
    report: bool = _REPORT,
) -> None:
    """2D map and clusters of a library's latent vectors, with a representative per cluster."""
    from molspace.analysis.runs import MapConfig, run_map

    config = _config(
        MapConfig,
        {
            "library": library,
            "model": model,
            "projection": projection,
            "clustering": clustering,
            "n_clusters": n_clusters,
            "min_cluster_size": min_cluster_size,
            "max_molecules": max_molecules,
            "color_by": _names(color_by),
            "smiles_column": smiles_column,
            "id_column": id_column,
            "seed": seed,
        },
        "map",
    )
    _finish(run_map(config, out), out, report, "molspace map")


def anomaly(
    library: str = typer.Argument(..., help="Molecules to score (file or directory)."),
    out: Path = _OUT,
    reference: str | None = typer.Option(None, help="Reference library to fit on."),
    anomaly_model: str | None = typer.Option(None, help="A saved anomaly_model.json instead."),
    model: str | None = _MODEL,
    n_reference: int = typer.Option(10_000, help="Reference molecules used."),
    quantile: float = typer.Option(0.99, help="Reference quantile of the outlier threshold."),
    components: str = typer.Option(
        "density,nll",
        help="Signals to combine: density, nll, nll_total, elbo, reconstruction (comma list).",
    ),
    standardize: bool = typer.Option(
        True, "--standardize/--no-standardize", help="Largest fragment + neutralise before scoring."
    ),
    max_molecules: int | None = typer.Option(None, help="Score at most this many."),
    smiles_column: str | None = _SMILES_COLUMN,
    id_column: str | None = _ID_COLUMN,
    seed: int = _SEED,
    report: bool = _REPORT,
) -> None:
    """Score molecules for novelty vs a reference library; flag outliers."""
    from molspace.analysis.runs import AnomalyConfig, run_anomaly

    config = _config(
        AnomalyConfig,
        {
            "library": library,
            "reference": reference,
            "anomaly_model": anomaly_model,
            "model": model,
            "n_reference": n_reference,
            "quantile": quantile,
            "components": _names(components),
            "standardize": standardize,
            "max_molecules": max_molecules,
            "smiles_column": smiles_column,
            "id_column": id_column,
            "seed": seed,
        },
        "anomaly",
    )
    paths = run_anomaly(config, out)
    import json

    summary = json.loads(paths["summary"].read_text())
    typer.echo(
        f"scored {summary['n_scored']}: {summary['n_outliers']} outliers "
        f"({summary['n_unencodable']} not encodable), threshold "
        f"{summary['threshold']:.3f} at reference quantile {summary['quantile']}"
    )
    _finish(paths, out, report, "molspace anomaly")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("interpolate")(interpolate)
    app.command("explore")(explore)
    app.command("map")(map_)
    app.command("anomaly")(anomaly)
