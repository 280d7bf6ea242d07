"""The padded encoder (each GRU direction over the padded batch) gives the posterior and
the gradients of the packed reference on real molecules of mixed lengths, for every
encoder shape a config allows (1 or 2 layers, one or two directions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from molspace.latent import LatentSpace
from molspace.model.batches import batch_tensors
from molspace.model.config import ModelConfig
from molspace.model.data import lengths_of
from molspace.model.vae import SelfiesVAE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    vocabulary = LatentSpace.load(ROOT / "tests" / "data" / "tiny_vae").vocabulary
    smiles = pd.read_csv(ROOT / "libraries" / "moses" / "train.csv.gz", nrows=48)["SMILES"]
    tokens, _, reasons = vocabulary.encode_smiles(smiles.tolist())
    ok = np.array([r is None for r in reasons])
    return tokens[ok]


@pytest.mark.parametrize(("layers", "bidirectional"), [(1, True), (2, True), (1, False)])
def test_padded_encoder_matches_packed_reference(
    rows: np.ndarray, layers: int, bidirectional: bool
) -> None:
    lengths = lengths_of(rows)
    assert lengths.min() < lengths.max() - 10  # padding really varies within the batch
    torch.manual_seed(layers)
    config = ModelConfig(
        embedding_dim=16,
        encoder_hidden=24,
        encoder_layers=layers,
        encoder_bidirectional=bidirectional,
        latent_dim=8,
        decoder_hidden=32,
    )
    model = SelfiesVAE(config, vocab_size=28, max_length=48)
    batch, lens = batch_tensors(rows, np.arange(len(rows)), torch.device("cpu"))
    mu, logvar = model.encode_padded(batch, lens)
    ref_mu, ref_logvar = model.encode_packed(batch, lens)
    torch.testing.assert_close(mu, ref_mu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logvar, ref_logvar, rtol=1e-5, atol=1e-6)
    params = [p for p in model.parameters() if p.requires_grad]
    weights = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad((mu * weights).sum() + logvar.sum(), params, allow_unused=True)
    ref = torch.autograd.grad(
        (ref_mu * weights).sum() + ref_logvar.sum(), params, allow_unused=True
    )
    for name, got, want in zip([n for n, _ in model.named_parameters()], grads, ref, strict=True):
        if want is None:
            assert got is None or not got.any(), name
        else:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=name)
