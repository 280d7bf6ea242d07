"""MOSES metrics on small hand-checkable sets, and parity with MOSES's own numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from molspace.metrics import (
    MosesMetrics,
    TrainSet,
    build_reference,
    compute_moses_metrics,
    cosine_similarity,
    fraction_unique,
    fraction_valid,
    internal_diversity,
    novelty,
    snn,
)
from molspace.metrics.features import featurize

DRUGLIKE = [
    "CC(=O)Nc1ccc(O)cc1",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "O=C(O)c1ccccc1OC(=O)C",
    "CN1CCC[C@H]1c1cccnc1",
    "COc1ccc2[nH]cc(CCN)c2c1",
    "O=C(NCc1ccccc1)c1ccc2ccccc2c1",
    "Cc1ccc(S(=O)(=O)N2CCCCC2)cc1",
    "c1ccc(-c2nc3ccccc3[nH]2)cc1",
]


def fps(smiles: list[str]) -> np.ndarray:
    return featurize(smiles).fingerprints()


def test_validity_counts_empty_and_unparseable_strings_as_invalid():
    assert fraction_valid(["CCO", "", "not a smiles", "c1ccc", "C1CC"]) == pytest.approx(1 / 5)
    assert math.isnan(fraction_valid([]))


def test_uniqueness_uses_the_first_k_and_is_nan_below_k():
    canonical = ["CCO", "CCO", "CCN", "CCC"]
    assert fraction_unique(canonical) == pytest.approx(3 / 4)
    assert fraction_unique(canonical, k=2) == pytest.approx(1 / 2)
    assert math.isnan(fraction_unique(canonical, k=10))


def test_duplicates_written_differently_are_not_unique():
    table = featurize(["OCC", "CCO", "C(C)O", "c1ccccc1", "C1=CC=CC=C1"])
    assert table.canonical == ["CCO", "CCO", "CCO", "c1ccccc1", "c1ccccc1"]
    assert fraction_unique(table.canonical) == pytest.approx(2 / 5)


def test_novelty_against_a_small_training_list():
    train = TrainSet.from_smiles(["OCC", "c1ccccc1", "garbage"])
    assert train.n == 3 and len(train.hashes) == 2  # invalid training SMILES dropped
    generated = featurize(["CCO", "CCO", "CCN", "Cc1ccccc1"]).canonical
    # distinct: CCO (in train), CCN, Cc1ccccc1 -> 2 of 3 novel
    assert novelty(generated, train) == pytest.approx(2 / 3)


def test_identical_sets_are_perfectly_similar_and_diverse_as_themselves():
    table = featurize(DRUGLIKE)
    ref = build_reference(DRUGLIKE, name="same")
    assert snn(table.fingerprints(), ref.fingerprints) == pytest.approx(1.0)
    assert cosine_similarity(ref.fragments, table.fragment_counts()) == pytest.approx(1.0)
    assert cosine_similarity(ref.scaffolds, table.scaffold_counts()) == pytest.approx(1.0)


def test_internal_diversity_of_one_repeated_molecule_is_zero():
    assert internal_diversity(fps(["c1ccccc1O"] * 6)) == pytest.approx(0.0)
    assert internal_diversity(fps(["c1ccccc1O"] * 6), p=2) == pytest.approx(0.0)


def test_internal_diversity_of_two_disjoint_fingerprints_is_one_half():
    # methane and chloride-free neon-like hydrogen fluoride share no Morgan bit:
    # T = [[1, 0], [0, 1]], mean 0.5 with self-pairs, as MOSES defines it
    pair = fps(["C", "F"])
    assert not (np.unpackbits(pair[0]) & np.unpackbits(pair[1])).any()
    assert internal_diversity(pair) == pytest.approx(0.5)
    assert internal_diversity(pair, p=2) == pytest.approx(1 - math.sqrt(0.5))


def test_cosine_similarity_by_hand():
    assert cosine_similarity({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity({"a": 2}, {"b": 5}) == pytest.approx(0.0)
    assert math.isnan(cosine_similarity({}, {"a": 1}))


def test_scaffolds_need_two_rings_as_in_moses():
    table = featurize(["Cc1ccccc1", "c1ccc(Cc2ccccc2)cc1", "CCCC"])
    assert table.scaffold_counts() == {"c1ccc(Cc2ccccc2)cc1": 1}


@pytest.mark.slow
def test_moses_unit_test_figures_are_reproduced():
    """molecularsets/moses tests/test_metrics.py: same inputs, same published targets."""
    gen = [
        "CNC",
        "Oc1ccccc1-c1cccc2cnccc12",
        "INVALID",
        "CCCP",
        "Cc1noc(C)c1CN(C)C(=O)Nc1cc(F)cc(F)c1",
        "Cc1nc(NCc2ccccc2)no1-c1ccccc1",
    ]
    test = ["Oc1ccccc1-c1cccc2cnccc12", "COc1cccc(NC(=O)Cc2coc3ccc(OC)cc23)c1"]
    got = compute_moses_metrics(gen, test=test, test_scaffolds=None, train=None, k=(3,))
    targets = {
        "valid": 2 / 3,
        "unique@3": 1.0,
        "FCD/Test": 52.58371754126664,
        "SNN/Test": 0.3152585653588176,
        "Frag/Test": 0.3,
        "Scaf/Test": 0.5,
        "IntDiv": 0.7189187309761661,
        "Filters": 0.75,
        "logP": 1.63229,
        "QED": 0.20370891752648637,
        "weight": 106.87,
        # SA is left out: MOSES's target (0.5238) came from its 2020 RDKit; today's
        # RDKit SA gives 0.628 here while it matches MOSES's stored test-set SA exactly
    }
    for name, value in targets.items():
        assert got[name] == pytest.approx(value, rel=1e-5), name


def test_metrics_of_a_sample_with_no_valid_molecule_are_nan_not_errors():
    got = compute_moses_metrics(
        ["", "xyz"], test=DRUGLIKE, test_scaffolds=None, train=["CCO"], k=(1,)
    )
    assert got["valid"] == 0.0
    for name in ("unique@1", "FCD/Test", "SNN/Test", "IntDiv", "Filters", "Novelty", "logP"):
        assert math.isnan(got[name]), name


@pytest.mark.slow
def test_moses_metrics_object_reuses_references_and_reports_timings():
    metrics = MosesMetrics(test=DRUGLIKE, test_scaffolds=None, train=DRUGLIKE[:4], k=(4,))
    got = metrics([*DRUGLIKE[::-1], "", "CCO"])
    assert got["valid"] == pytest.approx(9 / 10)
    assert got["Novelty"] == pytest.approx(5 / 9)
    assert got["SNN/Test"] < 1.0  # CCO has no close neighbour in the drug-like set
    assert 0.0 < got["IntDiv"] < 1.0 and got["IntDiv2"] < got["IntDiv"]
    assert got["mean_heavy_atoms"] == pytest.approx(
        np.mean([featurize([s]).records[0].heavy_atoms for s in [*DRUGLIKE, "CCO"]])
    )
    assert {"featurize", "chemnet", "snn", "intdiv"} <= set(metrics.timings)
