"""Batches and the loss of VAE training, shared by training and weighted retraining.

``epoch_batches`` (bucketed by length, a pure function of ``(seed, epoch)``),
``batch_tensors`` and ``vae_losses`` (reconstruction, KL with free bits, property head).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from molspace.model.data import lengths_of
from molspace.model.vae import SelfiesVAE, kl_per_dim
from molspace.model.vocabulary import PAD

__all__ = ["batch_tensors", "epoch_batches", "vae_losses"]


def epoch_batches(
    lengths: np.ndarray, batch_size: int, bucket_batches: int, seed: int, epoch: int
) -> list[np.ndarray]:
    """Index batches of one epoch: shuffled, sorted by length within pools, batches shuffled.

    Sorting within pools of ``bucket_batches`` batches keeps padding small while the
    order stays random; the result depends only on ``(seed, epoch)``.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * bucket_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def batch_tensors(
    tokens: np.ndarray, index: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = tokens[index]
    lengths = lengths_of(rows)
    width = int(lengths.max())
    batch = torch.from_numpy(rows[:, :width].astype(np.int64)).to(device)
    return batch, torch.from_numpy(lengths)


def vae_losses(
    model: SelfiesVAE,
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    free_bits: float,
    generator: torch.Generator,
    props: torch.Tensor | None,
    sample: bool = True,
    noise: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Reconstruction (summed over tokens, mean over rows), KL with and without free bits,
    token accuracy and, with ``props``, the property MSE: training and fine-tuning share it.
    ``kl_dim_grad`` is the per-dimension KL still in the graph (data-parallel ranks apply
    the free-bits floor of the whole batch to it); ``noise`` goes to the model's forward."""
    out = model(tokens, lengths, sample=sample, generator=generator, noise=noise)
    logits = out["logits"]
    batch = tokens.shape[0]
    recon = (
        F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            tokens.reshape(-1),
            ignore_index=PAD,
            reduction="sum",
        )
        / batch
    )
    kl_dim = kl_per_dim(out["mu"].float(), out["logvar"].float())
    result = {
        "recon": recon,
        "kl": kl_dim.sum(),
        "kl_free": kl_dim.clamp(min=free_bits).sum(),
        "kl_dim": kl_dim.detach(),
        "kl_dim_grad": kl_dim,
        "mu": out["mu"].detach(),
    }
    with torch.no_grad():
        mask = tokens != PAD
        correct = (logits.argmax(-1) == tokens) & mask
        result["token_acc"] = correct.sum().float() / mask.sum().clamp(min=1)
    if props is not None and "properties" in out:
        valid = ~torch.isnan(props)
        diff = torch.where(valid, out["properties"].float() - torch.nan_to_num(props), 0.0)
        result["prop_mse"] = diff.pow(2).sum() / valid.sum().clamp(min=1)
    return result
