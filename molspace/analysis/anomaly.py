"""Outlier and novelty scores for molecules relative to a reference library.

Two signals, each answering a different question:

* ``density`` — how unlikely the molecule's latent code is under a Gaussian
  mixture fitted on the reference library (-log p(z));
* ``reconstruction`` — how badly the model reproduces the molecule from its own
  code (1 - Tanimoto(original, greedy reconstruction)): the model has not learnt
  the chemistry it is looking at.

Each signal is put on the reference's own scale (robust z-score against a held-out
calibration slice, so in-sample GMM fit does not make the reference look too
typical) and averaged. The outlier threshold is the chosen quantile of the
combined score on that calibration slice: with ``quantile=0.99`` about 1% of new
reference-like molecules are flagged. Molecules that cannot be parsed or encoded
score +inf with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.analysis.common import (
    canonicalize,
    encode_with_reasons,
    fingerprints,
    write_json,
)
from molspace.analysis.density import LatentDensity
from molspace.errors import ConfigError, InputError

__all__ = [
    "COMPONENTS",
    "AnomalyModel",
    "fit_anomaly_arrays",
    "fit_anomaly_model",
    "reconstruction_failure",
    "score_anomalies",
]

COMPONENTS = ("density", "reconstruction")
_SCHEMA = "molspace.anomaly/1"
_MAX_STORED_SCORES = 5000


def _robust_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and a scale that never collapses to zero (MAD, else std, else 1)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, 1.0
    center = float(np.median(finite))
    scale = 1.4826 * float(np.median(np.abs(finite - center)))
    if scale <= 1e-9:
        scale = float(np.std(finite))
    if scale <= 1e-9:
        scale = 1.0
    return center, scale


@dataclass(frozen=True)
class AnomalyModel:
    """A fitted density, per-signal calibration and the outlier threshold."""

    density: LatentDensity
    components: tuple[str, ...]
    centers: dict[str, float]
    scales: dict[str, float]
    threshold: float
    quantile: float
    calibration_scores: np.ndarray  # sorted combined scores of the calibration slice
    info: dict[str, Any] = field(default_factory=dict)

    def combine(self, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        """Mean robust z-score over the components; +inf when any signal is missing."""
        parts = []
        for name in self.components:
            values = np.asarray(raw[name], dtype=np.float64)
            parts.append((values - self.centers[name]) / self.scales[name])
        stacked = np.vstack(parts)
        stacked = np.where(np.isnan(stacked), np.inf, stacked)
        return stacked.mean(axis=0)

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        """Share (0-100) of calibration molecules that score lower: a novelty percentile."""
        ranks = np.searchsorted(self.calibration_scores, scores, side="left")
        return 100.0 * ranks / max(len(self.calibration_scores), 1)

    def score_arrays(
        self, z: np.ndarray, extra: Mapping[str, np.ndarray] | None = None
    ) -> pd.DataFrame:
        """Scores for latent vectors (NaN rows = not encodable) plus precomputed signals."""
        raw: dict[str, np.ndarray] = {"density": -self.density.log_density(z)}
        for name in self.components:
            if name == "density":
                continue
            if extra is None or name not in extra:
                raise InputError(f"anomaly signal {name!r} was not computed")
            raw[name] = np.asarray(extra[name], dtype=np.float64)
        combined = self.combine(raw)
        frame = pd.DataFrame({f"{name}_score": raw[name] for name in self.components})
        frame["anomaly_score"] = combined
        frame["reference_percentile"] = self.percentile(combined)
        frame["outlier"] = combined > self.threshold
        return frame

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": _SCHEMA,
            "components": list(self.components),
            "centers": self.centers,
            "scales": self.scales,
            "threshold": self.threshold,
            "quantile": self.quantile,
            "calibration_scores": self.calibration_scores.tolist(),
            "density": self.density.to_dict(),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "anomaly model") -> AnomalyModel:
        if data.get("schema") != _SCHEMA:
            raise ConfigError(f"{source}: not a molspace anomaly model (schema {_SCHEMA})")
        try:
            components = tuple(data["components"])
            return cls(
                density=LatentDensity.from_dict(data["density"]),
                components=components,
                centers={k: float(data["centers"][k]) for k in components},
                scales={k: float(data["scales"][k]) for k in components},
                threshold=float(data["threshold"]),
                quantile=float(data["quantile"]),
                calibration_scores=np.sort(np.asarray(data["calibration_scores"], dtype=float)),
                info=dict(data.get("info", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: invalid anomaly model: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Plain JSON (no pickle): the mixture parameters and the calibration."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> AnomalyModel:
        file = Path(path)
        if not file.is_file():
            raise InputError(f"{file}: anomaly model not found")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not a JSON anomaly model: {exc}") from None
        return cls.from_dict(data, str(file))


def fit_anomaly_arrays(
    z_fit: np.ndarray,
    z_cal: np.ndarray,
    extra_cal: Mapping[str, np.ndarray] | None = None,
    *,
    quantile: float = 0.99,
    seed: int = 0,
    candidates: Sequence[int] = (1, 2, 4, 8, 16),
    info: Mapping[str, Any] | None = None,
) -> AnomalyModel:
    """Fit the density on ``z_fit``; calibrate every signal and the threshold on ``z_cal``.

    ``extra_cal`` holds non-density signals (e.g. reconstruction) for the calibration rows.
    """
    if not 0.5 <= quantile < 1.0:
        raise ConfigError(f"quantile must be in [0.5, 1), got {quantile}")
    z_cal = np.asarray(z_cal, dtype=np.float64)
    if len(z_cal) < 20:
        raise InputError(f"need at least 20 calibration molecules, got {len(z_cal)}")
    density = LatentDensity.fit(z_fit, candidates=candidates, seed=seed)
    raw = {"density": -density.log_density(z_cal)}
    raw.update({k: np.asarray(v, dtype=np.float64) for k, v in (extra_cal or {}).items()})
    components = ("density", *[k for k in (extra_cal or {}) if k != "density"])
    centers, scales = {}, {}
    for name in components:
        centers[name], scales[name] = _robust_scale(raw[name])
    model = AnomalyModel(
        density=density,
        components=components,
        centers=centers,
        scales=scales,
        threshold=np.inf,
        quantile=quantile,
        calibration_scores=np.zeros(0),
        info=dict(info or {}),
    )
    combined = model.combine(raw)
    finite = np.sort(combined[np.isfinite(combined)])
    threshold = float(np.quantile(finite, quantile))
    if len(finite) > _MAX_STORED_SCORES:
        finite = np.quantile(finite, np.linspace(0, 1, _MAX_STORED_SCORES))
    info_all = {
        **model.info,
        "n_fit": len(z_fit),
        "n_calibration": len(z_cal),
        "n_components_gmm": density.n_components,
        "bic": density.bic,
    }
    return AnomalyModel(density, components, centers, scales, threshold, quantile, finite, info_all)


def reconstruction_failure(
    space: Any, smiles: Sequence[str], z: np.ndarray
) -> tuple[list[str | None], np.ndarray]:
    """Greedy reconstructions of ``z`` and 1 - Tanimoto(original, reconstruction).

    Rows whose ``z`` is NaN (not encodable) get no reconstruction and NaN failure.
    """
    ok = np.flatnonzero(np.isfinite(z).all(axis=1))
    recon: list[str | None] = [None] * len(smiles)
    failure = np.full(len(smiles), np.nan)
    if not len(ok):
        return recon, failure
    decoded = space.decode(z[ok], temperature=0.0)
    originals = fingerprints([smiles[i] for i in ok])
    rebuilt = fingerprints(decoded)
    from molspace.chem import tanimoto

    for j, i in enumerate(ok):
        recon[i] = decoded[j] or None
        a, b = originals[j], rebuilt[j]
        failure[i] = 1.0 - (tanimoto(a, b) if a is not None and b is not None else 0.0)
    return recon, failure


def fit_anomaly_model(
    space: Any,
    reference_smiles: Sequence[str],
    *,
    components: Sequence[str] = COMPONENTS,
    quantile: float = 0.99,
    calibration_fraction: float = 0.25,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
) -> AnomalyModel:
    """Encode a reference library, fit the density and calibrate the outlier threshold.

    Reference molecules that cannot be encoded are left out (and counted in ``info``).
    """
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown or "density" not in components:
        raise ConfigError(
            f"anomaly components must include 'density' and come from {', '.join(COMPONENTS)}; "
            f"got {', '.join(components)}"
        )
    if not 0.05 <= calibration_fraction <= 0.5:
        raise ConfigError(
            f"calibration_fraction must be in [0.05, 0.5], got {calibration_fraction}"
        )
    reference = list(reference_smiles)
    z, reasons = encode_with_reasons(space, reference)
    usable = np.flatnonzero([r is None for r in reasons])
    if len(usable) < 100:
        raise InputError(f"reference library: only {len(usable)} molecules encodable; need >= 100")
    rng = np.random.default_rng(seed)
    order = rng.permutation(usable)
    n_cal = max(20, round(calibration_fraction * len(order)))
    cal, fit = order[:n_cal], order[n_cal:]
    extra: dict[str, np.ndarray] = {}
    if "reconstruction" in components:
        _, failure = reconstruction_failure(space, [reference[i] for i in cal], z[cal])
        extra["reconstruction"] = failure
    meta = {
        **dict(info or {}),
        "latent_dim": int(space.latent_dim),
        "n_reference": len(reference),
        "n_reference_unencodable": len(reference) - len(usable),
    }
    return fit_anomaly_arrays(z[fit], z[cal], extra, quantile=quantile, seed=seed, info=meta)


def score_anomalies(
    space: Any,
    model: AnomalyModel,
    smiles: Sequence[str],
    ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per input molecule, in input order, with every signal and the verdict.

    Columns: id, smiles, canonical, status ("ok" or "unencodable"), reason,
    reconstruction (SMILES), <signal>_score, anomaly_score, reference_percentile, outlier.
    """
    smiles = [str(s) for s in smiles]
    if model.density.dim != space.latent_dim:
        raise InputError(
            f"anomaly model was fitted in {model.density.dim} latent dimensions; "
            f"this model has {space.latent_dim}"
        )
    z, reasons = encode_with_reasons(space, smiles)
    extra: dict[str, np.ndarray] = {}
    recon: list[str | None] = [None] * len(smiles)
    if "reconstruction" in model.components:
        recon, extra["reconstruction"] = reconstruction_failure(space, smiles, z)
    scores = model.score_arrays(z, extra)
    canonical = [canonicalize(s)[0] for s in smiles]
    frame = pd.DataFrame(
        {
            "id": list(ids) if ids is not None else [str(i + 1) for i in range(len(smiles))],
            "smiles": smiles,
            "canonical": canonical,
            "status": ["ok" if r is None else "unencodable" for r in reasons],
            "reason": [r or "" for r in reasons],
            "reconstruction": [r or "" for r in recon],
        }
    )
    frame = pd.concat([frame, scores], axis=1)
    bad = frame["status"] != "ok"
    frame.loc[bad, "anomaly_score"] = np.inf
    frame.loc[bad, "reference_percentile"] = 100.0
    frame.loc[bad, "outlier"] = True
    return frame
