"""Teacher-forced reconstruction likelihood on the committed tiny trained bundle.

The strongest check is that exp(-NLL) really is a probability of the generator:
sampling at temperature 1 from z reproduces a token sequence about as often as
the likelihood says.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molspace.errors import InvalidMoleculeError, VocabularyError
from molspace.latent import LatentSpace

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_vae"


@pytest.fixture(scope="module")
def space() -> LatentSpace:
    import torch

    torch.set_num_threads(1)
    return LatentSpace.load(TINY)


@pytest.fixture(scope="module")
def training() -> list[str]:
    return pd.read_csv(TINY / "sample_molecules.csv")["smiles"].tolist()


def shuffled_selfies(smiles: list[str], seed: int) -> list[str]:
    """Same SELFIES symbols in a random order: a valid molecule, but not one the model knows."""
    import selfies as sf
    from rdkit import Chem

    rng = random.Random(seed)
    out = []
    for smi in smiles:
        tokens = list(sf.split_selfies(sf.encoder(smi)))
        rng.shuffle(tokens)
        mol = Chem.MolFromSmiles(sf.decoder("".join(tokens)) or "")
        if mol is not None and mol.GetNumHeavyAtoms() >= 3:
            out.append(Chem.MolToSmiles(mol))
    return out


def test_nll_is_finite_deterministic_and_batch_independent(space, training) -> None:
    nll = space.reconstruction_nll(training)
    assert nll.shape == (len(training),) and nll.dtype == np.float64
    assert np.isfinite(nll).all() and (nll > 0).all()
    np.testing.assert_array_equal(nll, space.reconstruction_nll(training))
    reordered = space.reconstruction_nll(training[::-1], batch_size=7)[::-1]
    np.testing.assert_allclose(reordered, nll, rtol=1e-5, atol=1e-4)
    one = space.reconstruction_nll(training[0])
    assert one.shape == (1,) and one[0] == pytest.approx(nll[0], abs=1e-4)


def test_per_token_mean_elbo_and_tokens(space, training) -> None:
    import selfies as sf

    like = space.likelihood(training[:20])
    symbols = [len(list(sf.split_selfies(sf.encoder(space.canonicalize(s))))) for s in training]
    np.testing.assert_array_equal(like.n_tokens, np.asarray(symbols[:20]) + 1)  # + <end>
    np.testing.assert_allclose(
        space.reconstruction_nll(training[:20], per_token=True), like.nll / like.n_tokens
    )
    assert (like.kl > 0).all()
    np.testing.assert_allclose(like.nelbo, like.nll + like.kl)
    np.testing.assert_allclose(like.mu, space.encode(training[:20]), atol=1e-5)


def test_training_molecules_are_likelier_than_shuffled_ones(space, training) -> None:
    shuffled = shuffled_selfies(training, seed=0)
    assert len(shuffled) >= 80
    ours = space.reconstruction_nll(training, per_token=True)
    theirs = space.likelihood(shuffled).nll_per_token
    theirs = theirs[np.isfinite(theirs)]  # shuffling can make a symbol unknown to the model
    assert len(theirs) >= 60
    assert np.median(theirs) > 2 * np.median(ours)
    # as a detector on its own: AUROC over all pairs
    assert (theirs[:, None] > ours[None, :]).mean() > 0.9


def test_exp_minus_nll_is_the_generators_probability(space) -> None:
    """Sampling from z at temperature 1 starts with each prefix as often as the likelihood says.

    Whole molecules are too rare under the tiny model to count, so the check is on the
    first 1, 2 and 3 symbols: exp(sum of their token log-probabilities) against their
    frequency among 2,500 samples (first step included: only atoms may start).
    """
    import torch

    from molspace.model.data import lengths_of

    z = torch.from_numpy(space.encode(["CCOC(=O)c1ccccc1"]))
    n = 2500
    rows = space.model.generate(
        z.expand(n, -1).contiguous(),
        space._start_mask,
        temperature=1.0,
        generator=torch.Generator().manual_seed(0),
    ).numpy()
    width = int(lengths_of(rows).max())
    tokens = torch.from_numpy(rows[:, :width].astype(np.int64))
    with torch.inference_mode():
        log_p = space.model.token_log_probs(z.expand(n, -1), tokens, space._start_mask).numpy()
    assert np.isfinite(log_p).all() and (log_p <= 0).all()
    for k in (1, 2, 3):
        prefixes = Counter(tuple(row[:k]) for row in rows)
        checked = 0
        for prefix, count in prefixes.most_common(3):
            row = next(i for i in range(n) if tuple(rows[i, :k]) == prefix)
            expected = float(np.exp(log_p[row, :k].sum()))
            if expected < 0.02:
                continue
            se = np.sqrt(expected * (1 - expected) / n)
            assert abs(count / n - expected) < 4 * se + 2e-3, (k, prefix, count / n, expected)
            checked += 1
        assert checked >= 1


def test_masked_nll_is_at_most_the_training_loss_and_close_to_it(space, training) -> None:
    """Renormalising over the symbols generation allows (atoms first, never padding or
    ``<start>``) raises the likelihood a little above the training loss's, never lowers it."""
    import torch
    import torch.nn.functional as F

    from molspace.model.data import lengths_of

    tokens, _, reasons = space.vocabulary.encode_smiles(training[:16])
    assert all(r is None for r in reasons)
    lengths = lengths_of(tokens)
    batch = torch.from_numpy(tokens[:, : lengths.max()].astype(np.int64))
    with torch.inference_mode():
        out = space.model(batch, torch.from_numpy(lengths), sample=False)
        ce = F.cross_entropy(out["logits"].transpose(1, 2), batch, ignore_index=0, reduction="none")
    unmasked = ce.sum(-1).numpy()
    nll = space.reconstruction_nll(training[:16])
    gain = unmasked - nll
    assert (gain > 1e-5).all()  # the masks took some probability mass away
    assert np.median(gain) < 0.5


def test_bad_molecules_raise_for_users_and_keep_their_row_in_likelihood(space) -> None:
    with pytest.raises(InvalidMoleculeError, match="C1CC"):
        space.reconstruction_nll(["CCO", "C1CC"])
    with pytest.raises(VocabularyError, match=r"\[Pt\]"):
        space.reconstruction_nll(["[Pt](Cl)(Cl)(N)N"])
    like = space.likelihood(["CCO", "C1CC", "[Pt](Cl)(Cl)(N)N", "C" * 400, None])
    assert len(like.reasons) == 5 and like.reasons[0] is None
    assert [r is None for r in like.reasons] == list(like.ok)
    assert all(r for r in like.reasons[1:])
    assert np.isfinite(like.nll[0]) and np.isnan(like.nll[1:]).all()
    assert np.isnan(like.mu[1:]).all() and (like.n_tokens[1:] == 0).all()
    assert np.isnan(like.nll_per_token[1:]).all()
    empty = space.likelihood([])
    assert empty.nll.shape == (0,) and empty.mu.shape == (0, space.latent_dim)
