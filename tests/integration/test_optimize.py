"""Latent optimisation end to end with the tiny trained VAE, real Optuna storages and Dask."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molspace.optimize import OptimizeConfig, optimize, run_optimization, scored_records
from molspace.optimize_scoring import OracleScorer
from molspace.oracles import get_oracle

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"
LIBRARY = TINY / "sample_molecules.csv"
MOLSPACE = Path(sys.executable).with_name("molspace")


@pytest.fixture(scope="module")
def latent():
    from molspace.latent import LatentSpace

    return LatentSpace.load(TINY)


class CountingScorer(OracleScorer):
    """QED, remembering every SMILES it was asked to score."""

    def __init__(self) -> None:
        super().__init__(get_oracle("qed"))
        self.seen: list[str] = []

    def score(self, smiles):
        self.seen.extend(smiles)
        return super().score(smiles)


def _config(tmp_path: Path, **kw) -> OptimizeConfig:
    base = {
        "model": str(TINY),
        "pmo": "qed",
        "budget": 12,
        "batch_size": 8,
        "seed": 1,
        "storage": str(tmp_path / "study.db"),
        "space": {"kind": "pca", "n_components": 4, "library": str(LIBRARY), "library_size": 100},
        "constraints": {"min_heavy_atoms": 6},
        "novelty_reference": str(LIBRARY),
    }
    base.update(kw)
    return OptimizeConfig.model_validate(base)


def test_budget_cache_and_resume(tmp_path: Path, latent) -> None:
    scorer = CountingScorer()
    config = _config(
        tmp_path, seeds=["CC(C)Cc1ccc(C(C)C(=O)O)cc1"], local_fraction=0.5, local_crossover=0.5
    )
    first = run_optimization(config, out_dir=tmp_path, latent=latent, scorer=scorer)
    assert first.n_calls == 12 and first.exhausted
    # no molecule was ever sent to the oracle twice; the cache answered the repeats
    assert max(Counter(scorer.seen).values()) == 1
    assert len(scorer.seen) == 12
    # the seed went first
    trial0 = first.study.trials[0]
    assert trial0.user_attrs["seed_smiles"] == "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    for t in first.study.trials:
        mol = t.user_attrs["mol"]
        assert len(mol["z"]) == latent.latent_dim and mol["status"]

    # the same command again: nothing left to do
    again = run_optimization(config, out_dir=tmp_path, latent=latent, scorer=scorer)
    assert again.n_new_calls == 0 and len(scorer.seen) == 12
    # a larger budget resumes from the stored molecules
    more = run_optimization(
        config.model_copy(update={"budget": 20}), out_dir=tmp_path, latent=latent, scorer=scorer
    )
    assert more.n_calls == 20 and more.n_new_calls == 8
    assert max(Counter(scorer.seen).values()) == 1
    # part of each later batch perturbed the best molecules found so far
    assert any("local_parent" in t.user_attrs for t in more.study.trials)
    records = scored_records(more.study)
    assert len({r["smiles"] for r in records}) == 20 == len(records)
    for r in records:  # told values are the oracle's
        assert r["values"][0] == pytest.approx(get_oracle("qed")(r["smiles"]))


@pytest.mark.slow
def test_constraints_and_degenerate_filter(tmp_path: Path, latent) -> None:
    lead = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    config = _config(
        tmp_path,
        sampler="tpe",
        budget=10,
        seeds=[lead],
        space={"kind": "ball", "radius": 1.0},
        constraints={
            "leads": [lead],
            "min_similarity": 0.3,
            "properties": {"mw": [150, 400]},
            "min_heavy_atoms": 10,
        },
    )
    result = run_optimization(config, out_dir=tmp_path, latent=latent)
    statuses = Counter(t.user_attrs["mol"]["status"] for t in result.study.trials)
    assert statuses["scored"] == 10
    for t in result.study.trials:
        mol = t.user_attrs["mol"]
        if mol["status"] in ("scored", "cached"):
            assert set(t.constraints) == {"lead_similarity", "mw_min", "mw_max"}
            assert mol["feasible"] == all(v <= 0 for v in t.constraints.values())
        if mol["status"] == "degenerate":  # never scored, told the penalty
            assert t.values == [0.0] and "components" not in mol
    # the ball is centred on the lead: its enqueued trial decodes the lead's own latent
    seed_z = np.asarray(result.study.trials[0].user_attrs["mol"]["z"])
    assert np.allclose(seed_z, latent.encode([lead])[0], atol=1e-4)


@pytest.mark.slow
def test_optimize_writes_outputs(tmp_path: Path) -> None:
    config = _config(tmp_path, budget=16, sampler="random", seeds=["c1ccc2ccccc2c1CC(=O)NC"])
    summary = optimize(config, out_dir=tmp_path / "out")
    out = tmp_path / "out"
    table = pd.read_parquet(out / "candidates.parquet")
    assert len(table) == summary["n_oracle_calls"] == 16
    assert {"smiles", "score", "qed", "novel", "seed_similarity", "oracle_call"} <= set(table)
    assert table["score"].is_monotonic_decreasing
    assert (out / "history.png").stat().st_size > 0
    assert (out / "top_molecules.svg").read_text().startswith("<")
    assert 0 < summary["auc_top10"] <= 1
    assert pd.read_csv(out / "candidates.csv")["smiles"].tolist() == table["smiles"].tolist()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    bad = subprocess.run(
        [str(MOLSPACE), "optimize", "--out", str(tmp_path), "--pmo", "nope", "--model", str(TINY)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "unknown PMO task 'nope'" in bad.stderr
    missing = subprocess.run(
        [str(MOLSPACE), "optimize", str(tmp_path / "none.toml"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2 and "config file not found" in missing.stderr


@pytest.mark.slow
def test_cli_runs_and_resumes(tmp_path: Path) -> None:
    toml = tmp_path / "opt.toml"
    toml.write_text(
        f'[optimize]\nmodel = "{TINY}"\npmo = "qed"\nbudget = 10\nbatch_size = 8\n'
        f'novelty_reference = ""\n[optimize.space]\nkind = "pca"\nn_components = 3\n'
        f'library = "{LIBRARY}"\nlibrary_size = 100\n'
    )
    args = [str(MOLSPACE), "optimize", str(toml), "--out", str(tmp_path / "o")]
    first = subprocess.run(args, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "10/10 molecules scored" in first.stderr
    second = subprocess.run([*args, "--budget", "14"], capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    assert "14/14 molecules scored" in second.stderr


@pytest.mark.dask
@pytest.mark.slow
def test_two_dask_workers_share_a_journal(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    config = _config(
        tmp_path, budget=40, batch_size=4, storage=str(tmp_path / "s.journal"), novelty_reference=""
    )
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        summary = optimize(config, out_dir=tmp_path / "o", workers=2, client=client)
    import optuna

    from molspace.optimize_storage import make_storage, storage_url

    study = optuna.load_study(
        study_name="molspace", storage=make_storage(storage_url(config.storage, tmp_path))
    )
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # no trial lost or duplicated
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in study.trials)
    scored = [
        t.user_attrs["mol"]["smiles"]
        for t in study.trials
        if t.user_attrs["mol"]["status"] == "scored"
    ]
    # the budget holds across workers; both contributed; a molecule scored by two workers
    # at the same moment is the only possible repeat
    assert len(set(scored)) == 40 == summary["n_oracle_calls"]
    workers = Counter(t.user_attrs["mol"]["worker"] for t in study.trials)
    assert set(workers) == {0, 1}
    assert len(scored) - len(set(scored)) <= 2
    assert np.isfinite(summary["auc_top10"])


@pytest.mark.slow
def test_multi_objective_pareto_front(tmp_path: Path) -> None:
    objective = {
        "aggregation": "geometric",
        "components": [
            {"type": "qed"},
            {
                "type": "mw",
                "transform": {"kind": "double_sigmoid", "low": 200, "high": 350, "width": 50},
            },
        ],
    }
    config = _config(
        tmp_path, pmo=None, multi_objective=True, sampler="nsga2", budget=16, novelty_reference=""
    )
    summary = optimize(config, objective, out_dir=tmp_path / "o")
    assert summary["n_oracle_calls"] == 16
    front = pd.read_csv(tmp_path / "o" / "pareto.csv")
    table = pd.read_csv(tmp_path / "o" / "candidates.csv")
    assert 1 <= len(front) <= len(table)
    names = ["qed_desirability", "mw_desirability"]
    # nothing in the table dominates a front member
    for _, member in front.iterrows():
        dominated = (table[names].to_numpy() >= member[names].to_numpy(dtype=float)).all(axis=1) & (
            table[names].to_numpy() > member[names].to_numpy(dtype=float)
        ).any(axis=1)
        assert not dominated.any()


@pytest.mark.slow
def test_gp_sampler_runs(tmp_path: Path, latent) -> None:
    result = run_optimization(
        _config(tmp_path, sampler="gp", budget=10), out_dir=tmp_path, latent=latent
    )
    assert result.n_calls == 10


@pytest.mark.slow
def test_sigterm_finishes_the_batch_and_exits_resumable(tmp_path: Path) -> None:
    import signal
    import sqlite3
    import time

    out = tmp_path / "o"
    args = [
        str(MOLSPACE),
        "optimize",
        "--out",
        str(out),
        "--model",
        str(TINY),
        "--pmo",
        "qed",
        "--budget",
        "400",
        "--batch-size",
        "8",
        "--space",
        "box",
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    db = out / "study.db"
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(1)
        if db.is_file():
            try:
                with sqlite3.connect(db, timeout=5) as con:
                    done = con.execute(
                        "select count(*) from trials where state = 'COMPLETE'"
                    ).fetchone()[0]
            except sqlite3.Error:
                continue
            if done >= 8:
                break
    assert done >= 8, "the run never told a batch"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 75, err
    assert "run the same command again to resume" in err
    with sqlite3.connect(db) as con:
        states = dict(con.execute("select state, count(*) from trials group by state").fetchall())
    assert "RUNNING" not in states  # the batch in flight was told, nothing left dangling
    assert (out / "candidates.parquet").is_file()
