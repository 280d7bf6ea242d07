"""benchmarks/pmo.py: a real tiny run keeps its call log, and every figure comes back from
the log alone; the saved two-seed results still merge and print the like-for-like table."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pmo  # noqa: E402
from _pmo_report import print_table  # noqa: E402

from molspace.latent import LatentSpace  # noqa: E402
from molspace.oracles import get_oracle  # noqa: E402
from molspace.oracles.call_log import auc_from_log, read_call_log  # noqa: E402

TINY = ROOT / "tests" / "data" / "tiny_vae"


@pytest.fixture(scope="module")
def latent() -> LatentSpace:
    return LatentSpace.load(TINY)


def test_run_log_round_trips_and_reproduces_the_reported_auc(
    latent: LatentSpace, tmp_path: Path
) -> None:
    args = pmo._parser().parse_args(
        ["--budget", "40", "--batch-size", "16", "--library-size", "100", "--retrain-every", "0"]
    )
    task, seed, budget = "isomers_c7h8n2o2", 1, 40
    run = pmo.run_molspace(latent, task, seed, budget, args)
    provenance = pmo._provenance(latent)
    row = pmo.record_run(
        run,
        task=task,
        seed=seed,
        budget=budget,
        method="molspace",
        provenance=provenance,
        args=vars(args),
        calls_dir=tmp_path,
    )
    path = tmp_path / "isomers_c7h8n2o2_seed1.parquet"
    assert row["calls_file"] == str(path)
    log = read_call_log(path)
    smiles, scores = run[0], run[1]
    assert log.table["smiles"].tolist() == smiles and len(smiles) == row["n_calls"] > 0
    assert np.max(np.abs(log.scores() - np.asarray(scores))) < 1e-7
    # the AUC the run reported, recomputed from the file alone, bit for bit
    assert auc_from_log(log) == row["auc_top10"]
    assert auc_from_log(log, "score_prev") == row["auc_top10_prev"]
    prev = get_oracle("isomers_c7h8n2o2_prev")
    assert np.allclose(log.scores("score_prev"), [prev(s) for s in smiles], rtol=1e-6, atol=1e-9)
    meta = log.metadata
    assert (meta["task"], meta["seed"], meta["budget"], meta["method"]) == (
        task,
        seed,
        budget,
        "molspace",
    )
    assert meta["model_sha256"] == latent.metadata["weights"]["sha256"]
    assert {"rdkit", "torch", "optuna", "molspace"} <= set(meta["versions"])
    assert meta["method_config"]["seed"] == seed and meta["method_config"]["pmo"] == task
    assert meta["method_config"]["space"]["library_size"] == 100 and meta["date"]
    assert meta["scores_differing_from_oracle"] == 0
    # how the search ended is kept: the budget, or the trial cap when proposals repeat
    assert row["stop_reason"] == meta["method_config"]["stop_reason"]
    assert row["stop_reason"] in ("budget", "trial_cap")
    assert (row["stop_reason"] == "budget") == (row["n_calls"] == budget)
    assert row["n_trials"] >= row["n_calls"]
    assert 0 < meta["oracle_seconds"] == row["oracle_seconds"] < row["seconds"]

    budget_back, results = pmo.results_from_calls(tmp_path)
    back = results["molspace"][task][0]
    assert budget_back == budget
    for key in ("auc_top10", "auc_top10_prev", "n_calls", "top3", "best", "seed", "oracle_seconds"):
        assert back[key] == row[key], key
    _, rescored = pmo.results_from_calls(tmp_path, pmo.load_rescorer("molspace"))
    assert rescored["molspace"][task][0]["auc_top10"] == row["auc_top10"]


def test_saved_json_results_merge_into_the_like_for_like_table() -> None:
    """The two-seed results saved before call logs existed: 16-task sum 9.107 (seed 0
    9.210, seed 1 9.003) against REINVENT 9.718; 20-task sum 11.962 as a secondary line."""
    paths = sorted((ROOT / "benchmarks" / "results" / "pmo").glob("retrain_seed*.json"))
    budget, results = pmo.merge_results(paths)
    published = pmo._published()
    if not published:
        pytest.skip("pmo_auc_top10 anchor not found")
    out = io.StringIO()
    with redirect_stdout(out):
        print_table(results, budget, published)
    text = out.getvalue()
    assert "9.107±0.103" in text and "seed 0: 9.210, seed 1: 9.003" in text
    assert "9.718" in text and "10.542" in text
    assert "above REINVENT on 6 of 16 tasks" in text
    assert "11.962±0.092" in text


def test_merge_refuses_runs_of_different_models() -> None:
    """Seeds of one configuration must share the model: the frozen seed-0 run (step
    25,500) and the older retraining run (step 10,000) do not merge into one sum."""
    folder = ROOT / "benchmarks" / "results" / "pmo"
    with pytest.raises(SystemExit, match="different models"):
        pmo.merge_results([folder / "frozen_seed0.json", folder / "retrain_seed1_partA.json"])
    budget, results = pmo.merge_results(
        [folder / "frozen_seed0.json", folder / "frozen_seed0_partB.json"]
    )
    assert budget == 10_000 and len(results["molspace"]) == 16


def test_sweep_table_joins_runs_of_one_configuration_from_several_files() -> None:
    """The course sweep at 10,000 calls: the baseline's two tasks come from two files,
    c02's from one file per task; the options shown are those off the frozen preset."""
    folder = ROOT / "benchmarks" / "results" / "pmo"
    sweep = folder / "tuning" / "course10k"
    lines = pmo.sweep_table(
        [
            f"baseline={sweep / 'baseline_zaleplon.json'},{folder / 'frozen_seed0.json'}",
            f"c02={sweep / 'c02_zaleplon_mpo.json'},{sweep / 'c02_perindopril_mpo.json'}",
            sweep,
        ]
    )
    table = {line.split()[0]: line for line in lines[1:]}
    assert "0.566 (0.566)" in table["baseline"] and "0.528 (0.528)" in table["baseline"]
    assert table["baseline"].endswith("{}")
    assert "1.085" in table["c02"] and "{'repeat_threshold': 0.5}" in table["c02"]
    assert "course10k/c01" in table and "nan" in table["course10k/c01"]  # zaleplon only


def test_tuning_grid_is_the_product_of_its_values() -> None:
    defaults = pmo._parser().parse_args([])
    configs = pmo.tuning_configs(
        {"local_fraction": [0.5, 0.9], "sampler": ["random", "tpe"]}, defaults
    )
    assert configs == [
        {"local_fraction": 0.5, "sampler": "random"},
        {"local_fraction": 0.5, "sampler": "tpe"},
        {"local_fraction": 0.9, "sampler": "random"},
        {"local_fraction": 0.9, "sampler": "tpe"},
    ]
    with pytest.raises(SystemExit, match="unknown option"):
        pmo.tuning_configs({"no_such_option": [1]}, defaults)


def test_tuning_runs_only_the_tuning_tasks_and_records_the_sweep(
    latent: LatentSpace, tmp_path: Path
) -> None:
    args = pmo._parser().parse_args(
        ["--tuning", "smoke", "--batch-size", "8", "--library-size", "100", "--retrain-every", "0"]
    )
    sweep = pmo.run_tuning(args, latent, seeds=[0], budget=24, out=tmp_path)
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["tasks"] == ["zaleplon_mpo", "perindopril_mpo"] and saved["budget"] == 24
    assert [c["overrides"] for c in saved["configs"]] == [
        {"local_fraction": 0.5},
        {"local_fraction": 0.75},
    ]
    assert sorted(saved["ranking"]) == ["c00", "c01"]
    for config in sweep["configs"]:
        assert set(config["results"]) == {"zaleplon_mpo", "perindopril_mpo"}
        assert config["sum"] == pytest.approx(sum(config["mean_auc"].values()))
        logs = sorted((tmp_path / "calls" / config["name"]).glob("*.parquet"))
        assert [p.name for p in logs] == [
            "perindopril_mpo_seed0.parquet",
            "zaleplon_mpo_seed0.parquet",
        ]
        zaleplon = read_call_log(logs[1])
        assert zaleplon.metadata["args"]["tuning_config"] == config["name"]
        assert (
            zaleplon.metadata["method_config"]["local_fraction"]
            == config["overrides"]["local_fraction"]
        )
        assert auc_from_log(zaleplon) == config["results"]["zaleplon_mpo"][0]["auc_top10"]
        assert "score_prev" in zaleplon.table.columns
