"""Fixtures shared by the unit and the integration tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
MOSES = ROOT / "libraries" / "moses" / "train.csv.gz"

#: a tiny VAE training run: seconds per few dozen steps on one thread
TINY_TRAIN = """
[train]
seed = 3
epochs = 50
max_steps = {max_steps}
eval_every_steps = 20
log_every_steps = 1
checkpoint_minutes = 10.0
threads = 1
processes = {processes}
bf16 = {bf16}

[train.data]
path = "{data}"
cache_dir = "{cache}"
validation_fraction = 0.1

[train.model]
embedding_dim = 8
encoder_hidden = 16
latent_dim = 4
decoder_hidden = 32
properties = {properties}

[train.optim]
batch_size = 32

[train.kl]
hold_steps = 5
warmup_steps = 20
"""


@pytest.fixture(scope="module")
def dhfr_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1s3v (human DHFR) with a box only 2 Å larger than the crystal ligand: a target
    bundle small enough that Vina docks in seconds."""
    from molspace.docking.target import prepare_target

    shipped = ROOT / "libraries" / "targets" / "1s3v"
    out = tmp_path_factory.mktemp("target") / "1s3v-small"
    prepare_target(shipped / "protein.pdb.gz", shipped / "ligand.sdf", out, padding=2.0)
    return out


@pytest.fixture
def tiny_train_toml(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny training TOML on the first 400 MOSES molecules; keyword arguments set
    ``max_steps``, ``processes``, ``bf16`` and ``properties`` (a tuple of names)."""
    data = tmp_path / "train.csv"
    pd.read_csv(MOSES, nrows=400).to_csv(data, index=False)

    def write(
        name: str = "train.toml",
        *,
        max_steps: int = 60,
        processes: int = 1,
        bf16: bool = False,
        properties: tuple[str, ...] = (),
    ) -> Path:
        path = tmp_path / name
        path.write_text(
            TINY_TRAIN.format(
                max_steps=max_steps,
                processes=processes,
                bf16=str(bf16).lower(),
                data=data,
                cache=tmp_path / "cache",
                properties="[" + ", ".join(f'"{p}"' for p in properties) + "]",
            )
        )
        return path

    return write
