"""``molspace optimize`` on the command line: options reach the run, bad values stop it
with one line (tiny trained VAE, real Optuna SQLite storage)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from molspace.cli import app

TINY = str(Path(__file__).resolve().parents[2] / "tests" / "data" / "tiny_vae")


def _args(out: Path, *extra: str) -> list[str]:
    return ["optimize", "--pmo", "qed", "--model", TINY, "--out", str(out), *extra]


def test_optimize_cli_passes_options_over_the_toml(tmp_path: Path) -> None:
    out = tmp_path / "run"
    toml = tmp_path / "opt.toml"
    toml.write_text(
        '[optimize]\nnovelty_reference = ""\nbatch_size = 8\n'
        "[optimize.retrain]\nsteps = 2\nbatch_size = 4\n"
    )
    args = _args(out, "--budget", "16", "--seed", "1", "--stale-after", "45")
    args += ["--retrain-every", "8"]
    result = CliRunner().invoke(app, [*args[:1], str(toml), *args[1:]])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["stale_after"] == 45.0
    assert summary["n_oracle_calls"] == 16
    # --retrain-every sets one key of the TOML's [optimize.retrain]; the others stay
    retrain = summary["config"]["retrain"]
    assert (retrain["every"], retrain["steps"], retrain["batch_size"]) == (8, 2, 4)
    rounds = summary["retrain_rounds"]  # one at 8 calls; the budget ends the run at 16
    assert [(r["worker"], r["at_calls"], r["steps"]) for r in rounds] == [(0, 8, 2)]


def test_optimize_cli_rejects_a_non_positive_stale_after(tmp_path: Path) -> None:
    args = _args(tmp_path / "run", "--stale-after", "0")
    proc = subprocess.run(
        [sys.executable, "-m", "molspace", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, no traceback
    assert proc.stderr.startswith("error: [optimize]: stale_after")
    assert not (tmp_path / "run").exists()  # stopped before anything ran
