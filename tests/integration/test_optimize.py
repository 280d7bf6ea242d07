"""Latent optimisation end to end with the tiny trained VAE, real Optuna storages and Dask.

Runs sharing a study go through ``logged_qed`` (a ``module:function`` plugin, imported by
every process from this file): it appends each SMILES it is asked to score to a log file,
so the tests count real oracle calls across processes, not what the trials claim.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molspace.optimization import OptimizeConfig, optimize, run_optimization, scored_records
from molspace.optimization.anchors import anchor_seeds
from molspace.optimization.scoring import OracleScorer
from molspace.oracles import get_oracle

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"
LIBRARY = TINY / "sample_molecules.csv"
MOLSPACE = Path(sys.executable).with_name("molspace")
PLUGIN = "test_optimize:logged_qed"


def logged_qed(smiles: list[str]) -> list[float]:
    """QED, logging every call as ``pid<TAB>smiles`` to ``$MOLSPACE_TEST_ORACLE_LOG``.

    ``$MOLSPACE_TEST_ORACLE_DELAY`` seconds per molecule make scoring slow enough to race;
    ``$MOLSPACE_TEST_ORACLE_GATE`` (``dir:n``) holds each process's first call until ``n``
    processes reached theirs (for 20 s at most: one may be waiting for another's score),
    so processes started together really overlap.
    """
    gate = os.environ.get("MOLSPACE_TEST_ORACLE_GATE")
    if gate:
        folder, n = gate.rsplit(":", 1)
        mark = Path(folder) / str(os.getpid())
        if not mark.exists():
            mark.touch()
            deadline = time.time() + 20
            while len(os.listdir(folder)) < int(n) and time.time() < deadline:
                time.sleep(0.05)
    with open(os.environ["MOLSPACE_TEST_ORACLE_LOG"], "a") as log:
        log.write("".join(f"{os.getpid()}\t{s}\n" for s in smiles))
    time.sleep(float(os.environ.get("MOLSPACE_TEST_ORACLE_DELAY", "0")) * len(smiles))
    oracle = get_oracle("qed")
    return [oracle(s) for s in smiles]


def _oracle_env(tmp_path: Path, delay: float = 0.0, gate: int = 0) -> dict[str, str]:
    """The environment of a process scoring with ``logged_qed``."""
    env = dict(os.environ)
    here = str(Path(__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    env["MOLSPACE_TEST_ORACLE_LOG"] = str(tmp_path / "oracle.log")
    env["MOLSPACE_TEST_ORACLE_DELAY"] = str(delay)
    if gate:
        (tmp_path / "gate").mkdir(exist_ok=True)
        env["MOLSPACE_TEST_ORACLE_GATE"] = f"{tmp_path / 'gate'}:{gate}"
    return env


def oracle_calls(tmp_path: Path) -> list[tuple[int, str]]:
    """(pid, smiles) of every oracle call ``logged_qed`` made, in order."""
    log = tmp_path / "oracle.log"
    lines = log.read_text().splitlines() if log.is_file() else []
    return [(int(pid), smiles) for pid, smiles in (line.split("\t") for line in lines)]


def assert_exact(study, budget: int, calls: list[tuple[int, str]] | None = None) -> None:
    """The invariant of a finished study shared by any number of processes: no trial lost
    or left open, each molecule scored by exactly one trial and (given the oracle log)
    sent to the oracle exactly once, exactly ``budget`` molecules scored, and every
    repeat told the first score."""
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    states = Counter(t.state.name for t in trials)
    assert set(states) <= {"COMPLETE", "FAIL"}, states
    scored = [t for t in trials if t.user_attrs["mol"]["status"] == "scored"]
    per_smiles = Counter(t.user_attrs["mol"]["smiles"] for t in scored)
    assert len(per_smiles) == budget, (len(per_smiles), budget)
    assert max(per_smiles.values()) == 1, [s for s, n in per_smiles.items() if n > 1]
    if calls is not None:
        called = Counter(s for _, s in calls)
        assert max(called.values()) == 1, [s for s, n in called.items() if n > 1]
        assert set(called) == set(per_smiles)
    first = {t.user_attrs["mol"]["smiles"]: t.values for t in scored}
    for t in trials:
        mol = t.user_attrs["mol"]
        if mol["status"] == "cached":
            assert t.values == first[mol["smiles"]], t.number
        if t.state.name == "FAIL":  # budget spent, or settled after its worker was killed
            assert mol["status"] in {"over_budget", "abandoned", "unresolved"}, mol


def _shared_toml(path: Path, budget: int, batch_size: int = 8, pca: bool = False) -> Path:
    """An optimize TOML scoring with ``logged_qed`` in the tiny model's prior box, or in
    a PCA subspace of a 50-molecule sample (the sample, so the space, depends on the seed)."""
    space = (
        f'{{ kind = "pca", n_components = 4, library = "{LIBRARY}", library_size = 50 }}'
        if pca
        else '{ kind = "box", bound = 2.5 }'
    )
    path.write_text(
        "[optimize]\n"
        f'model = "{TINY}"\n'
        f'plugin = "{PLUGIN}"\n'
        f"budget = {budget}\n"
        f"batch_size = {batch_size}\n"
        'novelty_reference = ""\n'
        f"space = {space}\n"
        "constraints = { min_heavy_atoms = 6 }\n"
    )
    return path


def _load(storage: str, name: str = "molspace"):
    import optuna

    from molspace.optimization.storage import make_storage, storage_url

    return optuna.load_study(study_name=name, storage=make_storage(storage_url(storage, ".")))


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
    # the lead's enqueued trial decodes its anchor: the posterior draw decoding closest to it
    (anchor,) = anchor_seeds(latent, [lead], config.seed_anchor_draws, config.seed)
    first = result.study.trials[0].user_attrs["mol"]
    assert np.allclose(np.asarray(first["z"]), anchor.z, atol=1e-4)
    assert first["smiles"] == anchor.decoded
    assert anchor.similarity >= anchor.mean_similarity


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
def test_two_dask_workers_share_a_journal(tmp_path: Path, monkeypatch) -> None:
    from distributed import Client, LocalCluster

    for key, value in _oracle_env(tmp_path, delay=0.02).items():
        monkeypatch.setenv(key, value)  # the worker processes inherit it
    config = _config(
        tmp_path,
        pmo=None,
        plugin=PLUGIN,
        budget=40,
        batch_size=4,
        storage=str(tmp_path / "s.journal"),
        novelty_reference="",
    )
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        snapshots: list = []
        summary = optimize(
            config,
            out_dir=tmp_path / "o",
            workers=2,
            client=client,
            progress=snapshots.append,
            progress_every=0.1,
        )
    study = _load(config.storage)
    calls = oracle_calls(tmp_path)
    assert_exact(study, 40, calls)
    # the driver read the progress from the shared storage while the workers ran
    assert snapshots and all(s.budget == 40 and 0 <= s.scored <= 40 for s in snapshots)
    assert [s.scored for s in snapshots] == sorted(s.scored for s in snapshots)
    assert summary["n_oracle_calls"] == 40 and not summary["stopped"]
    # both workers contributed, each from its own process
    assert {t.user_attrs["mol"]["worker"] for t in study.trials} == {0, 1}
    assert len({pid for pid, _ in calls}) == 2
    assert np.isfinite(summary["auc_top10"])


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["shared.db", "shared.journal"])
def test_two_processes_share_one_study_exactly(tmp_path: Path, storage: str) -> None:
    """Two separate ``molspace optimize`` processes (no Dask), other seeds, on one new
    study: both adopt the first search space created (their PCA samples differ), the tiny
    model decodes many of the same molecules in both at the same moments, and each
    molecule is scored once."""
    toml = _shared_toml(tmp_path / "opt.toml", budget=40, pca=True)
    env = _oracle_env(tmp_path, delay=0.03, gate=2)
    args = [str(MOLSPACE), "optimize", str(toml), "--storage", str(tmp_path / storage)]
    args += ["--study-name", "shared"]
    procs = [
        subprocess.Popen(
            [*args, "--out", str(tmp_path / f"o{i}"), "--seed", str(i)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
        assert "40/40 molecules scored" in err
    calls = oracle_calls(tmp_path)
    study = _load(str(tmp_path / storage), "shared")
    assert_exact(study, 40, calls)
    assert len({pid for pid, _ in calls}) == 2, "both processes scored molecules"
    # every sampled trial was decoded through the study's one stored space
    from molspace.optimization.space import LatentSearchSpace

    space = LatentSearchSpace.from_json(study.user_attrs["space"])
    sampled = [t for t in study.trials if "z_exact" not in t.user_attrs]
    x = np.array([[t.params[n] for n in space.param_names] for t in sampled])
    z = np.array([t.user_attrs["mol"]["z"] for t in sampled])
    assert np.allclose(space.to_latent(x), z, atol=1e-4)


def _wait_for_calls(tmp_path: Path, proc: subprocess.Popen, n: int) -> None:
    deadline = time.time() + 240
    while len(oracle_calls(tmp_path)) < n and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert len(oracle_calls(tmp_path)) >= n and proc.poll() is None, "the run never scored"


@pytest.mark.slow
def test_killed_run_is_recovered_on_resume(tmp_path: Path) -> None:
    """SIGKILL in the middle of a scoring call: the resumed run fails the dead batch's
    RUNNING trials, frees its claims, never re-scores what was stored, ends at the budget."""
    toml = _shared_toml(tmp_path / "opt.toml", budget=40)
    storage = str(tmp_path / "study.db")
    args = [str(MOLSPACE), "optimize", str(toml), "--out", str(tmp_path / "o")]
    args += ["--storage", storage]
    proc = subprocess.Popen(args, env=_oracle_env(tmp_path, delay=0.2), stderr=subprocess.PIPE)
    _wait_for_calls(tmp_path, proc, 10)  # inside the second batch's scoring call
    proc.kill()
    proc.communicate(timeout=60)
    study = _load(storage)
    running = {t.number for t in study.trials if t.state.name == "RUNNING"}
    assert running, "the kill left no open batch"
    stored = {
        t.user_attrs["mol"]["smiles"]
        for t in study.trials
        if t.state.name == "COMPLETE" and t.user_attrs["mol"]["status"] == "scored"
    }
    killed_calls = len(oracle_calls(tmp_path))
    done = subprocess.run(
        args, env=_oracle_env(tmp_path), capture_output=True, text=True, timeout=400, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "40/40 molecules scored" in done.stderr
    study = _load(storage)
    assert_exact(study, 40)  # the killed call's molecules may be scored again: never stored
    resumed = [s for _, s in oracle_calls(tmp_path)[killed_calls:]]
    assert len(resumed) == len(set(resumed)) == 40 - len(stored)
    assert not stored & set(resumed)
    abandoned = {t.number for t in study.trials if t.user_attrs["mol"]["status"] == "abandoned"}
    assert abandoned == running


GHOST = """
import os, sys
import optuna
from molspace.optimization.space import LatentSearchSpace
from molspace.optimization.storage import make_storage
from molspace.optimization.ledger import open_ledger

url = sys.argv[1]
study = optuna.load_study(study_name="molspace", storage=make_storage(url))
space = LatentSearchSpace.from_json(study.user_attrs["space"])
a, b = study.ask(space.distributions()), study.ask(space.distributions())
ledger = open_ledger(url, study.study_name, study._study_id, 10, 120.0)
ledger.start(len(study.trials))
ledger.in_flight([a.number, b.number])
ledger.claim(["Oc1ccccc1", "Nc1ccccc1"], {"Oc1ccccc1": a.number, "Nc1ccccc1": b.number})
ledger.fill({"Oc1ccccc1": ([0.123], {"qed": 0.123})})
print(a.number, b.number)
os._exit(0)  # killed after scoring phenol, before telling either trial
"""


@pytest.mark.slow
def test_worker_killed_between_score_and_tell(tmp_path: Path, latent) -> None:
    """A worker dies after its score reached the ledger but before it told the trial: the
    next run tells that trial with the stored score (no second oracle call) and fails the
    trial whose molecule was never scored."""
    scorer = CountingScorer()
    config = _config(tmp_path, budget=4)
    run_optimization(config, out_dir=tmp_path, latent=latent, scorer=scorer)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    ghost = subprocess.run(
        [sys.executable, "-c", GHOST, url], capture_output=True, text=True, check=False
    )
    assert ghost.returncode == 0, ghost.stderr
    scored_trial, lost_trial = (int(n) for n in ghost.stdout.split())
    result = run_optimization(
        config.model_copy(update={"budget": 10}), out_dir=tmp_path, latent=latent, scorer=scorer
    )
    assert result.n_calls == 10 and len(scorer.seen) == 9  # 4 + phenol (the ghost's) + 5
    assert "Oc1ccccc1" not in scorer.seen
    told = result.study.trials[scored_trial]
    assert told.state.name == "COMPLETE" and told.values == [0.123]
    assert told.user_attrs["mol"]["smiles"] == "Oc1ccccc1"
    assert told.user_attrs["mol"]["status"] == "scored"
    failed = result.study.trials[lost_trial]
    assert failed.state.name == "FAIL" and failed.user_attrs["mol"]["status"] == "abandoned"
    assert_exact(result.study, 10)


@pytest.mark.slow
def test_driver_tells_trials_of_workers_still_alive_after_the_stop(tmp_path: Path, latent) -> None:
    """The parallel driver gave up on a worker after the stop grace period: the worker is
    alive (its heartbeat beats, so recovery would leave its trials alone), yet every
    RUNNING trial is told: the one whose molecule the ledger scored with that score, the
    other failed; the worker's late tell changes nothing and its late score is refused,
    so the ledger and the study agree."""
    import optuna

    from molspace.optimization.ledger import open_ledger
    from molspace.optimization.recovery import recover, settle_running
    from molspace.optimization.run import _open_loop
    from molspace.optimization.space import LatentSearchSpace
    from molspace.optimization.storage import make_storage

    config = _config(tmp_path, budget=4)
    run_optimization(config, out_dir=tmp_path, latent=latent)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.load_study(study_name="molspace", storage=make_storage(url))
    space = LatentSearchSpace.from_json(study.user_attrs["space"])
    a, b = study.ask(space.distributions()), study.ask(space.distributions())
    worker = open_ledger(url, study.study_name, study._study_id, 10, 120.0)
    worker.start(len(study.trials))
    try:
        worker.in_flight([a.number, b.number])
        worker.claim(["Oc1ccccc1", "Nc1ccccc1"], {"Oc1ccccc1": a.number, "Nc1ccccc1": b.number})
        worker.fill({"Oc1ccccc1": ([0.123], {"qed": 0.123})})
        own = open_ledger(url, study.study_name, study._study_id, 10, 120.0)
        try:
            loop = _open_loop(study, own, [], config, latent, None, 1, lambda: False)  # type: ignore[arg-type]
            assert recover(loop) == 0  # a live worker's trials: not orphans
        finally:
            own.close()
        assert settle_running(study, url, config) == 2
        late = study.tell(a, [0.5], skip_if_finished=True)  # the worker, too late
        lost, counts = worker.fill({"Nc1ccccc1": ([0.4], {})})  # its trial was failed
        assert lost == {"Nc1ccccc1"} and counts.scored == 5  # the 4 of the run + phenol
    finally:
        worker.close()
    assert late.values == [0.123]
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[a.number].state.name == "COMPLETE" and trials[a.number].values == [0.123]
    assert trials[a.number].user_attrs["mol"]["smiles"] == "Oc1ccccc1"
    assert trials[a.number].user_attrs["mol"]["status"] == "scored"
    assert trials[b.number].state.name == "FAIL"
    assert trials[b.number].user_attrs["mol"]["status"] == "abandoned"
    assert not [t for t in trials.values() if t.state.name == "RUNNING"]


SLOW_TELLER = """
import sys, time
import optuna
from molspace.optimization.space import LatentSearchSpace
from molspace.optimization.storage import make_storage
from molspace.optimization.ledger import open_ledger

url, ready = sys.argv[1], sys.argv[2]
study = optuna.load_study(study_name="molspace", storage=make_storage(url))
space = LatentSearchSpace.from_json(study.user_attrs["space"])
trial = study.ask(space.distributions())
ledger = open_ledger(url, study.study_name, study._study_id, 5, 120.0)
ledger.start(len(study.trials))
ledger.in_flight([trial.number])
ledger.claim(["Oc1ccccc1"], {"Oc1ccccc1": trial.number})
ledger.fill({"Oc1ccccc1": ([0.123], {})})
open(ready, "w").close()
time.sleep(4)  # scored, not told yet: a worker busy telling a big batch
z = [0.0] * 16
trial.set_user_attr("mol", {"smiles": "Oc1ccccc1", "status": "scored", "z": z, "worker": 7})
study.tell(trial, [0.123])
ledger.close()
"""


@pytest.mark.slow
def test_finished_run_waits_for_scored_molecules_being_told(tmp_path: Path) -> None:
    """The budget is spent, but another worker is still telling the trial of the last
    molecule scored: this run waits for it, so its summary and candidates hold all of them."""
    config = _config(tmp_path, budget=4, novelty_reference="")
    optimize(config, out_dir=tmp_path / "o")
    ready = tmp_path / "ready"
    teller = subprocess.Popen(
        [sys.executable, "-c", SLOW_TELLER, f"sqlite:///{tmp_path / 'study.db'}", str(ready)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not ready.exists() and teller.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert ready.exists(), teller.stderr.read() if teller.stderr else ""
    summary = optimize(config.model_copy(update={"budget": 5}), out_dir=tmp_path / "o")
    _, err = teller.communicate(timeout=60)
    assert teller.returncode == 0, err
    assert summary["n_oracle_calls"] == 5
    table = pd.read_parquet(tmp_path / "o" / "candidates.parquet")
    assert "Oc1ccccc1" in set(table["smiles"]) and len(table) == 5


@pytest.mark.dask
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_reaches_dask_workers_and_resumes_exactly(tmp_path: Path, signum) -> None:
    """SIGTERM (a batch system) or SIGINT (Ctrl-C) to the whole process group of
    ``molspace optimize --workers 2``: the driver sets the stop event, both Dask workers
    tell their batch, exit code 75, nothing lost; the same command then ends at the
    budget with every oracle call (both runs, both workers) made exactly once."""
    toml = _shared_toml(tmp_path / "opt.toml", budget=60, batch_size=4)
    args = [str(MOLSPACE), "optimize", str(toml), "--out", str(tmp_path / "o")]
    args += ["--workers", "2"]
    env = _oracle_env(tmp_path, delay=0.1)
    proc = subprocess.Popen(
        args, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    _wait_for_calls(tmp_path, proc, 8)
    os.killpg(proc.pid, signum)  # the driver and its Dask worker processes alike
    start = time.time()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-3000:]
    assert time.time() - start < 60 and "run the same command again to resume" in err
    assert "KeyboardInterrupt" not in err and "Traceback" not in err
    study = _load(str(tmp_path / "o" / "study.db"))
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "FAIL"}  # all told
    n_first = len(oracle_calls(tmp_path))
    assert len(scored_records(study)) == n_first < 60  # every call made was stored
    if signum == signal.SIGINT:
        return  # resuming is the same as after SIGTERM
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "60/60 molecules scored" in done.stderr
    assert_exact(_load(str(tmp_path / "o" / "study.db")), 60, oracle_calls(tmp_path))


@pytest.mark.dask
@pytest.mark.slow
def test_workers_given_up_after_the_grace_period_leave_no_trial_running(tmp_path: Path) -> None:
    """SIGTERM while both Dask workers are inside a scoring call longer than the stop
    grace period: the driver gives them up, and before it exits tells every trial they
    left RUNNING (failed: their scores never reached the ledger), so the storage holds
    no open trial; the run then resumes to its budget."""
    from molspace.optimization.parallel import STOP_GRACE_SECONDS

    toml = _shared_toml(tmp_path / "opt.toml", budget=8, batch_size=2)
    args = [str(MOLSPACE), "optimize", str(toml), "--out", str(tmp_path / "o")]
    # any scoring call takes at least two grace periods
    env = _oracle_env(tmp_path, delay=2 * STOP_GRACE_SECONDS, gate=2)
    proc = subprocess.Popen(
        [*args, "--workers", "2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while len({pid for pid, _ in oracle_calls(tmp_path)}) < 2 and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)  # both workers are inside their first scoring call
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-3000:]
    study = _load(str(tmp_path / "o" / "study.db"))
    states = Counter(t.state.name for t in study.trials)
    assert set(states) <= {"COMPLETE", "FAIL"}, states  # nothing left RUNNING
    settled = [t.user_attrs["mol"] for t in study.trials if t.state.name == "FAIL"]
    assert settled and all(m.get("recovered_by") == "driver" for m in settled)
    env["MOLSPACE_TEST_ORACLE_DELAY"] = "0"  # resumed in one process
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "8/8 molecules scored" in done.stderr
    final = _load(str(tmp_path / "o" / "study.db"))
    assert {t.state.name for t in final.trials} <= {"COMPLETE", "FAIL"}


@pytest.mark.slow
def test_moses_defaults_work_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    """The PCA library and the novelty set default to the installed MOSES training set,
    found by ``moses_dir()``, not by a path relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    config = _config(
        tmp_path,
        budget=8,
        space={"kind": "pca", "n_components": 4, "library_size": 100},
        novelty_reference=None,
    )
    summary = optimize(config, out_dir=tmp_path / "o")
    assert summary["n_oracle_calls"] == 8
    assert "novelty" not in summary  # not skipped
    table = pd.read_parquet(tmp_path / "o" / "candidates.parquet")
    assert table["novel"].dtype == bool and len(table) == 8


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
    import sqlite3

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


def _stuck_toml(path: Path, radius: float, sigma: float, budget: int, max_trials: int) -> Path:
    """A search whose sampler can only propose one molecule: a ball of ``radius`` around
    the seed, local steps of ``sigma``."""
    path.write_text(
        "[optimize]\n"
        f'model = "{TINY}"\n'
        'pmo = "qed"\n'
        f"budget = {budget}\nbatch_size = 8\nmax_trials = {max_trials}\n"
        f"local_sigma = {sigma}\n"
        'seeds = ["CC(C)(C)C(=O)C(Oc1ccc(Cl)cc1)n1ccnc1"]\n'
        'novelty_reference = ""\n'
        f"space = {{ kind = 'ball', radius = {radius} }}\n"
    )
    return path


@pytest.mark.slow
def test_a_search_that_repeats_itself_changes_course_and_fills_its_budget(tmp_path: Path) -> None:
    """Every proposal of the sampler decodes to the seed's molecule and local steps are
    far too small: the loop sees the repeats, widens its steps and restarts around the
    seed and across the space until the budget is scored."""
    toml = _stuck_toml(tmp_path / "s.toml", radius=0.01, sigma=0.02, budget=12, max_trials=400)
    summary = optimize(toml, out_dir=tmp_path / "o")
    assert summary["stop_reason"] == "budget" and summary["n_oracle_calls"] == 12
    study = _load(str(tmp_path / "o" / "study.db"))
    first = [t.user_attrs["mol"] for t in study.trials if t.number < 16]
    assert len({m["smiles"] for m in first}) == 1  # the first two batches: one molecule
    assert any(t.user_attrs.get("restart") == "space" for t in study.trials)
    assert summary["n_repeats"] > 0 and summary["n_trials"] < 400
    assert summary["n_distinct_decoded"] >= 12


@pytest.mark.slow
def test_a_search_stuck_for_good_stops_at_its_trial_cap_and_says_why(tmp_path: Path) -> None:
    toml = _stuck_toml(tmp_path / "t.toml", radius=1e-4, sigma=1e-4, budget=16, max_trials=24)
    args = [str(MOLSPACE), "optimize", str(toml), "--out", str(tmp_path / "o")]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("stopped at the trial cap (max_trials = 24): 1 of the budget of 16")
    assert "1 distinct molecules decoded in 24 trials" in lines[-1]
    assert lines[0].startswith("optimize: 0/16 scored")  # progress lines (stderr is a pipe)
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["stop_reason"] == "trial_cap" and summary["n_trials"] == 24
    assert summary["n_repeats"] == 23 and summary["message"] == lines[-1]


class CappedQED(OracleScorer):
    """QED capped at 0.3: once ten molecules reach the cap, the top 10 never improves."""

    def __init__(self) -> None:
        super().__init__(get_oracle("qed"))

    def score(self, smiles):
        return [((min(v[0], 0.3),), d) for v, d in super().score(smiles)]


def test_a_stalled_top_diversifies_the_search(tmp_path: Path, latent) -> None:
    """With ``stall_calls`` the search widens its steps and then restarts after that many
    scored molecules without a gain in the top 10, and still scores its whole budget."""
    levels: list[int] = []
    config = _config(
        tmp_path,
        budget=48,
        stall_calls=8,
        local_fraction=0.5,
        seeds=["CC(C)Cc1ccc(C(C)C(=O)O)cc1"],
    )
    result = run_optimization(
        config,
        out_dir=tmp_path,
        latent=latent,
        scorer=CappedQED(),
        on_batch=lambda snap: levels.append(snap.level),
    )
    assert result.n_calls == 48 and result.exhausted
    assert max(levels) >= 2 and levels[0] == 0
    assert any(t.user_attrs.get("restart") == "space" for t in result.study.trials)
    records = scored_records(result.study)
    assert len({r["smiles"] for r in records}) == 48
    assert max(r["values"][0] for r in records) <= 0.3
