"""Weighted retraining: rank weights, and one fine-tuning round on the tiny trained VAE."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from molspace.latent import LatentSpace
from molspace.optimization.retrain import TokenMemo, fine_tune, rank_weights

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_vae"


def test_rank_weights_follow_rank_and_share_ties() -> None:
    values = np.array([0.1, 0.9, 0.5, 0.9, 0.0])
    w = rank_weights(values, k=0.01)
    assert w.sum() == pytest.approx(1.0)
    assert w[1] == w[3]  # tied best molecules weigh the same
    assert w[1] > w[2] > w[0] > w[4]
    # 1 / (k N + rank): with k N = 0.05, the best weighs 20 / (1 / 2.05) = 41x the third
    assert w[1] / w[2] == pytest.approx((0.05 + 2) / 0.05)
    flat = rank_weights(values, k=100.0)  # a large k spreads weight almost evenly
    assert flat.max() / flat.min() < 1.01
    assert rank_weights(np.array([]), k=1.0).size == 0
    with pytest.raises(ValueError, match="k must be > 0"):
        rank_weights(values, k=0.0)


@pytest.fixture(scope="module")
def tiny() -> LatentSpace:
    return LatentSpace.load(TINY)


def test_fine_tune_pulls_the_model_towards_the_best_molecules(tiny: LatentSpace) -> None:
    library = pd.read_csv(TINY / "sample_molecules.csv")["smiles"].tolist()[:40]
    best, worst = library[0], library[-1]
    values = np.linspace(1.0, 0.0, len(library))  # library[0] is the best
    model = copy.deepcopy(tiny.model)
    own = copy.copy(tiny)
    own.model = model
    before = own.reconstruction_nll([best, worst])
    smiles = [*library, "not a molecule"]
    scores = np.append(values, 2.0)  # unencodable, even when it ranks first: skipped
    settings = dict(
        steps=40, batch_size=32, learning_rate=3e-3, k=1e-3, beta=0.1, free_bits=0.05, seed=7
    )
    stats = fine_tune(model, tiny.vocabulary, smiles, scores, **settings)
    after = own.reconstruction_nll([best, worst])
    assert stats.molecules == 40 and stats.skipped == 1 and stats.steps == 40
    assert np.isfinite(stats.loss)
    assert not model.training  # left ready to decode
    assert after[0] < 0.7 * before[0]  # the best molecule became much likelier...
    assert (before[0] - after[0]) > 2 * (before[1] - after[1])  # ...far more than the worst
    # the caller's model is untouched, and the same seed repeats the same round
    again = copy.deepcopy(tiny.model)
    fine_tune(again, tiny.vocabulary, smiles, scores, **settings)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    original = LatentSpace.load(TINY).model.state_dict()
    for name, tensor in tiny.model.state_dict().items():
        assert torch.equal(tensor, original[name]), name


def test_token_memo_tokenizes_each_molecule_once_and_matches_the_vocabulary(
    tiny: LatentSpace,
) -> None:
    library = pd.read_csv(TINY / "sample_molecules.csv")["smiles"].tolist()[:30]
    first = [*library[:20], "not a molecule"]
    memo = TokenMemo(tiny.vocabulary)
    rows, ok = memo.rows(first)
    direct, _, reasons = tiny.vocabulary.encode_smiles(first)
    assert ok.tolist() == [r is None for r in reasons] and not ok[-1]
    assert np.array_equal(rows, direct[ok])
    # the next round holds the old molecules and new ones: only the new are tokenized
    second = [*library, "not a molecule", library[0]]
    rows, ok = memo.rows(second)
    assert memo.tokenized == 21 + 10
    direct, _, reasons = tiny.vocabulary.encode_smiles(second)
    assert ok.tolist() == [r is None for r in reasons]
    assert np.array_equal(rows, direct[ok])
    empty, none_ok = memo.rows(["not a molecule"])
    assert empty.shape == (0, direct.shape[1]) and not none_ok.any()


def test_fine_tune_with_a_memo_trains_the_same_weights(tiny: LatentSpace) -> None:
    library = pd.read_csv(TINY / "sample_molecules.csv")["smiles"].tolist()[:30]
    scores = np.linspace(1.0, 0.0, len(library))
    settings = dict(
        steps=5, batch_size=16, learning_rate=1e-3, k=1e-3, beta=0.1, free_bits=0.05, seed=3
    )
    plain, memoized = copy.deepcopy(tiny.model), copy.deepcopy(tiny.model)
    fine_tune(plain, tiny.vocabulary, library, scores, **settings)
    memo = TokenMemo(tiny.vocabulary)
    memo.rows(library[:10])  # a memo filled by an earlier round
    fine_tune(memoized, tiny.vocabulary, library, scores, memo=memo, **settings)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, memoized.state_dict()[name]), name
