"""Validation during training: the held-out split, the property-head targets and one
evaluation pass (loss, token accuracy, exact reconstruction, active units).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from molspace.model.batches import batch_tensors, vae_losses
from molspace.model.config import TrainConfig
from molspace.model.data import lengths_of
from molspace.model.vae import SelfiesVAE
from molspace.model.vocabulary import Vocabulary

__all__ = ["compute_properties", "evaluate_validation", "split_indices"]


def _property_chunk(args: tuple[list[str], tuple[str, ...]]) -> np.ndarray:
    """Property values (n, P) of SELFIES strings, NaN where RDKit cannot read one."""
    import selfies as sf
    from rdkit import Chem

    from molspace.chem.rdlog import capture_rdkit_log
    from molspace.model.properties import property_values

    strings, names = args
    values = np.full((len(strings), len(names)), np.nan, dtype=np.float32)
    # unreadable rows become NaN; RDKit's log is captured here, not switched off for the
    # whole process (this also runs in the caller's process, where readers quote that log)
    with capture_rdkit_log():
        for i, text in enumerate(strings):
            try:
                mol = Chem.MolFromSmiles(sf.decoder(text) or "")
            except sf.DecoderError:
                mol = None
            if mol is not None:
                values[i] = property_values(mol, names)
    return values


def compute_properties(
    tokens: np.ndarray,
    vocabulary: Vocabulary,
    names: tuple[str, ...],
    cache: Path,
    log: Callable[[str], None],
    processes: int = 1,
    chunk: int = 20_000,
) -> np.ndarray:
    """Property targets (n, P) of the training molecules, NaN where RDKit fails; cached.

    A one-off pass over the training set (MOSES: 1.58M molecules, tens of minutes on
    one core), in ``processes`` worker processes when there is more than one chunk.
    """
    if cache.is_file():
        values = np.load(cache, allow_pickle=False)
        if values.shape == (len(tokens), len(names)):
            return values
    log(
        f"computing properties {', '.join(names)} of {len(tokens):,} molecules "
        f"({processes} processes; cached after)"
    )
    parts = [
        ([vocabulary.tokens_to_selfies(row) for row in tokens[i : i + chunk]], tuple(names))
        for i in range(0, len(tokens), chunk)
    ]
    if processes <= 1 or len(parts) < 2:
        values = np.concatenate([_property_chunk(p) for p in parts]) if parts else None
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(processes) as pool:
            values = np.concatenate(list(pool.imap(_property_chunk, parts)))
    if values is None:
        values = np.zeros((0, len(names)), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".tmp.npy")
    np.save(tmp, values, allow_pickle=False)
    os.replace(tmp, cache)
    return values


def split_indices(n: int, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation split of n molecules (after an optional seeded subset)."""
    rng = np.random.default_rng([config.seed, 12345])
    order = rng.permutation(n)
    if config.data.max_molecules is not None:
        order = order[: config.data.max_molecules]
    n_val = max(1, round(len(order) * config.data.validation_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@torch.no_grad()
def evaluate_validation(
    model: SelfiesVAE,
    tokens: np.ndarray,
    props: np.ndarray | None,
    config: TrainConfig,
    vocabulary: Vocabulary,
    device: torch.device,
) -> dict[str, float]:
    """Validation losses (posterior means, no noise) and greedy exact reconstruction."""
    model.eval()
    sums: dict[str, float] = {"recon": 0.0, "kl": 0.0, "token_acc": 0.0, "prop_mse": 0.0}
    mus = []
    n = len(tokens)
    order = np.argsort(lengths_of(tokens), kind="stable")
    gen = torch.Generator().manual_seed(0)
    for start in range(0, n, 1024):
        index = order[start : start + 1024]
        batch, lengths = batch_tensors(tokens, index, device)
        p = torch.from_numpy(props[index]).to(device) if props is not None else None
        loss = vae_losses(model, batch, lengths, config.kl.free_bits, gen, p, sample=False)
        for key in sums:
            if key in loss:
                sums[key] += float(loss[key]) * len(index)
        mus.append(loss["mu"].cpu())
    mu = torch.cat(mus)
    active = int((mu.var(0) > 0.01).sum())
    # exact reconstruction on up to 1000 molecules (greedy decode of the posterior mean)
    k = min(1000, n)
    batch, lengths = batch_tensors(tokens, np.arange(k), device)
    z, _ = model.encode(batch, lengths)
    decoded = model.generate(z, torch.from_numpy(vocabulary.start_mask())).cpu().numpy()
    target = tokens[:k]
    width = min(decoded.shape[1], target.shape[1])
    exact = float(np.mean(np.all(decoded[:, :width] == target[:, :width], axis=1)))
    model.train()
    metrics = {key: value / n for key, value in sums.items()}
    metrics["loss"] = metrics["recon"] + config.kl.beta_end * metrics["kl"]
    metrics["exact"] = exact
    metrics["active_units"] = active
    return metrics
