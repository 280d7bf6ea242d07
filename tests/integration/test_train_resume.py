"""Training end to end: a tiny real run is stopped by SIGTERM, resumes, and ends where an
uninterrupted run ends (same weights), with metrics and bundles written."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from molspace.interrupt import EXIT_INTERRUPTED
from molspace.latent import LatentSpace
from molspace.model.config import load_train_config
from molspace.model.train import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tiny_train_toml: Callable[..., Path]) -> Path:
    """The shared tiny training run (``tests/conftest.py``): 60 steps, one process."""
    return tiny_train_toml(max_steps=60)


def _steps_logged(run: Path) -> int:
    try:
        with (run / "steps.csv").open() as handle:
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigterm_then_resume_matches_uninterrupted_run(tmp_path: Path, config_file: Path) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "molspace.model.train", str(config_file), str(run)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    while _steps_logged(run) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, output
    assert (run / "checkpoint" / "state.safetensors").is_file()
    assert "resume with --resume" in output

    # running again without --resume refuses to overwrite the run
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already holds a training run" in again.stderr

    resumed = subprocess.run(
        [*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed" in resumed.stdout

    reference = train(
        load_train_config(config_file), tmp_path / "reference", progress=False, log=lambda m: None
    )
    assert reference.steps == 60
    got = load_file(str(run / "final" / "model.safetensors"))
    want = load_file(str(reference.final_bundle / "model.safetensors"))
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=1e-6)

    steps = pd.read_csv(run / "steps.csv")
    assert steps["step"].max() == 60
    metrics = pd.read_csv(run / "metrics.csv")
    assert {"val_loss", "val_exact", "active_units"} <= set(metrics.columns)
    space = LatentSpace.load(run / "best")
    assert len(space.sample(5, seed=0)) == 5
    assert (run / "metrics.json").is_file()
