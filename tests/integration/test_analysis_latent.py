"""Latent-space analyses on the real tiny trained bundle (tests/data/tiny_vae).

Assertions are tolerant where the tiny model is imprecise, but each one can
fail: endpoints must be exact, the achieved similarity distribution must land
near the asked band, the reference calibration must flag about 1%.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molspace.errors import ConfigError, InvalidMoleculeError

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "tests/data/tiny_vae"
MOSES_TEST = ROOT / "libraries/moses/test.csv.gz"
MOSES_TRAIN = ROOT / "libraries/moses/train.csv.gz"
LEAD = "CC(=O)Nc1ccc(O)cc1"
OTHER = "O=C(O)c1ccccc1Cl"


@pytest.fixture(scope="module")
def space():
    from molspace.latent import LatentSpace

    return LatentSpace.load(BUNDLE)


def moses(path: Path, n: int, skip: int = 0) -> list[str]:
    frame = pd.read_csv(path, nrows=n + skip)
    return frame.iloc[skip:, 0].astype(str).tolist()


def test_interpolation_path_starts_and_ends_at_the_inputs(space):
    from molspace.analysis.interpolate import interpolate
    from molspace.chem import canonical_smiles, mol_from_smiles

    for method in ("slerp", "linear"):
        path = interpolate(space, LEAD, OTHER, steps=16, method=method)
        assert path["origin"].iloc[0] == "start" and path["origin"].iloc[-1] == "end"
        assert path["smiles"].iloc[0] == canonical_smiles(mol_from_smiles(LEAD))
        assert path["smiles"].iloc[-1] == canonical_smiles(mol_from_smiles(OTHER))
        assert path["sim_start"].iloc[0] == 1.0 and path["sim_end"].iloc[-1] == 1.0
        assert path["smiles"].is_unique
        assert path["t"].is_monotonic_increasing
        assert path["n_points"].sum() == 16  # every decoded point is accounted for once
        assert {"qed", "mw", "clogp"} <= set(path.columns)
        middle = path[path["origin"] == "path"]
        # the path moves: molecules met early resemble the start more than the end, late ones
        # the reverse (checked on the path's first and last decoded molecules, if any)
        if len(middle) >= 2:
            first, last = middle.iloc[0], middle.iloc[-1]
            assert first["sim_start"] - first["sim_end"] >= last["sim_start"] - last["sim_end"]


def test_interpolation_rejects_a_bad_user_molecule_in_one_line(space):
    from molspace.analysis.interpolate import interpolate

    with pytest.raises(InvalidMoleculeError, match="start molecule 'C1CC'"):
        interpolate(space, "C1CC", OTHER)


def test_explore_reaches_the_requested_similarity_band(space):
    """The tiny model reconstructs molecules at Tanimoto ~0.3 and ignores small latent
    moves (the failure users report for published VAEs), so the band asked here is
    one it can reach; the radius must still be *found*, far from the prior scale."""
    from molspace.analysis.explore import explore_radius

    band = (0.15, 0.35)
    result = explore_radius(space, LEAD, band=band, n_samples=60, n_probe=12, seed=1)
    achieved = result.achieved
    q = achieved["similarity_quantiles"]
    assert band[0] - 0.05 <= q["q50"] <= band[1] + 0.05, achieved
    assert achieved["fraction_in_band"] >= 0.4, achieved
    assert achieved["r_outer"] > 1.0, achieved  # noise below radius 1 changes nothing here
    analogs = result.analogs
    assert len(analogs) >= 5
    assert analogs["in_band"].all() and analogs["smiles"].is_unique
    assert analogs["similarity"].is_monotonic_decreasing
    assert result.query not in set(analogs["smiles"])
    assert {"delta_qed", "delta_mw"} <= set(analogs.columns)
    probes = result.calibration[1]["probes"]
    assert len(probes) >= 3 and probes[0]["median"] > probes[-1]["median"]


def test_explore_reports_an_unreachable_band_honestly(space):
    from molspace.analysis.explore import explore_radius

    result = explore_radius(
        space, LEAD, band=(0.6, 0.9), n_samples=20, n_probe=8, seed=0, keep="all"
    )
    assert not result.achieved["inner_reached"]
    assert "cannot be steered" in result.achieved["note"]
    assert result.achieved["fraction_in_band"] < 0.5


def test_explore_band_validation(space):
    from molspace.analysis.explore import explore_radius

    with pytest.raises(ConfigError, match="band"):
        explore_radius(space, LEAD, band=(0.8, 0.3))


@pytest.mark.slow
def test_explore_along_a_ridge_direction_raises_the_property(space):
    from molspace.analysis.explore import explore_direction, reference_direction

    direction = reference_direction(space, moses(MOSES_TRAIN, 300), "clogp", seed=0)
    assert direction.source == "ridge" and direction.r2_cv is not None
    assert direction.r2_cv > 0.2  # latent codes carry logP information
    up = explore_direction(
        space,
        LEAD,
        direction,
        increase=True,
        n_steps=4,
        samples_per_step=6,
        n_probe=8,
        seed=0,
        keep="all",
    )
    down = explore_direction(
        space,
        LEAD,
        direction,
        increase=False,
        n_steps=4,
        samples_per_step=6,
        n_probe=8,
        seed=0,
        keep="all",
    )
    assert len(up.analogs) and len(down.analogs)
    assert up.analogs["delta_clogp"].is_monotonic_decreasing
    assert up.analogs["delta_clogp"].median() > down.analogs["delta_clogp"].median()


def mutate_all(smiles: list[str], seed: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from anomaly import mutate  # the benchmark's decoy generator

    rng = random.Random(seed)
    return [m for m in (mutate(s, rng) for s in smiles) if m]


@pytest.mark.slow
def test_anomaly_model_calibrates_on_reference_and_separates_decoys(space, tmp_path):
    from molspace.analysis.anomaly import AnomalyModel, fit_anomaly_model, score_anomalies

    model = fit_anomaly_model(space, moses(MOSES_TRAIN, 600), quantile=0.95, seed=0)
    test = moses(MOSES_TEST, 200)
    scores = score_anomalies(space, model, test)
    assert len(scores) == len(test) and list(scores["smiles"]) == test
    assert scores["outlier"].mean() <= 0.12  # ~5% expected at quantile 0.95
    decoys = score_anomalies(space, model, mutate_all(moses(MOSES_TEST, 120, skip=300), 0))
    assert decoys["anomaly_score"].median() > scores["anomaly_score"].median()
    weird = score_anomalies(
        space, model, ["[Pt](Cl)(Cl)(N)N", "C1CC", "CCO"], ids=["pt", "broken", "ethanol"]
    )
    by_id = weird.set_index("id")
    assert by_id.loc["pt", "status"] == "unencodable" and bool(by_id.loc["pt", "outlier"])
    assert np.isinf(by_id.loc["broken", "anomaly_score"])
    assert "parse_error" in by_id.loc["broken", "reason"] or by_id.loc["broken", "reason"]
    assert by_id.loc["ethanol", "status"] == "ok"
    again = AnomalyModel.load(model.save(tmp_path / "m.json"))
    pd.testing.assert_frame_equal(score_anomalies(space, again, test[:20]), scores.head(20))


def test_encode_library_counts_add_up_and_resume_skips_done_partitions(tmp_path):
    from molspace.analysis.encode_library import encode_library, read_latent

    library = tmp_path / "lib.smi"
    rows = [*moses(MOSES_TEST, 25), "C1CC", "[Pt](Cl)(Cl)(N)N", "", "CCO"]
    library.write_text("".join(f"{s}\tm{i}\n" for i, s in enumerate(rows)))
    out = tmp_path / "enc"
    manifest = encode_library(library, out, model=BUNDLE, chunk_size=10)
    assert manifest["n_read"] == manifest["n_encoded"] + manifest["n_rejected"]
    assert manifest["n_encoded"] >= 25 and manifest["n_rejected"] >= 2
    records, z = read_latent(out)
    assert z.shape == (manifest["n_encoded"], manifest["latent_dim"])
    assert np.isfinite(z).all() and records["id"].is_unique
    rejects = pd.read_csv(out / "rejects.csv")
    assert len(rejects) == manifest["n_rejected"] and rejects["reason"].str.len().gt(0).all()
    again = encode_library(library, out, model=BUNDLE, chunk_size=10)
    assert again["n_resumed_partitions"] == again["n_partitions"]
    assert again["n_encoded"] == manifest["n_encoded"]


@pytest.mark.dask
@pytest.mark.slow
def test_encode_library_on_a_dask_cluster_matches_in_process(tmp_path):
    from distributed import Client, LocalCluster

    from molspace.analysis.encode_library import encode_library, read_latent

    library = tmp_path / "lib.smi"
    library.write_text("".join(f"{s}\tm{i}\n" for i, s in enumerate(moses(MOSES_TEST, 60))))
    local = encode_library(library, tmp_path / "local", model=BUNDLE, chunk_size=16)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        remote = encode_library(
            library, tmp_path / "dask", model=BUNDLE, chunk_size=16, client=client
        )
    assert remote["n_encoded"] == local["n_encoded"] and remote["n_partitions"] == 4
    (ra, za), (rb, zb) = read_latent(tmp_path / "local"), read_latent(tmp_path / "dask")
    assert list(ra["id"]) == list(rb["id"])
    np.testing.assert_allclose(za, zb, atol=1e-5)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "molspace", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_map_writes_tables_and_a_report(tmp_path):
    library = tmp_path / "lib.csv"
    pd.DataFrame(
        {"smiles": [*moses(MOSES_TEST, 60), "C1CC"], "name": [f"n{i}" for i in range(61)]}
    ).to_csv(library, index=False)
    out = tmp_path / "map"
    result = run_cli(
        "map",
        str(library),
        "--out",
        str(out),
        "--model",
        str(BUNDLE),
        "--n-clusters",
        "4",
        "--id-column",
        "name",
    )
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out / "map.parquet")
    assert len(frame) + len(pd.read_csv(out / "rejects.csv")) == 61
    assert frame["representative"].sum() == 4
    html = (out / "report.html").read_text()
    assert "cluster representatives" in html
    assert not re.search(r"""(?:src|href)=["']https?:""", html)


def test_cli_errors_are_one_line(tmp_path):
    result = run_cli("explore", "C1CC", "--out", str(tmp_path / "x"), "--model", str(BUNDLE))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "C1CC" in result.stderr
    result = run_cli(
        "explore",
        LEAD,
        "--out",
        str(tmp_path / "x"),
        "--model",
        str(BUNDLE),
        "--band",
        "0.9",
        "0.2",
    )
    assert result.returncode == 2 and "band" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    result = run_cli("anomaly", str(tmp_path / "missing.smi"), "--out", str(tmp_path / "a"))
    assert result.returncode == 2 and "exactly one of reference" in result.stderr
