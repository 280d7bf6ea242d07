"""A cheap Gaussian-process surrogate on latent vectors, to rank candidate children
before any of them is decoded or scored.

Decoding is cheap and the oracle is the budget (PMO counts unique scored molecules), so
the local search can afford to draw several candidate children per slot and keep only
the one a surrogate likes best. The surrogate is a GP (numpy/scipy) fitted on the exact
latent vectors of molecules already scored in the *current* model's latent space (after
weighted retraining, the re-encoded best and everything decoded since), in units of the
encoded library's per-dimension spread: an isotropic RBF kernel plus white noise on
standardized values, fitted on at most ``max_points`` molecules (the best half and the
most recent half). Its length scale (a multiple of the median distance between training
points) and noise level are picked from a small grid by marginal likelihood, each a
single Cholesky factorization: a gradient fit of the same kernel took 17 s for 150
points on the shared CPU and would have cost more than the decoding it saves. BLAS runs
on one thread here (a multithreaded fit was 5x slower on 2 busy cores). Candidates are
ranked by the upper confidence bound ``mean + kappa * std``, as in latent-space BO
(Tripp et al. 2020; LOL-BO, Maus et al. 2022), but only among the children of one parent:
which parents get children is still the local search's choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LatentSurrogate", "best_of"]


@dataclass(frozen=True)
class _Posterior:
    """What prediction needs from a fit: the chosen kernel, the Cholesky factor of the
    training covariance, its solve against the standardized values, the standardization."""

    length: float
    noise: float
    train: np.ndarray  # training vectors / length
    lower: np.ndarray
    weights: np.ndarray
    y_mean: float
    y_std: float


@dataclass
class LatentSurrogate:
    """GP regression of objective values on latent vectors (``fit``, then ``predict``)."""

    max_points: int = 400
    seed: int = 0

    def __post_init__(self) -> None:
        self._posterior: _Posterior | None = None
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

    #: length scales tried, in units of the median distance between training points
    LENGTH_FACTORS = (0.5, 1.0, 2.0)
    #: noise levels tried, as a share of the standardized values' variance
    NOISE_LEVELS = (1e-3, 1e-2, 1e-1)

    #: jitter on the kernel's diagonal (scikit-learn's ``GaussianProcessRegressor`` default)
    JITTER = 1e-10

    def fit(self, z: np.ndarray, y: np.ndarray, scale: np.ndarray) -> LatentSurrogate:
        """Fit on latent vectors ``z`` (n, d) and values ``y`` (n,), higher is better.

        The same computation as scikit-learn's ``GaussianProcessRegressor(RBF(l, "fixed")
        + WhiteKernel(noise, "fixed"), optimizer=None, normalize_y=True)`` over the grid
        (``tests/unit/test_optimize_search.py`` holds the two to 1e-9), without its
        per-fit overhead: scikit-learn factorizes every grid point twice and clones its
        kernels, which made the GP fit a fifth of a PMO run's wall time.
        """
        from scipy.linalg import cho_solve, cholesky
        from scipy.spatial.distance import pdist, squareform
        from threadpoolctl import threadpool_limits

        z = np.atleast_2d(np.asarray(z, dtype=float))
        y = np.asarray(y, dtype=float)
        if len(z) != len(y) or len(y) < 2:
            raise ValueError(f"need 2 or more matching rows: {len(z)} vectors, {len(y)} values")
        rows = self.training_rows(y, self.max_points)
        self._scale = np.broadcast_to(np.asarray(scale, dtype=float), (z.shape[1],)).copy()
        x = z[rows] / self._scale
        values = y[rows]
        y_mean = float(np.mean(values))
        spread = float(np.std(values))
        y_std = spread if spread >= 10 * np.finfo(float).eps else 1.0
        standardized = (values - y_mean) / y_std
        median = float(np.median(pdist(x))) or 1.0
        n = len(x)
        best: tuple[float, _Posterior] | None = None
        with threadpool_limits(limits=1, user_api="blas"):
            for factor in self.LENGTH_FACTORS:
                length = factor * median
                correlation = squareform(np.exp(-0.5 * pdist(x / length, metric="sqeuclidean")))
                np.fill_diagonal(correlation, 1.0)
                for noise in self.NOISE_LEVELS:
                    kernel = correlation + noise * np.eye(n)
                    kernel[np.diag_indices_from(kernel)] += self.JITTER
                    lower = cholesky(kernel, lower=True, check_finite=False)
                    weights = cho_solve((lower, True), standardized, check_finite=False)
                    evidence = float(
                        -0.5 * standardized @ weights
                        - np.log(np.diag(lower)).sum()
                        - n / 2 * np.log(2 * np.pi)
                    )
                    if best is None or evidence > best[0]:
                        posterior = _Posterior(
                            length, noise, x / length, lower, weights, y_mean, y_std
                        )
                        best = (evidence, posterior)
        assert best is not None
        self._posterior = best[1]
        return self

    def predict(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at latent vectors ``z`` (m, d)."""
        post = self._posterior
        if post is None or self._scale is None:
            raise RuntimeError("fit the surrogate first")
        from scipy.linalg import solve_triangular
        from scipy.spatial.distance import cdist
        from threadpoolctl import threadpool_limits

        x = np.atleast_2d(np.asarray(z, dtype=float)) / self._scale
        with threadpool_limits(limits=1, user_api="blas"):
            cross = np.exp(-0.5 * cdist(x / post.length, post.train, metric="sqeuclidean"))
            mean = post.y_std * (cross @ post.weights) + post.y_mean
            solved = solve_triangular(post.lower, cross.T, lower=True, check_finite=False)
            variance = np.full(len(x), 1.0 + post.noise)
            variance -= np.einsum("ij,ji->i", solved.T, solved)
        variance = np.maximum(variance, 0.0) * post.y_std**2
        return np.asarray(mean, dtype=float), np.sqrt(variance)


def best_of(acquisition: np.ndarray, n_slots: int) -> np.ndarray:
    """For candidates laid out slot-major in rounds (candidate ``i`` fills slot
    ``i % n_slots``), the index of the best-scoring candidate of each slot; ties keep
    the earliest round."""
    acquisition = np.asarray(acquisition, dtype=float)
    if n_slots <= 0 or len(acquisition) % n_slots:
        raise ValueError(f"{len(acquisition)} candidates do not fill {n_slots} slots evenly")
    rounds = acquisition.reshape(-1, n_slots)
    return np.argmax(rounds, axis=0) * n_slots + np.arange(n_slots)
