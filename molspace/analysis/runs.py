"""Analyses as runs: validated settings in, output files out.

The CLI verbs and the workflow steps both call these.

Each ``run_*`` writes tables the run-directory report recognises by their
columns, plus a JSON summary with the settings, what was achieved, counts and
versions, and returns ``{output name: path}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from molspace.analysis.common import DEFAULT_PROPERTIES, properties_frame, write_json
from molspace.config import StrictModel
from molspace.errors import ConfigError

__all__ = [
    "AnomalyConfig",
    "ExploreConfig",
    "InterpolateConfig",
    "MapConfig",
    "read_smiles_library",
    "run_anomaly",
    "run_explore",
    "run_interpolate",
    "run_map",
]


def _check_properties(names: Sequence[str]) -> None:
    from molspace.chem import PROPERTY_NAMES

    unknown = [n for n in names if n not in PROPERTY_NAMES]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; choose from {', '.join(PROPERTY_NAMES)}")


class InterpolateConfig(StrictModel):
    """``[steps.interpolate]`` / ``molspace interpolate``."""

    start: str = Field(min_length=1)
    end: str = Field(min_length=1)
    model: str | None = None
    steps: int = Field(20, ge=2, le=10_000)
    method: Literal["slerp", "linear"] = "slerp"
    properties: list[str] = Field(default_factory=lambda: list(DEFAULT_PROPERTIES))

    @model_validator(mode="after")
    def _props(self) -> InterpolateConfig:
        _check_properties(self.properties)
        return self


class ExploreConfig(StrictModel):
    """``[steps.explore]`` / ``molspace explore``: analogs of one molecule."""

    smiles: str = Field(min_length=1)
    model: str | None = None
    mode: Literal["radius", "direction"] = "radius"
    band: tuple[float, float] = (0.4, 0.7)
    n_samples: int = Field(500, ge=1, le=1_000_000)
    n_probe: int = Field(32, ge=4, le=4096)
    keep: Literal["band", "all"] = "band"
    properties: list[str] = Field(default_factory=lambda: list(DEFAULT_PROPERTIES))
    rank_by: str | None = None
    maximize: bool = True
    # direction mode
    property: str | None = None
    increase: bool = True
    reference: str | None = None  # library to fit a ridge direction (when the model has no head)
    n_reference: int = Field(2000, ge=20, le=1_000_000)
    n_steps: int = Field(12, ge=1, le=1000)
    samples_per_step: int = Field(16, ge=1, le=10_000)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> ExploreConfig:
        low, high = self.band
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"band must satisfy 0 <= low < high <= 1, got {list(self.band)}")
        _check_properties(self.properties)
        if self.rank_by is not None:
            _check_properties([self.rank_by])
        if self.mode == "direction":
            if self.property is None:
                raise ValueError("mode = 'direction' needs property (e.g. property = 'qed')")
            _check_properties([self.property])
        return self


class MapConfig(StrictModel):
    """``[steps.map]`` / ``molspace map``: a 2D map and clusters of a library."""

    library: str = Field(min_length=1)
    model: str | None = None
    projection: Literal["pca", "umap", "tsne"] = "pca"
    clustering: Literal["kmeans", "hdbscan"] = "kmeans"
    n_clusters: int = Field(8, ge=1, le=1000)
    min_cluster_size: int = Field(10, ge=2)
    max_molecules: int = Field(20_000, ge=10)
    color_by: list[str] = Field(default_factory=lambda: ["qed", "clogp", "mw"])
    smiles_column: str | None = None
    id_column: str | None = None
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _props(self) -> MapConfig:
        _check_properties(self.color_by)
        return self


class AnomalyConfig(StrictModel):
    """``[steps.anomaly]`` / ``molspace anomaly``: score a library against a reference."""

    library: str = Field(min_length=1)
    reference: str | None = None  # reference library to fit on, or ...
    anomaly_model: str | None = None  # ... a saved anomaly_model.json
    model: str | None = None
    n_reference: int = Field(10_000, ge=100, le=1_000_000)
    quantile: float = Field(0.99, ge=0.5, lt=1.0)
    components: list[Literal["density", "nll", "nll_total", "elbo", "reconstruction"]] = Field(
        default_factory=lambda: ["density", "nll"],  # type: ignore[arg-type]
        description="signals combined (Fisher): latent density, teacher-forced NLL per token "
        "(nll) or in total, the negative ELBO, greedy reconstruction failure",
    )
    standardize: bool = True
    max_molecules: int | None = Field(None, ge=1)
    smiles_column: str | None = None
    id_column: str | None = None
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _source(self) -> AnomalyConfig:
        if (self.reference is None) == (self.anomaly_model is None):
            raise ValueError("give exactly one of reference (a library) or anomaly_model (a file)")
        if "density" not in self.components:
            raise ValueError("components must include 'density'")
        return self


def read_smiles_library(
    path: str | Path,
    *,
    limit: int | None = None,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records (source,row,id,smiles) and reader rejects of a library, at most ``limit`` records."""
    from molspace.io import read_library

    records, rejects = [], []
    n = 0
    for chunk in read_library(path, smiles_column=smiles_column, id_column=id_column):
        take = chunk.records if limit is None else chunk.records.head(limit - n)
        records.append(take)
        rejects.append(chunk.rejects)
        n += len(take)
        if limit is not None and n >= limit:
            break
    cols = ["source", "row", "id", "smiles"]
    frame = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=cols)
    bad = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame()
    return frame, bad


def _space(model: str | None) -> Any:
    from molspace.latent import LatentSpace

    return LatentSpace.load(model)


def _summary(out: Path, name: str, payload: dict[str, Any]) -> Path:
    from molspace.versions import versions

    return write_json(out / name, {**payload, "versions": versions()})


def run_interpolate(
    config: InterpolateConfig, out_dir: str | Path, space: Any = None
) -> dict[str, Path]:
    """Write ``interpolation.csv`` (the path) and ``interpolation.json``."""
    from molspace.analysis.interpolate import interpolate
    from molspace.io import write_table

    out = Path(out_dir)
    space = space if space is not None else _space(config.model)
    frame = interpolate(
        space,
        config.start,
        config.end,
        steps=config.steps,
        method=config.method,
        properties=config.properties,
    )
    table = write_table(frame, out / "interpolation.csv")
    summary = _summary(
        out,
        "interpolation.json",
        {
            "settings": config.model_dump(),
            "start": frame.attrs["start"],
            "end": frame.attrs["end"],
            "n_distinct_decoded": frame.attrs["n_distinct_decoded"],
            "n_rows": len(frame),
            "n_valid": int(frame["valid"].sum()),
        },
    )
    return {"path": table, "summary": summary}


def run_explore(config: ExploreConfig, out_dir: str | Path, space: Any = None) -> dict[str, Path]:
    """Write ``analogs.csv`` (ranked analogs) and ``explore.json`` (asked vs achieved)."""
    from molspace.analysis import explore
    from molspace.io import write_table

    out = Path(out_dir)
    space = space if space is not None else _space(config.model)
    if config.mode == "radius":
        result = explore.explore_radius(
            space,
            config.smiles,
            band=config.band,
            n_samples=config.n_samples,
            n_probe=config.n_probe,
            seed=config.seed,
            properties=config.properties,
            rank_by=config.rank_by,
            maximize=config.maximize,
            keep=config.keep,
        )
    else:
        assert config.property is not None
        direction = _direction(space, config)
        result = explore.explore_direction(
            space,
            config.smiles,
            direction,
            increase=config.increase,
            band=config.band,
            n_steps=config.n_steps,
            samples_per_step=config.samples_per_step,
            n_probe=min(config.n_probe, 16),
            seed=config.seed,
            properties=config.properties,
            keep=config.keep,
        )
    analogs = write_table(result.analogs, out / "analogs.csv")
    summary = _summary(out, "explore.json", {"settings": config.model_dump(), **result.summary()})
    return {"analogs": analogs, "summary": summary}


def _direction(space: Any, config: ExploreConfig) -> Any:
    from molspace.analysis import explore

    name = config.property
    assert name is not None
    if name in getattr(space, "property_names", ()):
        query = explore._encode_query(space, config.smiles)[1]
        return explore.head_direction(space, query, name)
    if config.reference is None:
        heads = ", ".join(getattr(space, "property_names", ())) or "none"
        raise ConfigError(
            f"the model has no property head for {name!r} (heads: {heads}); give reference = "
            "a library to fit a ridge direction on"
        )
    records, _ = read_smiles_library(config.reference, limit=config.n_reference)
    return explore.reference_direction(space, records["smiles"].tolist(), name, seed=config.seed)


def run_map(config: MapConfig, out_dir: str | Path, space: Any = None) -> dict[str, Path]:
    """Write ``map.parquet`` (x, y, cluster, representative, properties), ``clusters.csv``,
    ``map.json`` and ``rejects.csv`` (molecules that could not be read or encoded)."""
    from molspace.analysis.common import encode_with_reasons
    from molspace.analysis.maps import cluster, cluster_table, project
    from molspace.io import write_table

    out = Path(out_dir)
    space = space if space is not None else _space(config.model)
    records, reader_rejects = read_smiles_library(
        config.library,
        limit=config.max_molecules,
        smiles_column=config.smiles_column,
        id_column=config.id_column,
    )
    z, reasons = encode_with_reasons(space, records["smiles"].astype(str).tolist())
    ok = np.array([r is None for r in reasons], dtype=bool)
    rejects = _rejects(records, reasons, reader_rejects)
    kept = records.loc[ok].reset_index(drop=True)
    coords, info = project(z[ok], config.projection, seed=config.seed)
    clusters = cluster(
        z[ok],
        config.clustering,
        n_clusters=min(config.n_clusters, len(kept)),
        min_cluster_size=config.min_cluster_size,
        seed=config.seed,
    )
    frame = kept[["id", "smiles"]].copy()
    frame["x"], frame["y"] = coords[:, 0], coords[:, 1]
    frame["cluster"] = clusters.labels
    frame["representative"] = False
    frame.loc[list(clusters.representatives.values()), "representative"] = True
    props = properties_frame(frame["smiles"].tolist(), config.color_by)
    frame = pd.concat([frame, props], axis=1)
    paths = {
        "map": write_table(frame, out / "map.parquet"),
        "clusters": write_table(
            cluster_table(frame, clusters, config.color_by), out / "clusters.csv"
        ),
        "rejects": write_table(rejects, out / "rejects.csv"),
    }
    paths["summary"] = _summary(
        out,
        "map.json",
        {
            "settings": config.model_dump(),
            "projection": info,
            "n_clusters": clusters.n_clusters,
            "n_noise": int((clusters.labels == -1).sum()),
            "n_read": len(records) + len(reader_rejects),
            "n_mapped": len(frame),
            "n_rejected": len(rejects),
        },
    )
    return paths


def _rejects(
    records: pd.DataFrame, reasons: list[str | None], reader_rejects: pd.DataFrame
) -> pd.DataFrame:
    bad = [i for i, r in enumerate(reasons) if r is not None]
    cols = ["source", "row", "id", "input", "reason"]
    rows = pd.DataFrame(
        {
            "source": records["source"].iloc[bad].astype(str).to_numpy(),
            "row": records["row"].iloc[bad].astype("int64").to_numpy(),
            "id": records["id"].iloc[bad].astype(str).to_numpy(),
            "input": records["smiles"].iloc[bad].astype(str).to_numpy(),
            "reason": [reasons[i] for i in bad],
        },
        columns=cols,
    )
    if len(reader_rejects):
        rows = pd.concat([reader_rejects.reindex(columns=cols), rows], ignore_index=True)
    return rows


def standardized_smiles(smiles: Sequence[str]) -> list[str]:
    """Largest fragment, neutralised, canonical; the input unchanged where that fails
    (the scorer then reports the original reason)."""
    from molspace.chem import canonical_smiles, parse_smiles, standardize

    out = []
    for smi in smiles:
        parsed = parse_smiles(smi)
        if not parsed.ok:
            out.append(smi)
            continue
        result = standardize(parsed.mol)
        out.append(canonical_smiles(result.mol) if result.ok else smi)
    return out


def run_anomaly(config: AnomalyConfig, out_dir: str | Path, space: Any = None) -> dict[str, Path]:
    """Write ``anomaly_scores.csv`` (every input row), ``anomaly_model.json``, ``anomaly.json``."""
    from molspace.analysis.anomaly import AnomalyModel, fit_anomaly_model, score_anomalies
    from molspace.io import write_table

    out = Path(out_dir)
    space = space if space is not None else _space(config.model)
    if config.anomaly_model is not None:
        model = AnomalyModel.load(config.anomaly_model)
    else:
        assert config.reference is not None
        reference, _ = read_smiles_library(config.reference, limit=config.n_reference)
        ref_smiles = reference["smiles"].astype(str).tolist()
        if config.standardize:
            ref_smiles = standardized_smiles(ref_smiles)
        model = fit_anomaly_model(
            space,
            ref_smiles,
            components=config.components,
            quantile=config.quantile,
            seed=config.seed,
            info={"reference": config.reference},
        )
    records, reader_rejects = read_smiles_library(
        config.library,
        limit=config.max_molecules,
        smiles_column=config.smiles_column,
        id_column=config.id_column,
    )
    smiles = records["smiles"].astype(str).tolist()
    scored_smiles = standardized_smiles(smiles) if config.standardize else smiles
    scores = score_anomalies(space, model, scored_smiles, records["id"].astype(str).tolist())
    scores.insert(2, "input", smiles)
    scores = scores.sort_values("anomaly_score", ascending=False, kind="stable")
    paths = {"scores": write_table(scores, out / "anomaly_scores.csv")}
    if len(reader_rejects):
        paths["rejects"] = write_table(reader_rejects, out / "rejects.csv")
    paths["model"] = model.save(out / "anomaly_model.json")
    paths["summary"] = _summary(
        out,
        "anomaly.json",
        {
            "settings": config.model_dump(),
            "threshold": model.threshold,
            "quantile": model.quantile,
            "model_info": model.info,
            "n_read": len(records) + len(reader_rejects),
            "n_scored": len(scores),
            "n_unreadable": len(reader_rejects),
            "n_unencodable": int((scores["status"] != "ok").sum()),
            "n_outliers": int(scores["outlier"].sum()),
        },
    )
    return paths
