"""Optimization workers on one PostgreSQL study: nothing lost, nothing scored twice.

A real PostgreSQL server (Debian's package; ``scripts/install_system_deps.sh``) is
started for the test. Two workers share one ``postgresql+psycopg2://`` study, exactly as
workers on a cluster share one database: either ``molspace optimize --workers 2`` (two
Dask worker processes) or two separate ``molspace optimize`` processes. The oracle is
``test_optimize.logged_qed``, which logs every call, so the test counts real oracle calls
across all processes. The study is then read back from the server and checked: trial
numbers contiguous, nothing left RUNNING, exactly ``BUDGET`` molecules scored, each by one
trial and one oracle call, and the oracle ledger's table agreeing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _pg import find_pg_bin, postgres_server
from test_optimize import PLUGIN, _oracle_env, assert_exact, oracle_calls

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"
LIBRARY = TINY / "sample_molecules.csv"  # 100 molecules: a tiny novelty reference
MOLSPACE = Path(sys.executable).with_name("molspace")
BUDGET = 40
WORKERS = 2

pytestmark = [
    pytest.mark.dask,
    pytest.mark.slow,
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
        f'plugin = "{PLUGIN}"\n'
        f'novelty_reference = "{LIBRARY}"\n'
        'sampler = "tpe"\n'
        "batch_size = 10\n"
        "seed = 7\n"
        'space = { kind = "box", bound = 2.5 }\n'
        "constraints = { min_heavy_atoms = 6 }\n"
    )
    return path


@pytest.mark.parametrize("mode", ["dask", "processes"])
def test_workers_share_a_postgres_study_exactly(tmp_path: Path, mode: str) -> None:
    pytest.importorskip("psycopg2", reason="psycopg2 (the PostgreSQL driver) is not installed")
    import optuna
    import sqlalchemy as sa

    env = _oracle_env(tmp_path, delay=0.03, gate=WORKERS)
    with postgres_server() as server:
        url = server.create_database("molspace_optimize")
        args = [
            str(MOLSPACE), "optimize", str(_config(tmp_path / "optimize.toml")),
            "--budget", str(BUDGET), "--storage", url,
            "--study-name", "pg-workers",
        ]  # fmt: skip
        if mode == "dask":
            runs = [[*args, "--out", str(tmp_path / "out"), "--workers", str(WORKERS)]]
        else:
            runs = [
                [*args, "--out", str(tmp_path / f"out{i}"), "--seed", str(i)]
                for i in range(WORKERS)
            ]
        procs = [
            subprocess.Popen(run, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
            for run in runs
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=400)
            assert proc.returncode == 0, err[-3000:]
            assert f"{BUDGET}/{BUDGET} molecules scored" in err
        study = optuna.load_study(study_name="pg-workers", storage=url)
        trials = study.get_trials()  # read while the server runs
        calls = oracle_calls(tmp_path)
        assert_exact(study, BUDGET, calls)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            held, scored = conn.execute(
                sa.text("select count(*), count(scored_at) from molspace_oracle_ledger")
            ).one()
            workers_left = conn.execute(sa.text("select count(*) from molspace_ledger_workers"))
            assert workers_left.scalar() == 0  # every worker unregistered on its way out
        engine.dispose()
    assert held == scored == BUDGET
    # both workers did work, each in its own process
    assert len({pid for pid, _ in calls}) == WORKERS
    for t in trials:
        mol = t.user_attrs["mol"]
        assert mol["smiles"] is not None and len(mol["z"]) == 16, t.number
    if mode == "dask":
        assert {t.user_attrs["mol"]["worker"] for t in trials} == set(range(WORKERS))
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["n_oracle_calls"] == BUDGET and summary["storage"] == url
