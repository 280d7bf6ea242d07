"""A cheap Gaussian-process surrogate on latent vectors, to rank candidate children
before any of them is decoded or scored.

Decoding is cheap and the oracle is the budget (PMO counts unique scored molecules), so
the local search can afford to draw several candidate children per slot and keep only
the one a surrogate likes best. The surrogate is a GP (scikit-learn) fitted on the exact
latent vectors of molecules already scored in the *current* model's latent space (after
weighted retraining, the re-encoded best and everything decoded since), in units of the
encoded library's per-dimension spread: an isotropic RBF kernel plus white noise, its
hyperparameters fitted by marginal likelihood on at most ``max_points`` molecules (the
best half and the most recent half), so a fit costs well under a second. Candidates are
ranked by the upper confidence bound ``mean + kappa * std``, as in latent-space BO
(Tripp et al. 2020; LOL-BO, Maus et al. 2022), but only among the children of one parent:
which parents get children is still the local search's choice.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["LatentSurrogate", "best_of"]


@dataclass
class LatentSurrogate:
    """GP regression of objective values on latent vectors (``fit``, then ``predict``)."""

    max_points: int = 400
    seed: int = 0

    def __post_init__(self) -> None:
        self._gp: object | None = None
        self._scale: np.ndarray | None = None

    @staticmethod
    def training_rows(values: np.ndarray, max_points: int) -> np.ndarray:
        """Indices of the rows to fit on: all when few, else the best ``max_points // 2``
        by value and the most recent rest (rows are in the order they were scored)."""
        n = len(values)
        if n <= max_points:
            return np.arange(n)
        best = np.argsort(-np.asarray(values, dtype=float), kind="stable")[: max_points // 2]
        chosen = set(best.tolist())
        recent = [i for i in range(n - 1, -1, -1) if i not in chosen][: max_points - len(best)]
        return np.sort(np.concatenate([best, np.asarray(recent, dtype=int)]))

    def fit(self, z: np.ndarray, y: np.ndarray, scale: np.ndarray) -> LatentSurrogate:
        """Fit on latent vectors ``z`` (n, d) and values ``y`` (n,), higher is better."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        z = np.atleast_2d(np.asarray(z, dtype=float))
        y = np.asarray(y, dtype=float)
        if len(z) != len(y) or len(y) < 2:
            raise ValueError(
                f"need at least 2 matching rows, got {len(z)} vectors, {len(y)} values"
            )
        rows = self.training_rows(y, self.max_points)
        self._scale = np.broadcast_to(np.asarray(scale, dtype=float), (z.shape[1],)).copy()
        x = z[rows] / self._scale
        d = x.shape[1]
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(
            length_scale=np.sqrt(d), length_scale_bounds=(1e-2 * np.sqrt(d), 1e2 * np.sqrt(d))
        ) + WhiteKernel(1e-2, (1e-6, 1.0))
        gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=self.seed)
        with warnings.catch_warnings():  # a bound reached is an answer, not a problem
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x, y[rows])
        self._gp = gp
        return self

    def predict(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at latent vectors ``z`` (m, d)."""
        if self._gp is None or self._scale is None:
            raise RuntimeError("fit the surrogate first")
        x = np.atleast_2d(np.asarray(z, dtype=float)) / self._scale
        mean, std = self._gp.predict(x, return_std=True)  # type: ignore[attr-defined]
        return np.asarray(mean, dtype=float), np.asarray(std, dtype=float)


def best_of(acquisition: np.ndarray, n_slots: int) -> np.ndarray:
    """For candidates laid out slot-major in rounds (candidate ``i`` fills slot
    ``i % n_slots``), the index of the best-scoring candidate of each slot; ties keep
    the earliest round."""
    acquisition = np.asarray(acquisition, dtype=float)
    if n_slots <= 0 or len(acquisition) % n_slots:
        raise ValueError(f"{len(acquisition)} candidates do not fill {n_slots} slots evenly")
    rounds = acquisition.reshape(-1, n_slots)
    return np.argmax(rounds, axis=0) * n_slots + np.arange(n_slots)
