"""Reference tail probabilities and their Fisher combination, on plain arrays (no model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from molspace.analysis.anomaly import AnomalyModel, fit_anomaly_arrays
from molspace.analysis.density import TailProbability
from molspace.errors import ConfigError, InputError


def test_tail_is_the_conformal_p_value_inside_the_reference_range():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=500)
    tail = TailProbability.fit(reference)
    probes = np.sort(reference)[[0, 50, 250, 400]]  # below the exponential part (90th pct)
    expected = [(np.sum(reference >= x)) / 501 for x in probes]
    np.testing.assert_allclose(np.exp(tail.log_tail(probes)), expected, rtol=1e-12)


def test_tail_is_monotone_continuous_and_keeps_ranking_beyond_the_reference():
    rng = np.random.default_rng(1)
    tail = TailProbability.fit(rng.gamma(2.0, size=2000))
    x = np.linspace(-5, 60, 20_001)
    log_p = tail.log_tail(x)
    assert np.all(np.diff(log_p) <= 1e-12)
    assert np.all(np.diff(log_p[x > 30]) < 0)  # no ties past the largest reference value
    assert np.max(np.abs(np.diff(log_p))) < 0.05  # no jumps (continuous at the tail start)
    assert log_p[0] == pytest.approx(np.log(2000 / 2001))
    assert np.isneginf(tail.log_tail(np.array([np.nan, np.inf]))).all()


def test_exponential_tail_extrapolates_a_light_tail_sensibly():
    rng = np.random.default_rng(2)
    tail = TailProbability.fit(rng.exponential(size=5000))
    for true_p in (1e-4, 1e-6):
        estimate = np.exp(tail.log_tail(np.array([-np.log(true_p)]))[0])
        assert true_p / 3 < estimate < true_p * 3


def test_fresh_reference_like_values_get_uniform_p_values():
    rng = np.random.default_rng(3)
    tail = TailProbability.fit(rng.lognormal(size=3000))
    p = np.exp(tail.log_tail(rng.lognormal(size=20_000)))
    for level in (0.01, 0.05, 0.2, 0.5):
        assert np.mean(p <= level) == pytest.approx(level, abs=0.25 * level + 0.003)


def test_tail_round_trips_and_rejects_broken_files():
    tail = TailProbability.fit(np.random.default_rng(4).normal(size=300))
    again = TailProbability.from_dict(json.loads(json.dumps(tail.to_dict())))
    x = np.linspace(-4, 8, 101)
    np.testing.assert_array_equal(again.log_tail(x), tail.log_tail(x))
    with pytest.raises(ConfigError, match="invalid tail model"):
        TailProbability.from_dict({**tail.to_dict(), "scale": -1.0})
    with pytest.raises(ConfigError, match="invalid tail model"):
        TailProbability.from_dict({"values": [1, 2]})
    with pytest.raises(InputError, match="at least 20"):
        TailProbability.fit(np.array([1.0, 2.0, np.nan]))


def _model(rng: np.random.Generator) -> AnomalyModel:
    return fit_anomaly_arrays(
        rng.normal(size=(2000, 3)),
        rng.normal(size=(1000, 3)),
        {"nll": rng.gamma(3.0, size=1000)},
        quantile=0.99,
        seed=0,
        candidates=(1,),
    )


def test_one_very_surprising_signal_is_enough_and_the_driver_names_it():
    rng = np.random.default_rng(5)
    model = _model(rng)
    z = np.zeros((3, 3))
    z[2] = 8.0  # far from the reference in latent space
    nll = np.array([3.0, 40.0, 3.0])  # typical, extreme, typical
    frame = model.score_arrays(z, {"nll": nll})
    assert list(frame["outlier"]) == [False, True, True]
    assert list(frame["driver"])[1:] == ["nll", "density"]
    assert frame["nll_p"].iloc[1] < 1e-6 and frame["density_p"].iloc[2] < 1e-6
    assert ((frame[["density_p", "nll_p"]] > 0) & (frame[["density_p", "nll_p"]] <= 1)).all().all()
    # Fisher: the combined score is -2 * sum(log p)
    expected = -2 * (np.log(frame["density_p"]) + np.log(frame["nll_p"]))
    np.testing.assert_allclose(frame["anomaly_score"], expected, rtol=1e-9)
    # several mildly unusual signals add up
    mild = model.score_arrays(np.full((1, 3), 1.6), {"nll": np.array([8.0])})
    single = model.score_arrays(np.full((1, 3), 1.6), {"nll": np.array([3.0])})
    assert mild["anomaly_score"].iloc[0] > single["anomaly_score"].iloc[0]


def test_a_missing_signal_makes_an_outlier_and_bad_inputs_are_named():
    rng = np.random.default_rng(6)
    model = _model(rng)
    frame = model.score_arrays(np.zeros((1, 3)), {"nll": np.array([np.nan])})
    assert np.isinf(frame["anomaly_score"].iloc[0]) and bool(frame["outlier"].iloc[0])
    with pytest.raises(InputError, match="'nll' was not computed"):
        model.score_arrays(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match="must include 'density'"):
        fit_anomaly_arrays(np.zeros((50, 2)), np.zeros((30, 2)), {"surprise": np.zeros(30)})
    with pytest.raises(InputError, match="'nll' has"):
        fit_anomaly_arrays(rng.normal(size=(50, 2)), rng.normal(size=(30, 2)), {"nll": np.zeros(3)})


def test_saved_model_reloads_identically_and_older_formats_are_refused(tmp_path):
    rng = np.random.default_rng(7)
    model = _model(rng)
    path = model.save(tmp_path / "anomaly.json")
    data = json.loads(path.read_text())
    assert data["schema"] == "molspace.anomaly/2" and data["combination"] == "fisher"
    again = AnomalyModel.load(path)
    z, nll = rng.normal(size=(9, 3)), rng.gamma(3.0, size=9)
    assert again.score_arrays(z, {"nll": nll}).equals(model.score_arrays(z, {"nll": nll}))
    (tmp_path / "old.json").write_text(json.dumps({**data, "schema": "molspace.anomaly/1"}))
    with pytest.raises(ConfigError, match=r"another molspace version.*fit it again"):
        AnomalyModel.load(tmp_path / "old.json")
    (tmp_path / "odd.json").write_text(json.dumps({**data, "components": ["density", "magic"]}))
    with pytest.raises(ConfigError, match="unknown signals magic"):
        AnomalyModel.load(tmp_path / "odd.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a molspace anomaly model"):
        AnomalyModel.load(tmp_path / "list.json")


def test_mixture_size_is_chosen_on_held_out_vectors_and_recorded():
    from molspace.analysis.density import LatentDensity

    rng = np.random.default_rng(8)
    centers = rng.normal(scale=6.0, size=(3, 5))

    def draw(n: int) -> np.ndarray:
        return centers[rng.integers(0, 3, n)] + rng.normal(size=(n, 5))

    density = LatentDensity.fit(draw(900), candidates=(1, 3, 6), seed=0, validation=draw(300))
    assert set(density.heldout) == {1, 3, 6} and density.n_components == 3
    assert density.heldout[3] == max(density.heldout.values())
    again = LatentDensity.from_dict(json.loads(json.dumps(density.to_dict())))
    assert again.heldout == density.heldout
    with pytest.raises(InputError, match="validation"):
        LatentDensity.fit(draw(100), candidates=(1,), validation=np.zeros((5, 4)))
    model = fit_anomaly_arrays(draw(1000), draw(200), seed=0, candidates=(1, 3))
    assert model.density.n_components == 3
    assert model.info["gmm_selection"] == "held-out log-likelihood"
    assert set(model.info["heldout_loglik"]) == {1, 3}
