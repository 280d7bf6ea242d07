"""The local search's GP surrogate: molspace's own fit against scikit-learn's, side by side.

Each batch of a PMO run (``local_screen > 1``) fits a GP on up to 400 scored latent
vectors (64 dimensions) over a 3 x 3 grid of length scales and noise levels, then ranks
``local_screen`` candidates per child. ``molspace.optimization.surrogate`` computes the
same numbers as scikit-learn's ``GaussianProcessRegressor`` (held to 1e-9 by
``tests/unit/test_optimize_search.py``); this prints the time of both on the same data,
interleaved, and the largest difference of their predictions.

    .venv/bin/python benchmarks/surrogate.py [--points 400] [--dim 64] [--candidates 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.spatial.distance import pdist
from threadpoolctl import threadpool_limits

from molspace.optimization.surrogate import LatentSurrogate


def sklearn_fit_predict(x: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The grid fit as it was written with scikit-learn (before this benchmark)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel

    median = float(np.median(pdist(x))) or 1.0
    best = None
    with threadpool_limits(limits=1, user_api="blas"):
        for factor in LatentSurrogate.LENGTH_FACTORS:
            for noise in LatentSurrogate.NOISE_LEVELS:
                kernel = RBF(factor * median, "fixed") + WhiteKernel(noise, "fixed")
                gp = GaussianProcessRegressor(kernel, optimizer=None, normalize_y=True)
                gp.fit(x, y)
                if best is None or gp.log_marginal_likelihood_value_ > best[0]:
                    best = (gp.log_marginal_likelihood_value_, gp)
        assert best is not None
        mean, std = best[1].predict(query, return_std=True)
    return np.concatenate([mean, std])


def molspace_fit_predict(x: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
    mean, std = LatentSurrogate().fit(x, y, np.ones(x.shape[1])).predict(query)
    return np.concatenate([mean, std])


RUNS = (("scikit-learn", sklearn_fit_predict), ("molspace", molspace_fit_predict))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=400, help="scored vectors (max_points)")
    parser.add_argument("--dim", type=int, default=64, help="latent dimensions")
    parser.add_argument(
        "--candidates", type=int, default=512, help="vectors ranked (batch 64 x local_screen 8)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.points, args.dim))
    y = np.exp(-0.05 * np.sum((x - 0.5) ** 2, axis=1)) + 0.05 * rng.normal(size=args.points)
    query = x[rng.integers(args.points, size=args.candidates)] + 0.3 * rng.normal(
        size=(args.candidates, args.dim)
    )
    times: dict[str, list[float]] = {"scikit-learn": [], "molspace": []}
    results = {}
    for _ in range(args.repeats):  # interleaved: a load change hits both alike
        for name, run in RUNS:
            start = time.perf_counter()
            results[name] = run(x, y, query)
            times[name].append(time.perf_counter() - start)
    base, ours = (float(np.median(times[k])) for k in ("scikit-learn", "molspace"))
    diff = float(np.max(np.abs(results["scikit-learn"] - results["molspace"])))
    print(
        f"GP surrogate fit (3 x 3 grid) + predict, {args.points} points x {args.dim} dims, "
        f"{args.candidates} candidates, median of {args.repeats}:"
    )
    print(f"  scikit-learn GaussianProcessRegressor  {base * 1000:8.1f} ms")
    print(f"  molspace LatentSurrogate               {ours * 1000:8.1f} ms   {base / ours:.1f}x")
    print(f"  largest difference of the predictions (mean, std): {diff:.1e}")


if __name__ == "__main__":
    main()
