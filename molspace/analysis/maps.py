"""2D maps and clusters of encoded libraries: pure functions on latent arrays.

PCA is always available (scikit-learn); UMAP (``umap-learn``) and openTSNE are
used when installed, which is checked at call time so the import costs nothing
for users who never ask for them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from molspace.errors import ConfigError, InputError

__all__ = [
    "CLUSTER_METHODS",
    "PROJECTIONS",
    "ClusterResult",
    "available_projections",
    "cluster",
    "cluster_table",
    "map_library",
    "project",
]

PROJECTIONS = ("pca", "umap", "tsne")
CLUSTER_METHODS = ("kmeans", "hdbscan")
_OPTIONAL = {"umap": ("umap", "umap-learn"), "tsne": ("openTSNE", "openTSNE")}


def available_projections() -> list[str]:
    """Projection methods usable in this environment (PCA always)."""
    found = ["pca"]
    for method, (module, _) in _OPTIONAL.items():
        if importlib.util.find_spec(module) is not None:
            found.append(method)
    return found


def _check_matrix(z: np.ndarray, minimum: int) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise InputError(f"latent matrix must be 2D (n, d), got shape {z.shape}")
    if len(z) < minimum:
        raise InputError(f"need at least {minimum} encoded molecules, got {len(z)}")
    if not np.isfinite(z).all():
        raise InputError("latent matrix contains NaN or infinite values")
    return z


def project(
    z: np.ndarray, method: str = "pca", *, n_components: int = 2, seed: int = 0
) -> tuple[np.ndarray, dict[str, object]]:
    """Project latent vectors to ``n_components`` dimensions.

    Returns the coordinates and a small info dict (for PCA the explained variance
    ratio, so a reader can judge how much of the space the map shows).
    """
    if method not in PROJECTIONS:
        raise ConfigError(f"unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}")
    z = _check_matrix(z, minimum=max(3, n_components + 1))
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(n_components, z.shape[1]), random_state=seed)
        coords = pca.fit_transform(z)
        ratio = [round(float(r), 4) for r in pca.explained_variance_ratio_]
        return coords, {"method": "pca", "explained_variance_ratio": ratio}
    module, package = _OPTIONAL[method]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"projection {method!r} needs the optional package {package!r} "
            f"(pip install {package}); available: {', '.join(available_projections())}"
        )
    if method == "umap":
        import umap

        neighbors = min(15, len(z) - 1)
        reducer = umap.UMAP(n_components=n_components, n_neighbors=neighbors, random_state=seed)
        return np.asarray(reducer.fit_transform(z)), {"method": "umap", "n_neighbors": neighbors}
    from openTSNE import TSNE

    perplexity = float(min(30.0, max(2.0, (len(z) - 1) / 3.0)))
    embedding = TSNE(n_components=n_components, perplexity=perplexity, random_state=seed).fit(z)
    return np.asarray(embedding), {"method": "tsne", "perplexity": perplexity}


@dataclass(frozen=True)
class ClusterResult:
    """Labels (-1 = noise for HDBSCAN) and one representative row index per cluster."""

    labels: np.ndarray
    representatives: dict[int, int]
    method: str

    @property
    def n_clusters(self) -> int:
        return len(self.representatives)


def _medoids(z: np.ndarray, labels: np.ndarray, centers: dict[int, np.ndarray]) -> dict[int, int]:
    """Index of the member closest to each cluster's centre: a real molecule to show."""
    reps: dict[int, int] = {}
    for label, center in centers.items():
        members = np.flatnonzero(labels == label)
        distances = np.linalg.norm(z[members] - center, axis=1)
        reps[int(label)] = int(members[int(np.argmin(distances))])
    return reps


def cluster(
    z: np.ndarray,
    method: str = "kmeans",
    *,
    n_clusters: int = 8,
    min_cluster_size: int = 10,
    seed: int = 0,
) -> ClusterResult:
    """Cluster latent vectors with k-means or HDBSCAN (scikit-learn).

    Representatives are the member nearest the k-means centroid, or for HDBSCAN
    the member nearest the cluster's medoid (robust to elongated clusters).
    """
    if method not in CLUSTER_METHODS:
        raise ConfigError(
            f"unknown clustering method {method!r}; choose one of {', '.join(CLUSTER_METHODS)}"
        )
    if method == "kmeans":
        if n_clusters < 1:
            raise ConfigError(f"n_clusters must be >= 1, got {n_clusters}")
        z = _check_matrix(z, minimum=n_clusters)
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(z)
        labels = model.labels_.astype(int)
        centers = {int(k): model.cluster_centers_[k] for k in np.unique(labels)}
        return ClusterResult(labels, _medoids(z, labels, centers), "kmeans")
    if min_cluster_size < 2:
        raise ConfigError(f"min_cluster_size must be >= 2, got {min_cluster_size}")
    z = _check_matrix(z, minimum=min_cluster_size)
    from sklearn.cluster import HDBSCAN

    model = HDBSCAN(min_cluster_size=min_cluster_size, store_centers="medoid", copy=True).fit(z)
    labels = model.labels_.astype(int)
    found = sorted(int(k) for k in np.unique(labels) if k >= 0)
    centers = {k: model.medoids_[i] for i, k in enumerate(found)}
    return ClusterResult(labels, _medoids(z, labels, centers), "hdbscan")


def cluster_table(
    records: pd.DataFrame, result: ClusterResult, property_columns: list[str] | None = None
) -> pd.DataFrame:
    """One row per cluster: size, representative id/smiles, mean of chosen properties."""
    rows = []
    labels = pd.Series(result.labels, index=records.index)
    for label, rep in sorted(result.representatives.items()):
        members = records[labels == label]
        row: dict[str, object] = {
            "cluster": label,
            "size": len(members),
            "representative_id": records["id"].iloc[rep] if "id" in records else str(rep),
            "representative_smiles": records["smiles"].iloc[rep],
        }
        for column in property_columns or []:
            if column in records:
                row[f"mean_{column}"] = float(pd.to_numeric(members[column]).mean())
        rows.append(row)
    noise = int((result.labels == -1).sum())
    if noise:
        rows.append(
            {"cluster": -1, "size": noise, "representative_id": "", "representative_smiles": ""}
        )
    return pd.DataFrame(rows)


def map_library(
    space: Any,
    smiles: Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    projection: str = "pca",
    clustering: str = "kmeans",
    n_clusters: int = 8,
    min_cluster_size: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """A 2D map and clusters of ``smiles`` in ``space``'s latent space, one row per input
    in input order: id, smiles, status ("ok" or "unencodable"), reason, x, y, cluster
    (-1: HDBSCAN noise or not encodable), representative (the medoid of its cluster).
    Molecules that cannot be encoded keep their row with the reason and no coordinates."""
    from molspace.analysis.common import encode_with_reasons

    smiles = [str(s) for s in smiles]
    z, reasons = encode_with_reasons(space, smiles)
    ok = np.array([r is None for r in reasons], dtype=bool)
    frame = pd.DataFrame(
        {
            "id": list(ids) if ids is not None else [str(i + 1) for i in range(len(smiles))],
            "smiles": smiles,
            "status": np.where(ok, "ok", "unencodable"),
            "reason": [r or "" for r in reasons],
            "x": np.nan,
            "y": np.nan,
            "cluster": -1,
            "representative": False,
        }
    )
    if ok.sum() < 2:
        raise InputError(f"a map needs at least two encodable molecules, got {int(ok.sum())}")
    coords, _ = project(z[ok], projection, seed=seed)
    found = cluster(
        z[ok],
        clustering,
        n_clusters=min(n_clusters, int(ok.sum())),
        min_cluster_size=min_cluster_size,
        seed=seed,
    )
    rows = np.flatnonzero(ok)
    frame.loc[rows, "x"], frame.loc[rows, "y"] = coords[:, 0], coords[:, 1]
    frame.loc[rows, "cluster"] = found.labels
    frame.loc[rows[list(found.representatives.values())], "representative"] = True
    return frame
