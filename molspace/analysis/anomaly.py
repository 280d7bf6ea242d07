"""Outlier and novelty scores for molecules relative to a reference library.

Signals, each answering a different question (higher = more unusual):

* ``density``: -log p(z) of the molecule's latent code under a Gaussian mixture
  fitted on the reference library (is it where the reference lives?);
* ``nll``: the decoder's teacher-forced negative log-likelihood of the molecule
  from its own code, per token (does the model know how to write this chemistry?);
* ``nll_total``: the same summed over tokens (large molecules score higher);
* ``elbo``: negative ELBO = ``nll_total`` + KL(q(z|x) || prior);
* ``reconstruction``: 1 - Tanimoto(original, greedy reconstruction). Coarse, and
  it needs a greedy decode, so it is off by default.

Each signal is turned into a reference tail probability p = P(S_ref >= s), fitted
on a held-out calibration slice of the reference (the density is fitted on the
rest, so the reference does not look more typical than new molecules), with an
exponential tail beyond the reference's range. The anomaly score is Fisher's
combination -2 * sum(log p): one very surprising signal or several mildly
surprising ones both raise it. Signals are correlated, so the chi-square law is
not used: the outlier threshold is the chosen quantile of the combined score on
the calibration slice (``quantile=0.99``: about 1% of new reference-like
molecules are flagged). Nothing is fitted on the molecules being scored.

Molecules that cannot be parsed or encoded (unknown symbols, too long) are out of
the model's domain by definition: they score +inf, are flagged, and carry the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.analysis.common import canonicalize, fingerprints, write_json
from molspace.analysis.density import LatentDensity, TailProbability
from molspace.errors import ConfigError, InputError

__all__ = [
    "COMPONENTS",
    "DEFAULT_COMPONENTS",
    "AnomalyModel",
    "Signals",
    "anomaly_scores",
    "compute_signals",
    "fit_anomaly_arrays",
    "fit_anomaly_model",
    "reconstruction_failure",
    "score_anomalies",
]

COMPONENTS = ("density", "nll", "nll_total", "elbo", "reconstruction")
DEFAULT_COMPONENTS = ("density", "nll")
_SCHEMA = "molspace.anomaly/2"
_MAX_STORED_SCORES = 5000


@dataclass(frozen=True)
class AnomalyModel:
    """A fitted latent density, one reference tail model per signal and the threshold."""

    density: LatentDensity
    components: tuple[str, ...]
    tails: dict[str, TailProbability]
    threshold: float
    quantile: float
    calibration_scores: np.ndarray  # sorted combined scores of the calibration slice
    info: dict[str, Any] = field(default_factory=dict)

    def log_tails(self, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """log P(reference >= value) per signal; -inf where a signal is missing (NaN)."""
        return {name: self.tails[name].log_tail(raw[name]) for name in self.components}

    def combine(self, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        """Fisher's -2 * sum(log p) over the components; +inf when any signal is missing."""
        logs = self.log_tails(raw)
        return -2.0 * np.sum(np.vstack([logs[name] for name in self.components]), axis=0)

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        """Share (0-100) of calibration molecules that score lower: a novelty percentile."""
        ranks = np.searchsorted(self.calibration_scores, scores, side="left")
        return 100.0 * ranks / max(len(self.calibration_scores), 1)

    def score_arrays(
        self, z: np.ndarray, extra: Mapping[str, np.ndarray] | None = None
    ) -> pd.DataFrame:
        """Scores for latent vectors (NaN rows = not encodable) plus precomputed signals.

        Columns: ``<signal>_score`` (raw), ``<signal>_p`` (reference tail probability),
        ``anomaly_score``, ``reference_percentile``, ``outlier`` and ``driver`` (the
        signal with the smallest tail probability: why a molecule is unusual).
        """
        raw: dict[str, np.ndarray] = {"density": -self.density.log_density(z)}
        for name in self.components:
            if name == "density":
                continue
            if extra is None or name not in extra:
                raise InputError(f"anomaly signal {name!r} was not computed")
            raw[name] = np.asarray(extra[name], dtype=np.float64)
        logs = self.log_tails(raw)
        stacked = np.vstack([logs[name] for name in self.components])
        combined = -2.0 * stacked.sum(axis=0)
        frame = pd.DataFrame({f"{name}_score": raw[name] for name in self.components})
        for name in self.components:
            frame[f"{name}_p"] = np.exp(logs[name])
        frame["anomaly_score"] = combined
        frame["reference_percentile"] = self.percentile(combined)
        frame["outlier"] = combined > self.threshold
        frame["driver"] = np.asarray(self.components, dtype=object)[np.argmin(stacked, axis=0)]
        return frame

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": _SCHEMA,
            "combination": "fisher",
            "components": list(self.components),
            "tails": {name: self.tails[name].to_dict() for name in self.components},
            "threshold": self.threshold,
            "quantile": self.quantile,
            "calibration_scores": self.calibration_scores.tolist(),
            "density": self.density.to_dict(),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "anomaly model") -> AnomalyModel:
        schema = str(data.get("schema", ""))
        if schema.startswith("molspace.anomaly/") and schema != _SCHEMA:
            raise ConfigError(
                f"{source}: anomaly model format {schema} is from another molspace version "
                f"(this one reads {_SCHEMA}); fit it again from the reference library"
            )
        if schema != _SCHEMA:
            raise ConfigError(f"{source}: not a molspace anomaly model (schema {_SCHEMA})")
        try:
            components = tuple(str(c) for c in data["components"])
            unknown = sorted(set(components) - set(COMPONENTS))
            if unknown:
                raise ValueError(f"unknown signals {', '.join(unknown)}")
            return cls(
                density=LatentDensity.from_dict(data["density"]),
                components=components,
                tails={k: TailProbability.from_dict(data["tails"][k]) for k in components},
                threshold=float(data["threshold"]),
                quantile=float(data["quantile"]),
                calibration_scores=np.sort(np.asarray(data["calibration_scores"], dtype=float)),
                info=dict(data.get("info", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: invalid anomaly model: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Plain JSON (no pickle): the mixture, the tail models and the calibration."""
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
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: not a molspace anomaly model (schema {_SCHEMA})")
        return cls.from_dict(data, str(file))


def _check_components(components: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(components))
    unknown = sorted(set(names) - set(COMPONENTS))
    if unknown or "density" not in names:
        raise ConfigError(
            f"anomaly components must include 'density' and come from {', '.join(COMPONENTS)}; "
            f"got {', '.join(components)}"
        )
    return names


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
    """Fit the density on ``z_fit``; fit every signal's tail and the threshold on ``z_cal``.

    The mixture size is chosen by the held-out log-likelihood of a seeded fifth of
    ``z_fit`` (the mixture is fitted on the other four fifths), so the calibration
    slice plays no part in fitting the density.

    ``extra_cal`` holds the non-density signals (``nll``, ``reconstruction``, ...) of the
    calibration rows; the model combines the density and exactly these.
    """
    if not 0.5 <= quantile < 1.0:
        raise ConfigError(f"quantile must be in [0.5, 1), got {quantile}")
    z_cal = np.asarray(z_cal, dtype=np.float64)
    if len(z_cal) < 20:
        raise InputError(f"need at least 20 calibration molecules, got {len(z_cal)}")
    components = _check_components(["density", *(extra_cal or {})])
    raw: dict[str, np.ndarray] = {}
    for name, values in (extra_cal or {}).items():
        raw[name] = np.asarray(values, dtype=np.float64)
        if raw[name].shape != (len(z_cal),):
            raise InputError(f"signal {name!r} has {raw[name].shape} values for {len(z_cal)} rows")
    z_fit = np.asarray(z_fit, dtype=np.float64)
    # the mixture size is chosen on a fifth of the fitting rows, never on the calibration slice
    order = np.random.default_rng([seed, 1]).permutation(len(z_fit))
    n_val = len(z_fit) // 5 if len(z_fit) >= 100 else 0
    density = LatentDensity.fit(
        z_fit[order[n_val:]], candidates=candidates, seed=seed, validation=z_fit[order[:n_val]]
    )
    raw["density"] = -density.log_density(z_cal)
    tails = {name: TailProbability.fit(raw[name]) for name in components}
    model = AnomalyModel(density, components, tails, np.inf, quantile, np.zeros(0))
    combined = model.combine(raw)
    finite = np.sort(combined[np.isfinite(combined)])
    threshold = float(np.quantile(finite, quantile))
    if len(finite) > _MAX_STORED_SCORES:
        finite = np.quantile(finite, np.linspace(0, 1, _MAX_STORED_SCORES))
    info_all = {
        **dict(info or {}),
        "n_fit": len(z_fit),
        "n_calibration": len(z_cal),
        "n_components_gmm": density.n_components,
        "gmm_selection": "held-out log-likelihood" if density.heldout else "BIC",
        "bic": density.bic,
        "heldout_loglik": density.heldout,
    }
    return AnomalyModel(density, components, tails, threshold, quantile, finite, info_all)


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
    originals = fingerprints([smiles[int(i)] for i in ok])
    rebuilt = fingerprints(decoded)
    from molspace.chem import tanimoto

    for j, i in enumerate(ok):
        recon[i] = decoded[j] or None
        a, b = originals[j], rebuilt[j]
        failure[i] = 1.0 - (tanimoto(a, b) if a is not None and b is not None else 0.0)
    return recon, failure


@dataclass
class Signals:
    """Per-molecule inputs of the scorer: latent means, reasons, non-density signals."""

    z: np.ndarray  # (n, d), NaN rows where not encodable
    reasons: list[str | None]
    values: dict[str, np.ndarray]  # signal name -> (n,), NaN where not encodable
    reconstructions: list[str | None]


def compute_signals(
    space: Any, smiles: Sequence[str], components: Sequence[str] = DEFAULT_COMPONENTS
) -> Signals:
    """One encoder + teacher-forced decoder pass (and a greedy decode only if asked for)."""
    smiles = [s if isinstance(s, str) else "" for s in smiles]
    like = space.likelihood(smiles)
    values: dict[str, np.ndarray] = {}
    if "nll" in components:
        values["nll"] = like.nll_per_token
    if "nll_total" in components:
        values["nll_total"] = like.nll
    if "elbo" in components:
        values["elbo"] = like.nelbo
    recon: list[str | None] = [None] * len(smiles)
    if "reconstruction" in components:
        recon, values["reconstruction"] = reconstruction_failure(space, smiles, like.mu)
    return Signals(z=like.mu, reasons=list(like.reasons), values=values, reconstructions=recon)


def fit_anomaly_model(
    space: Any,
    reference_smiles: Sequence[str],
    *,
    components: Sequence[str] = DEFAULT_COMPONENTS,
    quantile: float = 0.99,
    calibration_fraction: float = 0.25,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
) -> AnomalyModel:
    """Encode a reference library, fit the density and calibrate the signals and threshold.

    The reference is split at random (``seed``): the density is fitted on one part and
    every signal is calibrated on the other. Reference molecules that cannot be encoded
    are left out (and counted in ``info``).
    """
    components = _check_components(components)
    if not 0.05 <= calibration_fraction <= 0.5:
        raise ConfigError(
            f"calibration_fraction must be in [0.05, 0.5], got {calibration_fraction}"
        )
    reference = list(reference_smiles)
    cheap = [c for c in components if c != "reconstruction"]
    signals = compute_signals(space, reference, cheap)
    usable = np.flatnonzero([r is None for r in signals.reasons])
    if len(usable) < 100:
        raise InputError(f"reference library: only {len(usable)} molecules encodable; need >= 100")
    rng = np.random.default_rng(seed)
    order = rng.permutation(usable)
    n_cal = max(20, round(calibration_fraction * len(order)))
    cal, fit = order[:n_cal], order[n_cal:]
    extra = {name: values[cal] for name, values in signals.values.items()}
    if "reconstruction" in components:  # the greedy decode only for the calibration slice
        _, extra["reconstruction"] = reconstruction_failure(
            space, [reference[i] for i in cal], signals.z[cal]
        )
    meta = {
        **dict(info or {}),
        "latent_dim": int(space.latent_dim),
        "n_reference": len(reference),
        "n_reference_unencodable": len(reference) - len(usable),
    }
    return fit_anomaly_arrays(
        signals.z[fit], signals.z[cal], extra, quantile=quantile, seed=seed, info=meta
    )


def score_anomalies(
    space: Any,
    model: AnomalyModel,
    smiles: Sequence[str],
    ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per input molecule, in input order, with every signal and the verdict.

    Columns: id, smiles, canonical, status ("ok" or "unencodable"), reason,
    reconstruction (SMILES, when that signal is used), <signal>_score, <signal>_p,
    anomaly_score, reference_percentile, outlier, driver. An unencodable molecule is
    an outlier with score +inf, percentile 100, driver "unencodable" and its reason.
    """
    smiles = [str(s) for s in smiles]
    if model.density.dim != space.latent_dim:
        raise InputError(
            f"anomaly model was fitted in {model.density.dim} latent dimensions; "
            f"this model has {space.latent_dim}"
        )
    signals = compute_signals(space, smiles, model.components)
    scores = model.score_arrays(signals.z, signals.values)
    reasons = signals.reasons
    frame = pd.DataFrame(
        {
            "id": list(ids) if ids is not None else [str(i + 1) for i in range(len(smiles))],
            "smiles": smiles,
            "canonical": [canonicalize(s)[0] for s in smiles],
            "status": ["ok" if r is None else "unencodable" for r in reasons],
            "reason": [r or "" for r in reasons],
            "reconstruction": [r or "" for r in signals.reconstructions],
        }
    )
    frame = pd.concat([frame, scores], axis=1)
    bad = (frame["status"] != "ok").to_numpy()
    frame.loc[bad, "anomaly_score"] = np.inf
    frame.loc[bad, "reference_percentile"] = 100.0
    frame.loc[bad, "outlier"] = True
    frame.loc[bad, "driver"] = "unencodable"
    return frame


def anomaly_scores(
    space: Any,
    smiles: Sequence[str],
    reference: Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    components: Sequence[str] = DEFAULT_COMPONENTS,
    quantile: float = 0.99,
    seed: int = 0,
) -> pd.DataFrame:
    """Outlier scores of ``smiles`` against a ``reference`` library in one call: fit the
    anomaly model on the reference (:func:`fit_anomaly_model`), then score every input
    (:func:`score_anomalies`; one row per input, in input order)."""
    model = fit_anomaly_model(space, reference, components=components, quantile=quantile, seed=seed)
    return score_anomalies(space, model, smiles, ids)
