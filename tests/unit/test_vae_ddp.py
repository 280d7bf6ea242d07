"""Data-parallel VAE training (``processes = 2``, gloo): two ranks take the update one
process takes on the same global batch; a two-process run checkpoints, resumes with one
or two processes, and stops cleanly (exit 75) on SIGTERM to its parent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from molspace.interrupt import EXIT_INTERRUPTED
from molspace.model.batches import epoch_batches
from molspace.model.config import TrainConfig, load_train_config
from molspace.model.data import lengths_of, load_or_build_dataset
from molspace.model.distributed import GroupSync, LocalSync, launch
from molspace.model.train import train
from molspace.model.vae import SelfiesVAE, kl_per_dim

ROOT = Path(__file__).resolve().parents[2]


def _setup(toml: str, free_bits: float | None) -> tuple[SelfiesVAE, np.ndarray, np.ndarray, Any]:
    """The tiny model (seeded init, property head), its token rows, property targets with
    unlabelled (NaN) rows, and the config with ``free_bits`` set."""
    torch.set_num_threads(1)
    config = load_train_config(toml)
    if free_bits is not None:
        config.kl.free_bits = free_bits
    data = load_or_build_dataset(config.data.path, cache_dir=config.data.cache_dir)
    torch.manual_seed(0)
    model = SelfiesVAE(config.model, len(data.vocabulary), data.vocabulary.max_length)
    rng = np.random.default_rng(1)
    props = rng.normal(size=(len(data.tokens), 1)).astype(np.float32)
    props[rng.random(len(props)) < 0.3] = np.nan
    return model.train(), data.tokens, props, config


def _batch(rows: np.ndarray, size: int) -> np.ndarray:
    return epoch_batches(lengths_of(rows), size, 4, 0, 0)[0]


def _step(sync: LocalSync, toml: str, free_bits: float, size: int) -> dict[str, Any]:
    model, rows, props, config = _setup(toml, free_bits)
    generator = torch.Generator().manual_seed(11)
    losses = sync.backward(
        model,
        rows,
        props,
        _batch(rows, size),
        beta=0.3,
        config=config,
        generator=generator,
        autocast=None,
        device=torch.device("cpu"),
    )
    return {
        "grads": {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
        "losses": {k: float(v) for k, v in losses.items()},
        "rng": generator.get_state(),
    }


def _rank_step(rank: int, world: int, toml: str, free_bits: float, size: int) -> dict[str, Any]:
    return _step(GroupSync(rank, world), toml, free_bits, size)


def _split_free_bits(toml: str) -> float:
    """A free-bits floor between the two ranks' KL of one dimension and above the whole
    batch's: applying each rank's own floor (instead of the batch's) changes the gradient."""
    model, rows, _, _ = _setup(toml, None)
    index = _batch(rows, 31)
    with torch.no_grad():

        def kl(part: np.ndarray) -> torch.Tensor:
            mu, logvar = model.encode(
                torch.from_numpy(rows[part].astype(np.int64)),
                torch.from_numpy(lengths_of(rows[part])),
            )
            return kl_per_dim(mu, logvar)

        whole, shares = kl(index), [kl(index[r::2]) for r in range(2)]
    spread = (shares[0] - shares[1]).abs()
    dim = int(spread.argmax())
    top = max(float(shares[0][dim]), float(shares[1][dim]))
    return float(whole[dim]) + 0.25 * (top - float(whole[dim]))


@pytest.mark.parametrize("size", [31, 1])  # shares of 16 and 15 rows; of 1 and none
def test_two_ranks_take_the_one_process_update(
    tiny_train_toml: Callable[..., Path], size: int
) -> None:
    toml = str(tiny_train_toml(properties=("qed",)))
    free_bits = _split_free_bits(toml) if size > 1 else 0.1
    alone = _step(LocalSync(), toml, free_bits, size)
    ranks = launch(_rank_step, (toml, free_bits, size), 2)
    assert alone["losses"].keys() == {"loss", "recon", "kl", "token_acc", "prop_mse"}
    for got in ranks:
        assert got["grads"].keys() == alone["grads"].keys()
        assert any(k.startswith("property_head") for k in got["grads"])
        for name, grad in alone["grads"].items():
            torch.testing.assert_close(got["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
        for key, value in alone["losses"].items():
            assert got["losses"][key] == pytest.approx(value, rel=1e-5), key
        # the shared noise generator advanced as one process's: resume with any count
        assert torch.equal(got["rng"], alone["rng"])
    for name in alone["grads"]:  # both ranks hold the same summed gradient, bit for bit
        assert torch.equal(ranks[0]["grads"][name], ranks[1]["grads"][name])


def _steps(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "steps.csv")


def _saved_step(run: Path) -> int:
    return int(json.loads((run / "checkpoint" / "state.json").read_text())["step"])


def _config(toml: Path, **overrides: Any) -> TrainConfig:
    return load_train_config(toml, overrides)


@pytest.mark.slow
def test_two_processes_checkpoint_and_resume_with_one_or_two(
    tmp_path: Path, tiny_train_toml: Callable[..., Path]
) -> None:
    toml = tiny_train_toml(max_steps=6, processes=2, properties=("qed",))
    first = train(_config(toml), tmp_path / "run", progress=False, log=lambda _: None)
    assert first.steps == 6 and _saved_step(tmp_path / "run") == 6
    assert list(_steps(tmp_path / "run")["step"]) == [1, 2, 3, 4, 5, 6]  # rank 0 alone logs
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "in each of 2 processes" in saved["hardware"]
    # the whole loop (batches, noise, schedule, Adam) as one process runs it, to rounding
    alone = train(_config(toml, processes=1), tmp_path / "alone", progress=False, log=print)
    assert alone.steps == 6
    want = load_file(str(tmp_path / "alone" / "checkpoint" / "state.safetensors"))
    got = load_file(str(tmp_path / "run" / "checkpoint" / "state.safetensors"))
    assert want.keys() == got.keys()
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=1e-5, msg=key)
    for processes in (1, 2):
        run = tmp_path / f"resumed-{processes}"
        shutil.copytree(tmp_path / "run", run)
        messages: list[str] = []
        config = _config(toml, max_steps=9, processes=processes)
        result = train(config, run, resume=True, progress=False, log=messages.append)
        assert result.steps == 9 and _saved_step(run) == 9
        assert list(_steps(run)["step"]) == list(range(1, 10))
        if processes == 1:  # rank 0's own messages go to stdout, not to ``log``
            assert any("resumed" in m and "step 6" in m for m in messages)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return "(gone)"


@pytest.mark.slow
def test_sigterm_to_the_parent_stops_every_rank_with_a_checkpoint(
    tmp_path: Path, tiny_train_toml: Callable[..., Path]
) -> None:
    toml = tiny_train_toml(max_steps=5000, processes=2)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "molspace.model.train", str(toml), str(run)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 180
    steps = run / "steps.csv"
    while time.monotonic() < deadline and proc.poll() is None:
        if steps.is_file() and len(steps.read_text().splitlines()) > 4:
            break
        time.sleep(0.1)
    ranks = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, output
    assert "resume with --resume" in output
    assert len(ranks) >= 2  # the ranks (and multiprocessing's resource tracker)
    gone = time.monotonic() + 10
    while time.monotonic() < gone and any(Path(f"/proc/{pid}").exists() for pid in ranks):
        time.sleep(0.1)
    left = {pid: _cmdline(pid) for pid in ranks if Path(f"/proc/{pid}").exists()}
    assert not left, left
    assert _saved_step(run) == int(_steps(run)["step"].max()) >= 4
