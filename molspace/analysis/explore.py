"""Analog generation around a molecule, with the latent radius calibrated to a similarity band.

A fixed noise level means nothing to a chemist: for one model and one molecule a
radius of 1 changes nothing, for another it returns random molecules. So the
radius is *searched*: on a probe batch of fixed random directions (the same
directions at every radius, which keeps the median similarity monotone enough to
bisect) we find the radius where the median Tanimoto to the query equals the
upper edge of the requested band and the one where it equals the lower edge,
then sample radii between the two. What was actually achieved is reported next
to what was asked for.

A second mode steps along a property direction: the gradient of the model's
property head when it predicts that property, else a ridge regression of the
property on encoded reference molecules (its cross-validated R² is reported so a
useless direction is visible).

Both kinds of exploration (calibrated radii and property directions) share the
sampling, decoding and calibration helpers here, hence one module of about 500 lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from molspace.analysis.common import (
    DEFAULT_PROPERTIES,
    canonicalize,
    encode_with_reasons,
    fingerprints,
    properties_frame,
    query_molecule,
    similarity_to,
)
from molspace.errors import ConfigError, InputError

__all__ = [
    "ExploreResult",
    "PropertyDirection",
    "RadiusCalibration",
    "calibrate_radius",
    "explore_direction",
    "explore_radius",
    "fit_property_direction",
    "head_direction",
    "random_directions",
]


def random_directions(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` unit vectors uniform on the sphere in ``dim`` dimensions."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _check_band(band: tuple[float, float]) -> tuple[float, float]:
    low, high = float(band[0]), float(band[1])
    if not 0.0 <= low < high <= 1.0:
        raise ConfigError(f"similarity band must satisfy 0 <= low < high <= 1, got {band}")
    return low, high


@dataclass
class _Probe:
    radius: float
    median: float
    q10: float
    q90: float
    valid: float  # fraction of probe decodings that parse


def _probe(
    space: Any, z0: np.ndarray, ref_fp: Any, directions: np.ndarray, radius: float
) -> _Probe:
    decoded = space.decode(z0[None, :] + radius * directions, temperature=0.0)
    fps = fingerprints(decoded)
    sims = similarity_to(ref_fp, fps)
    return _Probe(
        radius=float(radius),
        median=float(np.median(sims)),
        q10=float(np.quantile(sims, 0.1)),
        q90=float(np.quantile(sims, 0.9)),
        valid=float(np.mean([fp is not None for fp in fps])),
    )


@dataclass
class RadiusCalibration:
    """The radius where the probe median similarity meets ``target`` and every probe tried."""

    target: float
    radius: float
    achieved_median: float
    reached: bool
    probes: list[dict[str, float]] = field(default_factory=list)


def calibrate_radius(
    space: Any,
    z0: np.ndarray,
    ref_fp: Any,
    target: float,
    *,
    n_probe: int = 32,
    seed: int = 0,
    max_radius: float | None = None,
    tolerance: float = 0.03,
    max_evaluations: int = 14,
) -> RadiusCalibration:
    """Bracket then bisect the radius at which median Tanimoto(query, decoded) ≈ ``target``.

    Similarity falls with radius; the search doubles an upper bound until the median
    drops below ``target`` (at most ``max_radius``, default 4·sqrt(d), far outside the
    prior's shell) and bisects between the last two radii. ``reached`` is False when
    even ``max_radius`` keeps the median above ``target`` (the decoder ignores the
    perturbation) or radius 0 is already below it (the query does not reconstruct).
    """
    d = len(z0)
    max_radius = float(max_radius if max_radius is not None else 4.0 * np.sqrt(d))
    directions = random_directions(n_probe, d, seed)
    probes: list[_Probe] = []

    def run(radius: float) -> _Probe:
        probe = _probe(space, z0, ref_fp, directions, radius)
        probes.append(probe)
        return probe

    def result(best: _Probe, reached: bool) -> RadiusCalibration:
        return RadiusCalibration(
            target,
            best.radius,
            best.median,
            reached,
            [asdict(p) for p in sorted(probes, key=lambda p: p.radius)],
        )

    at_zero = run(0.0)
    if at_zero.median <= target:
        return result(at_zero, abs(at_zero.median - target) <= tolerance)
    lo, hi = 0.0, min(0.5, max_radius)
    probe_hi = run(hi)
    while probe_hi.median > target and hi < max_radius and len(probes) < max_evaluations:
        lo, hi = hi, min(hi * 2.0, max_radius)
        probe_hi = run(hi)
    if probe_hi.median > target:
        return result(probe_hi, False)
    best = probe_hi
    while len(probes) < max_evaluations and abs(best.median - target) > tolerance:
        mid = 0.5 * (lo + hi)
        probe = run(mid)
        if abs(probe.median - target) < abs(best.median - target):
            best = probe
        if probe.median > target:
            lo = mid
        else:
            hi = mid
    return result(best, abs(best.median - target) <= tolerance)


def _best_yield_radius(
    space: Any, z0: np.ndarray, ref_fp: Any, band: tuple[float, float], n_probe: int, seed: int
) -> float:
    """Radius (on a doubling grid) whose probe decodings fall inside ``band`` most often."""
    directions = random_directions(n_probe, len(z0), seed)
    best_radius, best_yield = 0.25, -1.0
    for radius in 0.125 * 2.0 ** np.arange(7):
        decoded = space.decode(z0[None, :] + radius * directions, temperature=0.0)
        sims = similarity_to(ref_fp, fingerprints(decoded))
        hit = float(np.mean((sims >= band[0]) & (sims <= band[1])))
        if hit > best_yield:
            best_radius, best_yield = float(radius), hit
    return best_radius


@dataclass
class ExploreResult:
    """Ranked analogs plus what was asked for and what was achieved."""

    query: str
    analogs: pd.DataFrame
    settings: dict[str, Any]
    achieved: dict[str, Any]
    calibration: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the run (written next to the analogs table)."""
        return {
            "query": self.query,
            "settings": self.settings,
            "achieved": self.achieved,
            "calibration": self.calibration,
        }


def _achieved(
    sims: np.ndarray, valid: np.ndarray, band: tuple[float, float], n_distinct: int, n_in_band: int
) -> dict[str, Any]:
    s = sims[valid]
    quant = (
        {
            f"q{int(q * 100):02d}": round(float(np.quantile(s, q)), 4)
            for q in (0.1, 0.25, 0.5, 0.75, 0.9)
        }
        if len(s)
        else {}
    )
    return {
        "n_decoded": len(sims),
        "n_valid": int(valid.sum()),
        "n_distinct_analogs": n_distinct,
        "n_in_band": n_in_band,
        "fraction_in_band": round(float(np.mean((s >= band[0]) & (s <= band[1]))), 4)
        if len(s)
        else 0.0,
        "similarity_quantiles": quant,
    }


def _analog_table(
    query: str,
    decoded: Sequence[str],
    extra: dict[str, np.ndarray],
    band: tuple[float, float],
    properties: Sequence[str],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Distinct valid analogs (query excluded) with similarity, properties and deltas."""
    canonical = [canonicalize(s)[0] if s else None for s in decoded]
    fps = fingerprints(canonical)
    query_fp = fingerprints([query])[0]
    sims = similarity_to(query_fp, fps)
    valid = np.array([fp is not None for fp in fps])
    table = pd.DataFrame({"smiles": canonical, "similarity": sims, **extra})
    table["n_hits"] = 1
    table = table[valid & (table["smiles"] != query)]
    agg = {c: "first" for c in table.columns if c not in ("smiles", "n_hits")}
    agg["n_hits"] = "sum"
    table = table.groupby("smiles", sort=False, as_index=False).agg(agg)
    table["in_band"] = table["similarity"].between(band[0], band[1])
    props = properties_frame(table["smiles"].tolist(), properties)
    query_props = properties_frame([query], properties).iloc[0]
    for name in properties:
        table[name] = props[name].to_numpy()
        table[f"delta_{name}"] = props[name].to_numpy() - float(query_props[name])
    return table.reset_index(drop=True), sims, valid


def _encode_query(space: Any, smiles: str) -> tuple[str, np.ndarray]:
    query = query_molecule(smiles, "query molecule")
    z = space.encode([query])[0].astype(np.float64)
    return query, z


def explore_radius(
    space: Any,
    smiles: str,
    *,
    band: tuple[float, float] = (0.4, 0.7),
    n_samples: int = 500,
    n_probe: int = 32,
    seed: int = 0,
    properties: Sequence[str] = DEFAULT_PROPERTIES,
    rank_by: str | None = None,
    maximize: bool = True,
    keep: str = "band",
) -> ExploreResult:
    """Analogs of ``smiles`` from latent samples at calibrated radii.

    Two calibrations give r_inner (median similarity = band high) and r_outer
    (median = band low); ``n_samples`` points are drawn at radii uniform in
    [r_inner, r_outer] in uniformly random directions, decoded greedily,
    deduplicated and ranked: by similarity (default) or by the change of the
    property ``rank_by`` (up if ``maximize``). ``keep="band"`` returns only analogs
    inside the band, ``"all"`` every distinct valid one (with an ``in_band`` column).
    """
    low, high = _check_band(band)
    if keep not in ("band", "all"):
        raise ConfigError(f"keep must be 'band' or 'all', got {keep!r}")
    if n_samples < 1 or n_probe < 4:
        raise ConfigError("n_samples must be >= 1 and n_probe >= 4")
    properties = list(properties)
    if rank_by is not None and rank_by not in properties:
        properties.append(rank_by)
    query, z0 = _encode_query(space, smiles)
    ref_fp = fingerprints([query])[0]
    inner = calibrate_radius(space, z0, ref_fp, high, n_probe=n_probe, seed=seed)
    outer = calibrate_radius(space, z0, ref_fp, low, n_probe=n_probe, seed=seed)
    r_in, r_out = sorted((inner.radius, outer.radius))
    note = ""
    if r_out <= r_in:
        # the query itself decodes below (or the decoder never leaves) the band: pick the
        # radius whose probe batch lands most often inside the band instead
        best = _best_yield_radius(space, z0, ref_fp, (low, high), n_probe, seed)
        r_in, r_out = 0.5 * best, 1.5 * best
        note = (
            f"median similarity cannot be steered into the band (at radius 0 it is "
            f"{inner.probes[0]['median']:.2f}); radii chosen around {best:.3g}, the radius "
            "with the highest in-band yield"
        )
    rng = np.random.default_rng(seed + 1)
    radii = rng.uniform(r_in, r_out, n_samples) if r_out > r_in else np.full(n_samples, r_out)
    directions = random_directions(n_samples, len(z0), seed + 2)
    decoded = space.decode(z0[None, :] + radii[:, None] * directions, temperature=0.0)
    table, sims, valid = _analog_table(query, decoded, {"radius": radii}, (low, high), properties)
    achieved = _achieved(sims, valid, (low, high), len(table), int(table["in_band"].sum()))
    achieved.update(
        {
            "r_inner": r_in,
            "r_outer": r_out,
            "inner_reached": inner.reached,
            "outer_reached": outer.reached,
            "note": note,
        }
    )
    if keep == "band":
        table = table[table["in_band"]]
    if rank_by is None:
        table = table.sort_values(["similarity", "n_hits"], ascending=[False, False])
    else:
        table = table.sort_values(
            [f"delta_{rank_by}", "similarity"], ascending=[not maximize, False]
        )
    settings = {
        "mode": "radius",
        "band": [low, high],
        "n_samples": n_samples,
        "n_probe": n_probe,
        "seed": seed,
        "rank_by": rank_by,
        "maximize": maximize,
        "keep": keep,
        "latent_dim": len(z0),
    }
    calibration = [
        {
            "target": c.target,
            "radius": c.radius,
            "achieved_median": c.achieved_median,
            "reached": c.reached,
            "probes": c.probes,
        }
        for c in (inner, outer)
    ]
    return ExploreResult(query, table.reset_index(drop=True), settings, achieved, calibration)


@dataclass(frozen=True)
class PropertyDirection:
    """A unit direction in latent space along which ``name`` is predicted to increase."""

    name: str
    vector: np.ndarray
    source: str  # "ridge" or "property_head"
    r2_cv: float | None = None
    slope: float | None = None  # predicted property change per unit latent distance
    n_train: int = 0


def fit_property_direction(
    z: np.ndarray, values: np.ndarray, name: str, *, seed: int = 0
) -> PropertyDirection:
    """Ridge regression of a property on latent codes; alpha by CV, R² by 5-fold CV."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score

    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(z).all(axis=1) & np.isfinite(y)
    z, y = z[ok], y[ok]
    if len(y) < 20:
        raise InputError(f"property {name!r}: need >= 20 encoded reference molecules, got {len(y)}")
    if np.std(y) == 0:
        raise InputError(f"property {name!r} is constant over the reference molecules")
    model = RidgeCV(alphas=np.logspace(-3, 3, 13))
    folds = KFold(n_splits=5, shuffle=True, random_state=seed)
    r2 = float(np.mean(cross_val_score(model, z, y, cv=folds, scoring="r2")))
    model.fit(z, y)
    w = np.asarray(model.coef_, dtype=np.float64)
    norm = float(np.linalg.norm(w))
    if norm == 0:
        raise InputError(f"property {name!r}: ridge found no direction (all coefficients zero)")
    return PropertyDirection(name, w / norm, "ridge", r2, norm, len(y))


def head_direction(space: Any, z0: np.ndarray, name: str) -> PropertyDirection:
    """The gradient of the model's property head for ``name`` at ``z0`` (exact, autograd)."""
    names = list(getattr(space, "property_names", ()) or ())
    if name not in names:
        raise ConfigError(
            f"the model has no property head for {name!r} (it predicts: "
            f"{', '.join(names) or 'nothing'})"
        )
    grad = np.asarray(space.property_gradient(np.asarray(z0)[None, :], name), np.float64)[0]
    norm = float(np.linalg.norm(grad))
    if norm == 0:
        raise InputError(f"property head for {name!r} is flat at the query")
    return PropertyDirection(name, grad / norm, "property_head", None, norm, 0)


def reference_direction(
    space: Any, reference_smiles: Sequence[str], name: str, *, seed: int = 0
) -> PropertyDirection:
    """Encode reference molecules, compute ``name`` with RDKit and fit the ridge direction."""
    z, reasons = encode_with_reasons(space, list(reference_smiles))
    keep = [i for i, r in enumerate(reasons) if r is None]
    values = properties_frame([reference_smiles[i] for i in keep], [name])[name].to_numpy()
    return fit_property_direction(z[keep], values, name, seed=seed)


def explore_direction(
    space: Any,
    smiles: str,
    direction: PropertyDirection,
    *,
    increase: bool = True,
    band: tuple[float, float] = (0.4, 0.7),
    n_steps: int = 12,
    samples_per_step: int = 16,
    n_probe: int = 16,
    seed: int = 0,
    properties: Sequence[str] = DEFAULT_PROPERTIES,
    keep: str = "band",
) -> ExploreResult:
    """Analogs along a property direction, ranked by the property's change then similarity.

    The furthest step is calibrated like the radius: the distance along the
    direction (with small jitter) at which median similarity falls to the band's
    lower edge. Each of ``n_steps`` positions is decoded with ``samples_per_step``
    jittered points so one step gives several distinct analogs.
    """
    low, high = _check_band(band)
    if keep not in ("band", "all"):
        raise ConfigError(f"keep must be 'band' or 'all', got {keep!r}")
    properties = list(properties)
    if direction.name not in properties:
        properties.append(direction.name)
    query, z0 = _encode_query(space, smiles)
    if len(direction.vector) != len(z0):
        raise InputError(f"direction has {len(direction.vector)} dimensions, model {len(z0)}")
    u = direction.vector * (1.0 if increase else -1.0)
    ref_fp = fingerprints([query])[0]
    max_distance = 4.0 * np.sqrt(len(z0))
    # calibrate the reach along u: the probe "directions" are u plus a little jitter
    jitter_dirs = random_directions(n_probe, len(z0), seed)
    along = u[None, :] + 0.25 * jitter_dirs
    along /= np.linalg.norm(along, axis=1, keepdims=True)
    # reach: where median similarity falls to the band's lower edge, or (for a query the
    # model reconstructs below the band) to 3/4 of its reconstruction similarity
    at_zero = _probe(space, z0, ref_fp, along[:1], 0.0).median
    reach = _calibrate_along(space, z0, ref_fp, along, min(low, 0.75 * at_zero), max_distance)
    distances = np.linspace(0.0, reach.radius, n_steps + 1)[1:]
    step_ids = np.repeat(np.arange(1, n_steps + 1), samples_per_step)
    dist = np.repeat(distances, samples_per_step)
    jitter = random_directions(len(dist), len(z0), seed + 1) * (0.15 * dist)[:, None]
    points = z0[None, :] + dist[:, None] * u[None, :] + jitter
    decoded = space.decode(points, temperature=0.0)
    extra = {"step": step_ids, "distance": dist}
    table, sims, valid = _analog_table(query, decoded, extra, (low, high), properties)
    table = table[table["similarity"] >= low] if keep == "band" else table
    sign = 1.0 if increase else -1.0
    table = table.assign(_gain=sign * table[f"delta_{direction.name}"])
    table = table.sort_values(["_gain", "similarity"], ascending=[False, False]).drop(
        columns="_gain"
    )
    achieved = _achieved(sims, valid, (low, high), int(valid.sum()), len(table))
    achieved.update({"max_distance": reach.radius, "reach_reached": reach.reached})
    settings = {
        "mode": "direction",
        "property": direction.name,
        "increase": increase,
        "direction_source": direction.source,
        "direction_r2_cv": direction.r2_cv,
        "direction_slope": direction.slope,
        "n_train": direction.n_train,
        "band": [low, high],
        "n_steps": n_steps,
        "samples_per_step": samples_per_step,
        "seed": seed,
        "keep": keep,
        "latent_dim": len(z0),
    }
    calibration = [
        {
            "target": reach.target,
            "radius": reach.radius,
            "achieved_median": reach.achieved_median,
            "reached": reach.reached,
            "probes": reach.probes,
        }
    ]
    return ExploreResult(query, table.reset_index(drop=True), settings, achieved, calibration)


def _calibrate_along(
    space: Any,
    z0: np.ndarray,
    ref_fp: Any,
    directions: np.ndarray,
    target: float,
    max_distance: float,
) -> RadiusCalibration:
    """``calibrate_radius`` with caller-given probe directions."""
    probes: list[_Probe] = []
    lo, hi = 0.0, 0.5
    probe = _probe(space, z0, ref_fp, directions, hi)
    probes.append(probe)
    while probe.median > target and hi < max_distance and len(probes) < 12:
        lo, hi = hi, min(2 * hi, max_distance)
        probe = _probe(space, z0, ref_fp, directions, hi)
        probes.append(probe)
    best = probe
    if probe.median <= target:
        for _ in range(6):
            mid = 0.5 * (lo + hi)
            p = _probe(space, z0, ref_fp, directions, mid)
            probes.append(p)
            if abs(p.median - target) < abs(best.median - target):
                best = p
            lo, hi = (mid, hi) if p.median > target else (lo, mid)
    return RadiusCalibration(
        target,
        best.radius,
        best.median,
        abs(best.median - target) <= 0.05,
        [asdict(p) for p in sorted(probes, key=lambda p: p.radius)],
    )
