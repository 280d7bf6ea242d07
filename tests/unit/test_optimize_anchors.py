"""Seed anchors: a seed's search starts where the model decodes closest to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molspace.latent import LatentSpace
from molspace.optimization.anchors import anchor_seeds

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_vae"
SEEDS = [
    "O=C(CCCN1CCC(O)(c2ccc(Cl)cc2)CC1)c1ccc(F)cc1",  # haloperidol
    "CC(=O)Nc1ccc(O)cc1",
    "Cc1ccc(S(=O)(=O)N2CCCC2)cc1",
]


@pytest.fixture(scope="module")
def latent() -> LatentSpace:
    return LatentSpace.load(TINY)


def test_without_draws_the_anchor_is_the_posterior_mean(latent: LatentSpace) -> None:
    anchors = anchor_seeds(latent, SEEDS, n_draws=0, seed=0)
    mean = latent.encode(SEEDS)
    for anchor, mu, decoded in zip(anchors, mean, latent.decode(mean), strict=True):
        np.testing.assert_array_equal(anchor.z, mu)
        assert anchor.decoded == anchor.mean_decoded == decoded
        assert not anchor.moved


def test_draws_never_start_further_from_the_seed_than_its_mean(latent: LatentSpace) -> None:
    anchors = anchor_seeds(latent, SEEDS, n_draws=48, seed=0)
    mean = latent.encode(SEEDS)
    moved = 0
    for anchor, mu in zip(anchors, mean, strict=True):
        assert anchor.similarity >= anchor.mean_similarity
        # the anchor decodes to what it reports, and stays inside the seed's posterior
        assert latent.decode(anchor.z[None])[0] == anchor.decoded
        _, sd = latent.encode_posterior([anchor.seed])
        assert np.all(np.abs(anchor.z - mu) <= 6 * sd[0])
        moved += anchor.moved
        assert ("starting from a posterior draw" in anchor.describe()) == anchor.moved
    # the tiny model reconstructs none of these: some draw must beat some mean
    assert moved >= 1


def test_anchors_are_reproducible_from_the_seed(latent: LatentSpace) -> None:
    first = anchor_seeds(latent, SEEDS, n_draws=24, seed=5)
    again = anchor_seeds(latent, SEEDS, n_draws=24, seed=5)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.z, b.z)


def test_a_seed_decoded_exactly_from_its_mean_stays_there(latent: LatentSpace) -> None:
    # a molecule the tiny model reconstructs from its mean: its own decoding
    decoded = latent.decode(latent.sample_latent(64, seed=1))
    exact = [s for s in decoded if s and latent.reconstruct([s])[0] == s]
    assert exact, "the tiny model reconstructs none of its own samples"
    (anchor,) = anchor_seeds(latent, exact[:1], n_draws=48, seed=0)
    np.testing.assert_array_equal(anchor.z, latent.encode(exact[:1])[0])
    assert anchor.similarity == 1.0 and not anchor.moved


def test_posteriors_of_tokens_and_of_smiles_agree(latent: LatentSpace) -> None:
    """``encode_tokens`` (token caches), ``encode`` and ``encode_posterior`` (names) are one
    encoder: same means; standard deviations positive."""
    tokens, _, reasons = latent.vocabulary.encode_smiles(SEEDS)
    assert reasons == [None] * len(SEEDS)
    mean, sd = latent.encode_posterior(SEEDS)
    np.testing.assert_allclose(latent.encode_tokens(tokens), mean, atol=1e-6)
    np.testing.assert_allclose(latent.encode(SEEDS), mean, atol=1e-6)
    assert np.all(sd > 0)
