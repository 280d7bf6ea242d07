"""Packed-fingerprint Tanimoto search against RDKit and brute-force references."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs

from molspace.chem import fingerprint
from molspace.screening.keyset import HashSet64, hash_keys
from molspace.similarity import PackedFingerprints, nearest, pack_bits, tanimoto_matrix, top_k

MOSES_TEST = Path(__file__).resolve().parents[2] / "libraries" / "moses" / "test.csv.gz"


@pytest.fixture(scope="module")
def mols() -> list[Chem.Mol]:
    with gzip.open(MOSES_TEST, "rt") as handle:
        next(handle)
        smiles = [next(handle).strip() for _ in range(400)]
    return [Chem.MolFromSmiles(s) for s in smiles]


def _reference_top_k(sim: np.ndarray, k: int) -> np.ndarray:
    # best first; among equal similarities the lower library index first
    return np.array([np.lexsort((np.arange(len(row)), -row))[:k] for row in sim])


@pytest.mark.parametrize("kind", ["morgan", "maccs", "atompair"])
def test_matrix_equals_rdkit_bulk_tanimoto(mols, kind) -> None:
    packed = PackedFingerprints.from_mols(mols, kind=kind, n_bits=1024)
    fps = [fingerprint(m, kind, 2, 1024) for m in mols]
    queries = packed[np.arange(7)]
    got = tanimoto_matrix(queries, packed, block_rows=64)
    expected = np.array([DataStructs.BulkTanimotoSimilarity(fps[i], fps) for i in range(7)])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block_rows", [1, 33, 4096])
def test_top_k_and_nearest_match_brute_force_with_ties(block_rows) -> None:
    rng = np.random.default_rng(7)
    bits = rng.random((300, 130)) < 0.08
    bits[50] = bits[10]  # exact ties must go to the lower index
    bits[51] = bits[10]
    bits[60] = False  # an empty fingerprint
    library = PackedFingerprints.from_bits(bits)
    queries = PackedFingerprints.from_bits(np.vstack([bits[10], bits[60], rng.random(130) < 0.1]))
    sim = tanimoto_matrix(queries, library)
    assert sim[1].max() == 0.0  # empty vs anything, including empty, is 0
    result = top_k(queries, library, k=5, block_rows=block_rows)
    expected = _reference_top_k(sim.astype(np.float32), 5)
    np.testing.assert_array_equal(result.indices, expected)
    np.testing.assert_allclose(result.similarities, np.take_along_axis(sim, expected, axis=1))
    assert result.indices[0, :3].tolist() == [10, 50, 51]
    index, best = nearest(queries, library, block_rows=block_rows)
    np.testing.assert_array_equal(index, np.argmax(sim, axis=0))
    np.testing.assert_allclose(best, sim.max(axis=0))


def test_top_k_pads_when_the_library_is_small() -> None:
    bits = np.eye(3, 64, dtype=bool)
    result = top_k(PackedFingerprints.from_bits(bits[:1]), PackedFingerprints.from_bits(bits), k=5)
    assert result.indices[0].tolist() == [0, 1, 2, -1, -1]
    assert result.similarities[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_pack_bits_layout_and_size_mismatch() -> None:
    bits = np.zeros((2, 70), dtype=bool)
    bits[0, 0] = bits[0, 65] = bits[1, 63] = True
    words = pack_bits(bits)
    assert words.shape == (2, 2) and words.dtype == np.uint64
    assert words[0].tolist() == [1, 2] and words[1].tolist() == [2**63, 0]
    with pytest.raises(ValueError, match="fingerprint sizes differ"):
        tanimoto_matrix(
            PackedFingerprints.from_bits(bits), PackedFingerprints.from_bits(np.zeros((1, 200)))
        )


def test_hash_set_first_seen_matches_a_python_set() -> None:
    rng = np.random.default_rng(3)
    keys = HashSet64()
    reference: set[str] = set()
    for _ in range(60):
        batch = [f"KEY{v}" for v in rng.integers(0, 2000, size=rng.integers(0, 80))]
        expected = []
        for key in batch:
            expected.append(key not in reference)
            reference.add(key)
        assert keys.first_seen(hash_keys(batch)).tolist() == expected
    assert len(keys) == len(reference)
    assert hash_keys(["CCO"]).tolist() == hash_keys(np.array(["CCO"], dtype=object)).tolist()
