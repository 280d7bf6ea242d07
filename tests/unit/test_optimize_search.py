"""The sharper local search: GP surrogate on latent vectors, best-of-k children, the
replayed trust-region step size, and ``propose_local`` on a real Optuna study."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from molspace.optimization.cache import OracleCache
from molspace.optimization.config import OptimizeConfig
from molspace.optimization.proposals import (
    enqueue_children,
    local_children,
    local_outcomes,
    propose_local,
)
from molspace.optimization.space import box_space
from molspace.optimization.study import MOL_ATTR, Z_ATTR
from molspace.optimization.surrogate import LatentSurrogate, best_of
from molspace.optimization.trust_region import TrustRegion

D = 8
OPTIMUM = np.linspace(-1.0, 1.0, D)


def _objective(z: np.ndarray) -> np.ndarray:
    """A smooth bump with its top at ``OPTIMUM``: higher is better."""
    return np.exp(-0.5 * np.sum((np.atleast_2d(z) - OPTIMUM) ** 2, axis=1) / 4.0)


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))


# --- surrogate ------------------------------------------------------------------------


def test_surrogate_learns_a_smooth_objective_and_is_unsure_far_away():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(150, D)) * 1.5
    model = LatentSurrogate(seed=0).fit(z, _objective(z), np.ones(D))
    test = rng.normal(size=(200, D)) * 1.5
    mean, _ = model.predict(test)
    assert np.corrcoef(mean, _objective(test))[0, 1] > 0.9
    _, at_data = model.predict(z)
    _, far = model.predict(np.full((1, D), 25.0))
    assert far[0] > 4 * np.median(at_data)  # no data there: the GP says so


def test_surrogate_works_in_units_of_the_scale():
    rng = np.random.default_rng(1)
    scale = np.array([100.0] + [1.0] * (D - 1))
    z = rng.normal(size=(120, D)) * scale  # dimension 0 is 100x wider
    y = _objective(z / scale)
    model = LatentSurrogate(seed=0).fit(z, y, scale)
    test = rng.normal(size=(100, D)) * scale
    assert np.corrcoef(model.predict(test)[0], _objective(test / scale))[0, 1] > 0.9


def _sklearn_reference(x: np.ndarray, y: np.ndarray, query: np.ndarray):
    """The fit the surrogate replaced: scikit-learn's GP over the same grid."""
    from scipy.spatial.distance import pdist
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel

    median = float(np.median(pdist(x)))
    fits = []
    for factor in LatentSurrogate.LENGTH_FACTORS:
        for noise in LatentSurrogate.NOISE_LEVELS:
            kernel = RBF(factor * median, "fixed") + WhiteKernel(noise, "fixed")
            gp = GaussianProcessRegressor(kernel, optimizer=None, normalize_y=True).fit(x, y)
            fits.append((gp.log_marginal_likelihood_value_, -len(fits), gp))
    return max(fits, key=lambda fit: fit[:2])[2].predict(query, return_std=True)


@pytest.mark.parametrize("shape", [(60, 8, 0.0), (300, 64, 0.05), (40, 64, 1.0)])
def test_surrogate_is_scikit_learns_gp_over_the_same_grid(shape):
    # the surrogate computes scikit-learn's GP (normalize_y, RBF + white noise, fixed
    # hyperparameters picked by marginal likelihood) itself, ~10x cheaper: same numbers
    n, d, noise = shape
    rng = np.random.default_rng(n)
    z = rng.normal(size=(n, d))
    y = _objective(z[:, :D] if d >= D else z) + noise * rng.normal(size=n)
    query = np.vstack([rng.normal(size=(50, d)), z[:5], np.full((1, d), 9.0)])
    mean, std = LatentSurrogate(seed=0).fit(z, y, np.ones(d)).predict(query)
    ref_mean, ref_std = _sklearn_reference(z, y, query)
    assert np.allclose(mean, ref_mean, rtol=0, atol=1e-9)
    assert np.allclose(std, ref_std, rtol=0, atol=1e-9)


def test_training_rows_keep_the_best_and_the_most_recent():
    values = np.array([5.0, 0.0, 9.0, 1.0, 2.0, 8.0, 3.0, 4.0])
    rows = LatentSurrogate.training_rows(values, 4)
    # best two: rows 2 (9.0) and 5 (8.0); most recent others: rows 7 and 6
    assert rows.tolist() == [2, 5, 6, 7]
    assert LatentSurrogate.training_rows(values, 100).tolist() == list(range(8))


def test_surrogate_refuses_too_little_data_and_predicting_unfitted():
    with pytest.raises(ValueError, match="2 or more"):
        LatentSurrogate().fit(np.zeros((1, D)), np.zeros(1), np.ones(D))
    with pytest.raises(RuntimeError, match="fit"):
        LatentSurrogate().predict(np.zeros((1, D)))


def test_best_of_picks_the_best_round_per_slot():
    # 3 rounds of 2 slots: slot 0 gets candidates 0, 2, 4; slot 1 gets 1, 3, 5
    acquisition = np.array([0.1, 0.9, 0.7, 0.2, 0.3, 0.9])
    assert best_of(acquisition, 2).tolist() == [2, 1]  # slot 1: a tie keeps round 0
    with pytest.raises(ValueError, match="evenly"):
        best_of(acquisition, 4)


# --- trust region -----------------------------------------------------------------------


def test_trust_region_doubles_halves_and_restarts():
    region = TrustRegion(success_tolerance=3, failure_tolerance=2, min_factor=0.125)
    assert region.factor([]) == 1.0
    assert region.factor([True, True]) == 1.0
    assert region.factor([True, True, True]) == 2.0
    assert region.factor([True] * 9) == 2.0  # capped at max_factor
    assert region.factor([False, False]) == 0.5
    assert region.factor([False] * 6) == 0.125
    assert region.factor([False] * 8) == 1.0  # would fall to 1/16: restart
    assert region.factor([False, True, False]) == 1.0  # a success breaks the failure run
    with pytest.raises(ValueError):
        TrustRegion(min_factor=2.0)


# --- children on a real study -------------------------------------------------------


def _scored_latents(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    z = np.random.default_rng(seed).normal(size=(n, D)) * 1.5
    return z, _objective(z)


def test_screened_children_score_higher_than_unscreened_ones():
    space = box_space(D, 4.0)
    z, y = _scored_latents(200, 2)
    parents = [(f"p{r}", z[i]) for r, i in enumerate(np.argsort(-y)[:5])]
    true_means = {}
    for screen in (1, 8):
        study = _study()
        n = enqueue_children(
            study,
            space,
            parents,
            40,
            np.random.default_rng(3),
            sigma=1.0,
            crossover=0.0,
            screen=screen,
            surrogate_data=(z, y),
            extra_attrs={"tag": screen},
        )
        trials = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
        assert n == len(trials) == 40
        assert all(t.user_attrs["tag"] == screen for t in trials)
        # the round-robin of parents is kept with screening
        assert [t.user_attrs["local_parent"] for t in trials] == [f"p{i % 5}" for i in range(40)]
        children = np.array([t.user_attrs[Z_ATTR] for t in trials])
        true_means[screen] = float(_objective(children).mean())
    assert true_means[8] > true_means[1] + 0.05, true_means


def test_screening_waits_for_enough_data():
    space = box_space(D, 4.0)
    z, y = _scored_latents(5, 4)  # fewer than MIN_SURROGATE_POINTS: plain children
    plain, screened = _study(), _study()
    parents = [("a", z[0]), ("b", z[1])]
    enqueue_children(plain, space, parents, 6, np.random.default_rng(5), sigma=0.3, crossover=0)
    enqueue_children(
        screened,
        space,
        parents,
        6,
        np.random.default_rng(5),
        sigma=0.3,
        crossover=0,
        screen=8,
        surrogate_data=(z, y),
    )
    a = [t.user_attrs[Z_ATTR] for t in plain.get_trials()]
    b = [t.user_attrs[Z_ATTR] for t in screened.get_trials()]
    assert a == b


def _tell_children(study: optuna.Study, values: dict[int, tuple[str, float]]) -> None:
    """Run the waiting trials; ``values[i]`` is (status, value) of the i-th one asked."""
    for i in range(len(values)):
        trial = study.ask()
        status, value = values[i]
        trial.set_user_attr(MOL_ATTR, {"smiles": f"m{trial.number}", "status": status})
        study.tell(trial, value)


def test_local_outcomes_replay_batches_in_order():
    study = _study()
    space = box_space(D, 4.0)
    rng = np.random.default_rng(6)
    parents = [("a", np.zeros(D))]
    # batch 1 (bar 0.5): one new molecule at 0.7 -> success
    enqueue_children(
        study, space, parents, 2, rng, sigma=0.3, crossover=0,
        extra_attrs={"local_batch": 11, "local_bar": 0.5},
    )  # fmt: skip
    _tell_children(study, {0: ("scored", 0.2), 1: ("scored", 0.7)})
    # batch 2 (bar 0.7): above the bar only as a cached duplicate -> failure
    enqueue_children(
        study, space, parents, 2, rng, sigma=0.3, crossover=0,
        extra_attrs={"local_batch": 3, "local_bar": 0.7},
    )  # fmt: skip
    _tell_children(study, {0: ("cached", 0.9), 1: ("scored", 0.6)})
    # children without a bar (local_adapt off) are not counted
    enqueue_children(study, space, parents, 1, rng, sigma=0.3, crossover=0)
    _tell_children(study, {0: ("scored", 1.0)})
    assert local_outcomes(study) == [True, False]


def _cache_and_parents(n: int) -> tuple[OracleCache, dict[str, np.ndarray]]:
    z, y = _scored_latents(n, 7)
    cache = OracleCache(10_000)
    parents = {}
    for i in range(n):
        cache.add(f"m{i}", [float(y[i])])
        parents[f"m{i}"] = z[i]
    return cache, parents


def _config(**kw) -> OptimizeConfig:
    base = {"pmo": "qed", "batch_size": 20, "local_fraction": 0.5, "local_top": 4}
    return OptimizeConfig(**{**base, **kw})


def test_propose_local_matches_the_plain_children_by_default():
    cache, parents = _cache_and_parents(30)
    study = _study()
    n = propose_local(study, box_space(D, 4.0), cache, parents, _config(), np.random.default_rng(8))
    assert n == 10
    top = sorted(parents, key=lambda s: -cache.get(s).values[0])[:4]
    trials = study.get_trials()
    assert [t.user_attrs["local_parent"] for t in trials[:4]] == top
    expected, _ = local_children(
        np.stack([parents[s] for s in top]),
        1.0,
        10,
        np.random.default_rng(8),
        sigma=0.3,
        crossover=0.0,
    )
    got = np.array([t.user_attrs[Z_ATTR] for t in trials])
    assert np.allclose(got, np.round(expected, 5))
    assert "local_batch" not in trials[0].user_attrs


def test_propose_local_adapt_shrinks_the_step_after_failed_batches():
    cache, parents = _cache_and_parents(30)
    config = _config(local_adapt=True, local_crossover=0.0, batch_size=400)
    space = box_space(D, 4.0)
    study = _study()
    spreads = []
    for k in range(5):  # every batch fails: no child scores above the bar
        propose_local(study, space, cache, parents, config, np.random.default_rng(k))
        waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
        assert (
            waiting[0].user_attrs["local_bar"] == sorted(e.values[0] for e in cache.entries())[-4]
        )
        spreads.append(
            np.mean(
                [
                    np.linalg.norm(
                        np.array(t.user_attrs[Z_ATTR]) - parents[t.user_attrs["local_parent"]]
                    )
                    for t in waiting
                ]
            )
        )
        _tell_children(study, dict.fromkeys(range(len(waiting)), ("scored", 0.0)))
    # factor 1, 1, 0.5, 0.5, 0.25 (halved after every 2 failures); 200 children a batch
    ratios = np.array(spreads) / spreads[0]
    assert np.allclose(ratios, [1, 1, 0.5, 0.5, 0.25], rtol=0.1), ratios
    assert local_outcomes(study) == [False] * 5


def test_propose_local_screen_uses_the_scored_parents():
    cache, parents = _cache_and_parents(60)
    space = box_space(D, 4.0)
    means = {}
    for screen in (1, 16):
        study = _study()
        config = _config(local_screen=screen, local_sigma=1.0, batch_size=80)
        propose_local(study, space, cache, parents, config, np.random.default_rng(10))
        z = np.array([t.user_attrs[Z_ATTR] for t in study.get_trials()])
        means[screen] = float(_objective(z).mean())
    assert means[16] > means[1] + 0.05, means
