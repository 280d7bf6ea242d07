"""Matplotlib figures for reports, built on ``Figure`` directly (no pyplot global state).

Each function returns a Figure; wrap it in ``Plot`` to embed it as inline PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "groups_map",
    "history_plot",
    "property_histograms",
    "scatter_map",
    "score_histogram",
    "search_history_plot",
    "similarity_path_plot",
]


def property_histograms(
    frames: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    *,
    bins: int = 30,
    per_row: int = 4,
) -> Figure:
    """One small histogram per column, overlaying each named frame (e.g. hits vs library)."""
    columns = [c for c in columns if any(c in f.columns for f in frames.values())]
    n = max(len(columns), 1)
    ncols = min(per_row, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, column in zip(axes, columns, strict=False):
        series = {
            name: pd.to_numeric(f[column], errors="coerce").dropna().to_numpy(dtype=float)
            for name, f in frames.items()
            if column in f.columns
        }
        series = {name: v[np.isfinite(v)] for name, v in series.items()}
        values = [v for v in series.values() if len(v)]
        if not values:
            ax.set_title(f"{column} (no values)", fontsize=9)
            continue
        lo = min(float(v.min()) for v in values)
        hi = max(float(v.max()) for v in values)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        for name, v in series.items():
            if len(v):
                ax.hist(v, bins=edges, alpha=0.55, density=len(series) > 1, label=name)
        ax.set_title(column, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    if len(frames) > 1 and columns:
        axes[0].legend(fontsize=7)
    return fig


def scatter_map(
    coords: np.ndarray,
    values: Sequence[float] | np.ndarray | None = None,
    *,
    label: str = "",
    categorical: bool = False,
    highlight: np.ndarray | None = None,
    title: str = "",
    axis_labels: tuple[str, str] = ("component 1", "component 2"),
) -> Figure:
    """A 2D map of molecules coloured by a property (continuous) or a cluster label (categorical).

    ``highlight`` marks selected points (e.g. cluster representatives) with a black outline.
    """
    coords = np.asarray(coords, dtype=float)
    fig = Figure(figsize=(6.4, 5.0), layout="constrained")
    ax = fig.subplots()
    size = max(2.0, min(24.0, 4000.0 / max(len(coords), 1)))
    if values is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=size, c="#2d6a9f", alpha=0.7, linewidths=0)
    elif categorical:
        labels = np.asarray(values)
        cmap = matplotlib.colormaps["tab20"]
        for i, lab in enumerate(sorted(set(labels.tolist()))):
            mask = labels == lab
            color = "#bbbbbb" if lab == -1 else cmap(i % 20)
            name = "noise" if lab == -1 else str(lab)
            ax.scatter(
                coords[mask, 0],
                coords[mask, 1],
                s=size,
                color=color,
                alpha=0.75,
                linewidths=0,
                label=name,
            )
        if len(set(labels.tolist())) <= 20:
            ax.legend(
                fontsize=7,
                markerscale=2,
                title=label or None,
                title_fontsize=8,
                loc="best",
                frameon=False,
            )
    else:
        v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype=float)
        order = np.argsort(np.nan_to_num(v, nan=-np.inf))  # high values drawn on top
        points = ax.scatter(
            coords[order, 0],
            coords[order, 1],
            s=size,
            c=v[order],
            cmap="viridis",
            alpha=0.8,
            linewidths=0,
        )
        fig.colorbar(points, ax=ax, label=label)
    if highlight is not None and len(highlight):
        h = coords[np.asarray(highlight, dtype=int)]
        ax.scatter(h[:, 0], h[:, 1], s=60, facecolors="none", edgecolors="black", linewidths=1.2)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def cluster_map(frame: pd.DataFrame, coords: np.ndarray) -> tuple[Figure, np.ndarray | None]:
    """The map of a clustering coloured by cluster, its representatives outlined.

    Returns the figure and the representatives' row positions in ``frame`` (None where
    the frame has no ``representative`` column), so a report can show them as molecules.
    """
    reps = (
        np.flatnonzero(frame["representative"].astype(bool).to_numpy())
        if "representative" in frame
        else None
    )
    figure = scatter_map(
        coords, frame["cluster"].to_numpy(), label="cluster", categorical=True, highlight=reps
    )
    return figure, reps


def similarity_path_plot(frame: pd.DataFrame) -> Figure:
    """Similarity to the start and end molecules along an interpolation path."""
    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(frame["t"], frame["sim_start"], marker="o", label="similarity to start")
    ax.plot(frame["t"], frame["sim_end"], marker="s", label="similarity to end")
    ax.set_xlabel("path position t")
    ax.set_ylabel("Tanimoto")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    return fig


def history_plot(
    values: Sequence[float] | np.ndarray,
    *,
    maximize: bool = True,
    label: str = "objective",
    x: Sequence[float] | np.ndarray | None = None,
) -> Figure:
    """Optimization history: every trial's value and the best-so-far curve."""
    v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype=float)
    xs = np.arange(len(v)) if x is None else np.asarray(x, dtype=float)
    filled = np.where(np.isnan(v), -np.inf if maximize else np.inf, v)
    best = np.maximum.accumulate(filled) if maximize else np.minimum.accumulate(filled)
    best = np.where(np.isinf(best), np.nan, best)
    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.scatter(xs, v, s=8, alpha=0.5, label="trial")
    ax.plot(xs, best, color="black", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
    return fig


def search_history_plot(
    table: pd.DataFrame, value: str = "score", *, best_hit: float | None = None, k: int = 10
) -> Figure:
    """Best and top-``k`` mean against oracle calls, every molecule as a faint point, and
    the best screened hit as a horizontal line: did the search beat the screen, and when."""
    ordered = table.sort_values("oracle_call")
    calls = ordered["oracle_call"].to_numpy(dtype=float)
    scores = pd.to_numeric(ordered[value], errors="coerce").to_numpy(dtype=float)
    filled = np.where(np.isfinite(scores), scores, -np.inf)
    best = np.maximum.accumulate(filled)
    top = np.full(len(filled), np.nan)
    kept: list[float] = []  # the k best so far, kept sorted (k is small)
    for i, v in enumerate(filled):
        if np.isfinite(v):
            kept.append(float(v))
            kept.sort(reverse=True)
            del kept[k:]
        if len(kept) == k:
            top[i] = float(np.mean(kept))
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.scatter(calls, scores, s=5, alpha=0.25, color="#7a8a96", linewidths=0, label="molecule")
    ax.plot(calls, np.where(np.isfinite(best), best, np.nan), color="#2d6a9f", label="best")
    ax.plot(calls, top, color="#d17a22", label=f"top-{k} mean")
    if best_hit is not None and np.isfinite(best_hit):
        ax.axhline(best_hit, color="black", linestyle="--", linewidth=1, label="best screened hit")
    ax.set_xlabel("oracle calls (distinct molecules scored)")
    ax.set_ylabel(value)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def groups_map(
    coords: Mapping[str, np.ndarray],
    *,
    axis_labels: tuple[str, str] = ("component 1", "component 2"),
) -> Figure:
    """Several groups of points on one 2D map, the first (e.g. a library sample) in grey
    underneath and later groups drawn on top."""
    fig = Figure(figsize=(7.4, 5.0), layout="constrained")
    ax = fig.subplots()
    colors = ["#2d6a9f", "#d17a22", "#3a9d5d", "#9d3a8c"]
    for i, (name, xy) in enumerate(coords.items()):
        xy = np.asarray(xy, dtype=float)
        if name.startswith("library"):
            ax.scatter(xy[:, 0], xy[:, 1], s=6, color="#c3ccd3", linewidths=0, label=name)
            continue
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=22,
            color=colors[i % len(colors)],
            alpha=0.85,
            edgecolors="white",
            linewidths=0.4,
            label=name,
        )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    # outside the axes: no point hidden, and no slow search for the emptiest corner
    ax.legend(fontsize=8, markerscale=1.5, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return fig


def score_histogram(
    values: Sequence[float] | np.ndarray | pd.Series,
    *,
    threshold: float | None = None,
    label: str = "anomaly score",
    bins: int = 40,
) -> Figure:
    """One histogram with an optional threshold line (e.g. the outlier cut)."""
    v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    if len(v):
        ax.hist(v, bins=bins, color="#2d6a9f", alpha=0.8)
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label="threshold")
        ax.legend(fontsize=8)
    ax.set_xlabel(label)
    ax.set_ylabel("molecules")
    return fig
