"""Maps, clusters, density and anomaly calibration on plain arrays (no model needed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from molspace.analysis.anomaly import AnomalyModel, fit_anomaly_arrays
from molspace.analysis.density import LatentDensity
from molspace.analysis.interpolate import lerp, path_points, slerp
from molspace.analysis.maps import available_projections, cluster, cluster_table, project
from molspace.errors import ConfigError, InputError


def blobs(n_per: int = 60, dim: int = 8, centers: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 6, (centers, dim))
    return np.vstack([m + rng.normal(0, 0.5, (n_per, dim)) for m in means])


def test_pca_projection_keeps_most_variance_of_separated_blobs():
    z = blobs()
    coords, info = project(z, "pca")
    assert coords.shape == (len(z), 2)
    assert sum(info["explained_variance_ratio"]) > 0.8
    assert "pca" in available_projections()


def test_unknown_or_missing_projection_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown projection"):
        project(blobs(), "isomap")
    if "umap" not in available_projections():
        with pytest.raises(ConfigError, match="umap-learn"):
            project(blobs(), "umap")


def test_bad_matrix_is_an_input_error():
    with pytest.raises(InputError, match="NaN"):
        project(np.full((10, 3), np.nan))
    with pytest.raises(InputError, match="at least"):
        project(np.zeros((2, 3)))


@pytest.mark.parametrize("method", ["kmeans", "hdbscan"])
def test_clustering_recovers_blobs_and_representatives_are_members(method):
    z = blobs()
    truth = np.repeat(np.arange(3), 60)
    result = cluster(z, method, n_clusters=3, min_cluster_size=10, seed=1)
    assert result.n_clusters == 3
    for label, index in result.representatives.items():
        assert result.labels[index] == label
    # each found cluster is pure: all members share one true blob
    for label in result.representatives:
        members = truth[result.labels == label]
        assert len(set(members.tolist())) == 1
    records = pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(len(z))],
            "smiles": ["C"] * len(z),
            "qed": np.linspace(0, 1, len(z)),
        }
    )
    table = cluster_table(records, result, ["qed"])
    assert table.loc[table["cluster"] >= 0, "size"].sum() + (result.labels == -1).sum() == len(z)
    assert "mean_qed" in table


def test_representative_is_nearest_the_centroid():
    z = np.array([[0.0, 0.0], [1.0, 0.0], [0.4, 0.1], [10.0, 10.0], [11.0, 10.0], [10.6, 10.1]])
    result = cluster(z, "kmeans", n_clusters=2, seed=0)
    reps = sorted(result.representatives.values())
    assert reps == [2, 5]


def test_density_picks_mixture_size_by_bic_and_round_trips_json():
    z = blobs(n_per=150, dim=4)
    density = LatentDensity.fit(z, candidates=(1, 3, 4), seed=0)
    assert density.n_components == 3
    ref = density.log_density(z[:5])
    again = LatentDensity.from_dict(json.loads(json.dumps(density.to_dict())))
    np.testing.assert_allclose(again.log_density(z[:5]), ref)
    # agrees with scikit-learn's own scoring of the same parameters
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(
        n_components=3, covariance_type="full", random_state=0, reg_covar=1e-4
    ).fit(z)
    np.testing.assert_allclose(gmm.score_samples(z[:5]), ref, rtol=1e-6)
    far = density.log_density(np.full((1, 4), 100.0))
    assert far[0] < ref.min()
    assert np.isneginf(density.log_density(np.full((1, 4), np.nan))[0])


def test_anomaly_threshold_flags_about_one_percent_of_new_reference_like_data():
    rng = np.random.default_rng(3)
    dim = 6
    cov = np.diag(np.linspace(0.5, 2.0, dim))

    def draw(n: int) -> np.ndarray:
        return rng.multivariate_normal(np.zeros(dim), cov, n)

    recon = lambda n: rng.beta(1, 8, n)  # noqa: E731 - a reconstruction-failure-like signal
    model = fit_anomaly_arrays(
        draw(3000),
        draw(2000),
        {"reconstruction": recon(2000)},
        quantile=0.99,
        seed=0,
        candidates=(1, 2),
    )
    fresh = model.score_arrays(draw(5000), {"reconstruction": recon(5000)})
    rate = fresh["outlier"].mean()
    assert 0.004 <= rate <= 0.02, rate
    # a shifted population is flagged far more often, and ranks above reference data
    shifted = model.score_arrays(draw(500) + 3.0, {"reconstruction": recon(500) + 0.3})
    assert shifted["outlier"].mean() > 0.5
    assert shifted["reference_percentile"].median() > 99
    # unencodable rows (NaN latent) are maximal outliers
    missing = model.score_arrays(np.full((1, dim), np.nan), {"reconstruction": np.array([np.nan])})
    assert np.isinf(missing["anomaly_score"].iloc[0]) and bool(missing["outlier"].iloc[0])


def test_anomaly_model_saves_as_json_and_reloads(tmp_path):
    rng = np.random.default_rng(0)
    model = fit_anomaly_arrays(
        rng.normal(size=(400, 3)), rng.normal(size=(100, 3)), seed=0, candidates=(1, 2)
    )
    path = model.save(tmp_path / "anomaly.json")
    assert json.loads(path.read_text())["schema"].startswith("molspace.anomaly")
    again = AnomalyModel.load(path)
    z = rng.normal(size=(7, 3))
    pd.testing.assert_frame_equal(again.score_arrays(z), model.score_arrays(z))
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    with pytest.raises(ConfigError, match="not a molspace anomaly model"):
        AnomalyModel.load(tmp_path / "bad.json")
    with pytest.raises(InputError, match="not found"):
        AnomalyModel.load(tmp_path / "missing.json")


def test_slerp_keeps_endpoints_and_interpolates_norm():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), 2.0 * rng.normal(size=16)
    t = np.linspace(0, 1, 9)
    path = slerp(a, b, t)
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    expected_norms = (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), expected_norms, rtol=1e-9)
    # the straight line cuts through the interior: its midpoint norm is smaller
    assert np.linalg.norm(lerp(a, b, t)[4]) < np.linalg.norm(path[4])
    # parallel endpoints fall back to the straight line
    np.testing.assert_allclose(slerp(a, 3 * a, t), lerp(a, 3 * a, t))
    with pytest.raises(ConfigError):
        path_points(a, b, 1)
    with pytest.raises(ConfigError, match="unknown interpolation"):
        path_points(a, b, 5, "cubic")
