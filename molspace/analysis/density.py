"""A Gaussian-mixture density over latent vectors, serialisable as plain JSON.

The number of components is chosen by BIC on the reference library, so a user
does not have to guess it; parameters are stored as lists (never pickled) and
scored with numpy/scipy, so a saved model loads without scikit-learn internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp

from molspace.errors import ConfigError, InputError

__all__ = ["LatentDensity"]


@dataclass(frozen=True)
class LatentDensity:
    """Full-covariance Gaussian mixture; ``log_density(z)`` is the per-row log p(z)."""

    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k, d)
    covariances: np.ndarray  # (k, d, d)
    bic: dict[int, float] = field(default_factory=dict)

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
    ) -> LatentDensity:
        """Fit one mixture per candidate size and keep the lowest BIC."""
        from sklearn.mixture import GaussianMixture

        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or not np.isfinite(z).all():
            raise InputError("reference latent matrix must be finite and 2D")
        usable = [k for k in candidates if k >= 1 and len(z) >= 5 * k]
        if not usable:
            raise InputError(
                f"reference library too small for a density model: {len(z)} encoded molecules"
            )
        best = None
        bic: dict[int, float] = {}
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
            if best is None or bic[k] < bic[best[0]]:
                best = (k, gmm)
        assert best is not None
        gmm = best[1]
        return cls(
            weights=np.asarray(gmm.weights_, dtype=np.float64),
            means=np.asarray(gmm.means_, dtype=np.float64),
            covariances=np.asarray(gmm.covariances_, dtype=np.float64),
            bic=bic,
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentDensity:
        try:
            weights = np.asarray(data["weights"], dtype=np.float64)
            means = np.asarray(data["means"], dtype=np.float64)
            covariances = np.asarray(data["covariances"], dtype=np.float64)
            bic = {int(k): float(v) for k, v in data.get("bic", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid density model: {exc}") from None
        k, d = means.shape if means.ndim == 2 else (0, 0)
        if weights.shape != (k,) or covariances.shape != (k, d, d) or k == 0:
            raise ConfigError("invalid density model: inconsistent array shapes")
        return cls(weights, means, covariances, bic)
