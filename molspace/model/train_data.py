"""The data of a training run: tokenized molecules (checked against a resumed
checkpoint's) and, with a property head, the property targets of the labelled rows.

Every rank of a data-parallel run calls it (rank 0 first, so it alone builds the caches).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from molspace.errors import ConfigError, InputError
from molspace.model.checkpoint import read_checkpoint_state
from molspace.model.config import TrainConfig
from molspace.model.data import TokenizedDataset, load_or_build_dataset
from molspace.model.validation import compute_properties, split_indices

__all__ = ["load_training_data"]


def _labelled_rows(
    train_idx: np.ndarray, val_idx: np.ndarray, config: TrainConfig
) -> np.ndarray | None:
    """Rows that get property targets: a seeded random subset of ``property_labels``
    training rows plus every validation row that is scored; None when all are labelled."""
    n = config.property_labels
    if n is None or n >= len(train_idx):
        return None
    rng = np.random.default_rng(config.seed + 7919)
    picked = rng.choice(train_idx, size=n, replace=False)
    scored_val = val_idx[: config.data.max_validation]
    return np.unique(np.concatenate([picked, scored_val]))


def load_training_data(
    config: TrainConfig, run: Path, resume: bool, log: Callable[[str], None], main: bool
) -> tuple[TokenizedDataset, np.ndarray | None]:
    """The tokenized training data (checked against a resumed checkpoint's) and, with a
    property head, the property targets of every row (NaN where unlabelled)."""
    data = load_or_build_dataset(
        config.data.path,
        cache_dir=config.data.cache_dir,
        smiles_column=config.data.smiles_column,
        stereo=config.data.stereo,
        max_length=config.data.max_length,
        processes=config.data.processes,
        log=log,
    )
    check_rejects(data, config, run, copy=main)
    vocabulary = data.vocabulary
    if resume:
        saved_state = read_checkpoint_state(run)
        if saved_state.get("data_hash") != data.data_hash:
            raise ConfigError(f"{run}: training data changed since the checkpoint (hash differs)")
        if saved_state.get("vocabulary") != vocabulary.to_dict():
            raise ConfigError(f"{run}: vocabulary differs from the checkpoint's")
    if not config.model.properties:
        return data, None
    train_idx, val_idx = split_indices(len(data.tokens), config)
    labelled = _labelled_rows(train_idx, val_idx, config)
    subset = "" if labelled is None else f"-{len(labelled)}of{len(data.tokens)}s{config.seed}"
    names = "-".join(config.model.properties)
    cache = Path(config.data.cache_dir) / f"props-{data.data_hash[:16]}-{names}{subset}.npy"
    tokens = data.tokens if labelled is None else data.tokens[labelled]
    values = compute_properties(
        tokens, vocabulary, config.model.properties, cache, log, config.data.processes
    )
    if labelled is None:
        return data, values
    # unlabelled rows are NaN: the head's loss is masked there
    props_all = np.full((len(data.tokens), values.shape[1]), np.nan, dtype=np.float32)
    props_all[labelled] = values
    return data, props_all


def check_rejects(
    data: TokenizedDataset, config: TrainConfig, run: Path, copy: bool = True
) -> None:
    if copy and data.rejects_path is not None and data.rejects_path.is_file():
        shutil.copyfile(data.rejects_path, run / "rejects.csv")
    if data.n_input == 0 or len(data.tokens) == 0:
        raise InputError(f"{config.data.path}: no encodable molecules")
    fraction = data.n_rejected / data.n_input
    if fraction > config.data.max_reject_fraction:
        raise InputError(
            f"{config.data.path}: {data.n_rejected:,} of {data.n_input:,} molecules rejected "
            f"({fraction:.1%} > max_reject_fraction); reasons in {run / 'rejects.csv'}"
        )
