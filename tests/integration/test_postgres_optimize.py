"""Two optimization workers on one PostgreSQL study: nothing lost, nothing doubled.

A real PostgreSQL server (Debian's package; ``scripts/install_system_deps.sh``) is
started for the test. ``molspace optimize --workers 2`` runs two Dask worker
processes that ask/tell against the same ``postgresql+psycopg2://`` study, exactly
as workers on a cluster share one database. The study is then read back from the
server and checked: trial numbers contiguous, every trial carrying its molecule,
the unique-call budget honoured across both workers and no molecule scored twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _pg import find_pg_bin, postgres_server

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"
LIBRARY = TINY / "sample_molecules.csv"  # 100 molecules: a tiny novelty reference
MOLSPACE = Path(sys.executable).with_name("molspace")
BUDGET = 40
WORKERS = 2

pytestmark = [
    pytest.mark.dask,
    pytest.mark.skipif(
        find_pg_bin() is None,
        reason="PostgreSQL is not installed (scripts/install_system_deps.sh installs it)",
    ),
]


def _config(path: Path) -> Path:
    """The optimize TOML: the tiny model, its whole 16-dim prior box, a tiny novelty set."""
    path.write_text(
        "[optimize]\n"
        f'model = "{TINY}"\n'
        f'novelty_reference = "{LIBRARY}"\n'
        'sampler = "tpe"\n'
        "batch_size = 10\n"
        "seed = 7\n"
        'space = { kind = "box", bound = 2.5 }\n'
        "constraints = { min_heavy_atoms = 6 }\n"
    )
    return path


def test_two_workers_share_a_postgres_study(tmp_path: Path) -> None:
    pytest.importorskip("psycopg2", reason="psycopg2 (the PostgreSQL driver) is not installed")
    import optuna

    out = tmp_path / "out"
    with postgres_server() as server:
        url = server.create_database("molspace_optimize")
        done = subprocess.run(
            [
                str(MOLSPACE), "optimize", str(_config(tmp_path / "optimize.toml")),
                "--out", str(out), "--pmo", "qed", "--budget", str(BUDGET),
                "--storage", url, "--study-name", "pg-two-workers",
                "--workers", str(WORKERS),
            ],
            capture_output=True, text=True, timeout=400, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"{BUDGET}/{BUDGET} molecules scored" in done.stderr
        study = optuna.load_study(study_name="pg-two-workers", storage=url)
        trials = study.get_trials(deepcopy=False)

    # no trial lost or duplicated: numbers 0..n-1, none left RUNNING/WAITING
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    states = Counter(t.state.name for t in trials)
    assert set(states) <= {"COMPLETE", "FAIL"}, states
    # both workers did work, and every trial records its molecule
    assert {t.user_attrs["mol"]["worker"] for t in trials} == set(range(WORKERS))
    for t in trials:
        mol = t.user_attrs["mol"]
        assert mol["smiles"] is not None and len(mol["z"]) == 16, t.number
        if t.state.name == "COMPLETE":
            assert mol["status"] in {"scored", "cached", "invalid", "degenerate"}, t.number
            assert t.values is not None and len(t.values) == 1
        else:  # the only failure is a molecule the exhausted budget left unscored
            assert mol["status"] == "over_budget", (t.number, mol)
    scored = [t for t in trials if t.user_attrs["mol"]["status"] == "scored"]
    for t in scored:
        assert t.state.name == "COMPLETE" and t.user_attrs["mol"]["components"], t.number
    # the budget is honoured across workers, and no molecule went to the oracle twice
    per_smiles = Counter(t.user_attrs["mol"]["smiles"] for t in scored)
    assert len(per_smiles) == BUDGET
    twice = [s for s, n in per_smiles.items() if n > 1]
    assert not twice, f"scored by more than one trial: {twice}"
    # a repeat of a scored molecule carries the first score
    first = {t.user_attrs["mol"]["smiles"]: t.values for t in scored}
    for t in trials:
        if t.user_attrs["mol"]["status"] == "cached":
            assert t.values == first[t.user_attrs["mol"]["smiles"]], t.number
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_oracle_calls"] == BUDGET and summary["storage"] == url
