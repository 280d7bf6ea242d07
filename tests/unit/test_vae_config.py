"""Training config: strict TOML validation, the KL schedule, the batch order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molspace.errors import ConfigError
from molspace.model.config import KLConfig, load_train_config
from molspace.model.train import epoch_batches

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_workflow_is_valid() -> None:
    config = load_train_config(ROOT / "workflows" / "configs" / "train_moses.toml")
    assert config.data.path.endswith("train.csv.gz")
    assert config.threads == 1


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[train]\nepochs = 2\n[train.model]\nlatent_dims = 3\n")
    with pytest.raises(ConfigError, match=r"t\.toml \[train\]: model\.latent_dims: unknown key"):
        load_train_config(path)
    path.write_text("[train.optim]\nbatch_size = 0\n")
    with pytest.raises(ConfigError, match=r"optim\.batch_size"):
        load_train_config(path)


def test_overrides_use_dotted_keys() -> None:
    config = load_train_config(None, {"model.latent_dim": 8, "epochs": 3, "seed": None})
    assert config.model.latent_dim == 8 and config.epochs == 3 and config.seed == 0


def test_kl_schedule_holds_then_rises_then_stays() -> None:
    kl = KLConfig(beta_start=0.0, beta_end=0.5, hold_steps=10, warmup_steps=100)
    assert kl.beta(0) == kl.beta(9) == 0.0
    assert kl.beta(60) == pytest.approx(0.25)
    assert kl.beta(110) == kl.beta(10_000) == 0.5


def test_epoch_batches_cover_everything_once_and_depend_only_on_seed_and_epoch() -> None:
    lengths = np.random.default_rng(0).integers(5, 50, size=1003)
    batches = epoch_batches(lengths, 32, 4, seed=1, epoch=2)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1003))
    again = epoch_batches(lengths, 32, 4, seed=1, epoch=2)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other = epoch_batches(lengths, 32, 4, seed=1, epoch=3)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=False))
    # length bucketing: the spread of lengths within a batch is small
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.5 * np.ptp(lengths)
