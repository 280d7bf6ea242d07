"""The two density models the anomaly scorer is calibrated with, serialisable as plain JSON.

* ``LatentDensity``: a Gaussian mixture over latent vectors. The number of
  components is chosen on the reference library, so a user does not have to guess
  it: by the log-likelihood of held-out reference vectors when some are given
  (what the anomaly scorer does: BIC's penalty is so heavy in 64 dimensions that
  it keeps too few components to follow the library), by BIC otherwise.
* ``TailProbability``: how often a reference molecule scores at least as high on
  one signal. Inside the reference's range it is the empirical (conformal) tail;
  beyond its 90th percentile an exponential tail fitted to the excesses
  (peaks over threshold), so molecules more extreme than any reference molecule
  keep being ranked instead of tying at 1/(n+1).

Parameters are stored as lists (never pickled) and evaluated with numpy/scipy, so
a saved model loads without scikit-learn internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp

from molspace.errors import ConfigError, InputError

__all__ = ["LatentDensity", "TailProbability"]


@dataclass(frozen=True)
class LatentDensity:
    """Full-covariance Gaussian mixture; ``log_density(z)`` is the per-row log p(z)."""

    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k, d)
    covariances: np.ndarray  # (k, d, d)
    bic: dict[int, float] = field(default_factory=dict)
    heldout: dict[int, float] = field(default_factory=dict)  # mean held-out log p(z) per size

    @property
    def n_components(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @classmethod
    def fit(
        cls,
        z: np.ndarray,
        *,
        candidates: Sequence[int] = (1, 2, 4, 8, 16),
        seed: int = 0,
        reg_covar: float = 1e-4,
        validation: np.ndarray | None = None,
    ) -> LatentDensity:
        """Fit one mixture per candidate size on ``z``; keep the one with the highest mean
        log-likelihood on ``validation`` (held-out vectors) if given, else the lowest BIC."""
        from sklearn.mixture import GaussianMixture

        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or not np.isfinite(z).all():
            raise InputError("reference latent matrix must be finite and 2D")
        held = None
        if validation is not None:
            held = np.asarray(validation, dtype=np.float64)
            if held.ndim != 2 or held.shape[1] != z.shape[1] or not np.isfinite(held).all():
                raise InputError("validation latent matrix must be finite, 2D and match z")
            if not len(held):
                held = None
        usable = [k for k in candidates if k >= 1 and len(z) >= 5 * k]
        if not usable:
            raise InputError(
                f"reference library too small for a density model: {len(z)} encoded molecules"
            )
        best: tuple[float, Any] | None = None
        bic: dict[int, float] = {}
        heldout: dict[int, float] = {}
        for k in usable:
            gmm = GaussianMixture(
                n_components=k,
                covariance_type="full",
                reg_covar=reg_covar,
                random_state=seed,
                n_init=1,
                max_iter=200,
            ).fit(z)
            bic[k] = float(gmm.bic(z))
            if held is not None:
                heldout[k] = float(gmm.score(held))
            loss = -heldout[k] if held is not None else bic[k]
            if best is None or loss < best[0]:
                best = (loss, gmm)
        assert best is not None
        gmm = best[1]
        return cls(
            weights=np.asarray(gmm.weights_, dtype=np.float64),
            means=np.asarray(gmm.means_, dtype=np.float64),
            covariances=np.asarray(gmm.covariances_, dtype=np.float64),
            bic=bic,
            heldout=heldout,
        )

    def log_density(self, z: np.ndarray) -> np.ndarray:
        """log p(z) per row; rows of NaN (molecules that could not be encoded) give -inf."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        if z.shape[1] != self.dim:
            raise InputError(
                f"latent vectors have dimension {z.shape[1]}, density expects {self.dim}"
            )
        out = np.full(len(z), -np.inf)
        ok = np.isfinite(z).all(axis=1)
        if not ok.any():
            return out
        x = z[ok]
        parts = np.empty((len(x), self.n_components))
        for k in range(self.n_components):
            chol = np.linalg.cholesky(self.covariances[k])
            solved = np.linalg.solve(chol, (x - self.means[k]).T)  # (d, n)
            maha = np.sum(solved**2, axis=0)
            logdet = 2.0 * np.sum(np.log(np.diag(chol)))
            parts[:, k] = np.log(self.weights[k]) - 0.5 * (
                self.dim * np.log(2 * np.pi) + logdet + maha
            )
        out[ok] = logsumexp(parts, axis=1)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
            "bic": {str(k): v for k, v in self.bic.items()},
            "heldout": {str(k): v for k, v in self.heldout.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentDensity:
        try:
            weights = np.asarray(data["weights"], dtype=np.float64)
            means = np.asarray(data["means"], dtype=np.float64)
            covariances = np.asarray(data["covariances"], dtype=np.float64)
            bic = {int(k): float(v) for k, v in data.get("bic", {}).items()}
            heldout = {int(k): float(v) for k, v in data.get("heldout", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid density model: {exc}") from None
        k, d = means.shape if means.ndim == 2 else (0, 0)
        if weights.shape != (k,) or covariances.shape != (k, d, d) or k == 0:
            raise ConfigError("invalid density model: inconsistent array shapes")
        return cls(weights, means, covariances, bic, heldout)


@dataclass(frozen=True)
class TailProbability:
    """P(S >= s) for a reference score S: empirical in the bulk, exponential in the upper tail."""

    values: np.ndarray  # increasing grid of reference values
    tail: np.ndarray  # P(S >= value) at each grid value, non-increasing
    start: float  # where the exponential tail takes over (a high reference quantile)
    start_tail: float  # P(S >= start)
    scale: float  # mean excess of the reference over ``start`` (the exponential's scale)
    n: int  # reference values it was fitted on

    @classmethod
    def fit(
        cls, values: np.ndarray, *, tail_quantile: float = 0.9, max_grid: int = 2000
    ) -> TailProbability:
        """Fit on finite reference values (at least 20); NaN/inf are ignored."""
        x = np.sort(np.asarray(values, dtype=np.float64))
        x = x[np.isfinite(x)]
        n = len(x)
        if n < 20:
            raise InputError(f"need at least 20 finite reference values for a tail model, got {n}")
        grid, first = np.unique(x, return_index=True)
        tail = (n - first) / (n + 1.0)  # (#reference >= value) / (n + 1)
        if len(grid) > max_grid:
            keep = np.unique(np.linspace(0, len(grid) - 1, max_grid).round().astype(int))
            grid, tail = grid[keep], tail[keep]
        start = float(np.quantile(x, tail_quantile))
        excess = x[x > start] - start
        spread = float(x[-1] - x[0])
        floor = 1e-6 * spread if spread > 0 else 1e-9
        scale = max(float(excess.mean()) if len(excess) else 0.0, floor)
        start_tail = float(np.interp(start, grid, tail))
        return cls(grid, tail, start, start_tail, scale, n)

    def log_tail(self, values: np.ndarray) -> np.ndarray:
        """log P(S >= value) per value; NaN and +inf (no signal: not encodable) give -inf."""
        x = np.asarray(values, dtype=np.float64)
        out = np.full(x.shape, -np.inf)
        finite = np.isfinite(x)
        xf = x[finite]
        bulk = np.log(np.interp(np.minimum(xf, self.start), self.values, self.tail))
        beyond = np.log(self.start_tail) - (xf - self.start) / self.scale
        out[finite] = np.where(xf > self.start, beyond, bulk)
        out[np.isneginf(x)] = 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": self.values.tolist(),
            "tail": self.tail.tolist(),
            "start": self.start,
            "start_tail": self.start_tail,
            "scale": self.scale,
            "n": self.n,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TailProbability:
        try:
            values = np.asarray(data["values"], dtype=np.float64)
            tail = np.asarray(data["tail"], dtype=np.float64)
            result = cls(
                values,
                tail,
                float(data["start"]),
                float(data["start_tail"]),
                float(data["scale"]),
                int(data["n"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid tail model: {exc}") from None
        if (
            values.ndim != 1
            or values.shape != tail.shape
            or not len(values)
            or np.any(np.diff(values) < 0)
            or not 0 < result.start_tail <= 1
            or result.scale <= 0
        ):
            raise ConfigError("invalid tail model: inconsistent values")
        return result
