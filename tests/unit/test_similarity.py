"""Packed-fingerprint Tanimoto search against RDKit and brute-force references."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs

from molspace.chem import fingerprint
from molspace.errors import ConfigError
from molspace.screening.keyset import HashSet64, hash_keys
from molspace.similarity import (
    BACKEND_ENV,
    BACKENDS,
    PackedFingerprints,
    default_backend,
    nearest,
    pack_bits,
    tanimoto_matrix,
    top_k,
)

MOSES_TEST = Path(__file__).resolve().parents[2] / "libraries" / "moses" / "test.csv.gz"


@pytest.fixture(scope="module")
def mols() -> list[Chem.Mol]:
    with gzip.open(MOSES_TEST, "rt") as handle:
        next(handle)
        smiles = [next(handle).strip() for _ in range(400)]
    return [Chem.MolFromSmiles(s) for s in smiles]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "numba":
        pytest.importorskip("numba")
    return request.param


def _reference_top_k(sim: np.ndarray, k: int) -> np.ndarray:
    # best first; among equal similarities the lower library index first
    return np.array([np.lexsort((np.arange(len(row)), -row))[:k] for row in sim])


@pytest.mark.parametrize("kind", ["morgan", "maccs", "atompair"])
def test_matrix_equals_rdkit_bulk_tanimoto(mols, kind, backend) -> None:
    packed = PackedFingerprints.from_mols(mols, kind=kind, n_bits=1024)
    fps = [fingerprint(m, kind, 2, 1024) for m in mols]
    queries = packed[np.arange(7)]
    got = tanimoto_matrix(queries, packed, block_rows=64, backend=backend)
    expected = np.array([DataStructs.BulkTanimotoSimilarity(fps[i], fps) for i in range(7)])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block_rows", [1, 33, 4096])
def test_top_k_and_nearest_match_brute_force_with_ties(block_rows, backend) -> None:
    rng = np.random.default_rng(7)
    bits = rng.random((300, 130)) < 0.08
    bits[50] = bits[10]  # exact ties must go to the lower index
    bits[51] = bits[10]
    bits[60] = False  # an empty fingerprint
    library = PackedFingerprints.from_bits(bits)
    queries = PackedFingerprints.from_bits(np.vstack([bits[10], bits[60], rng.random(130) < 0.1]))
    sim = tanimoto_matrix(queries, library, backend=backend)
    assert sim[1].max() == 0.0  # empty vs anything, including empty, is 0
    result = top_k(queries, library, k=5, block_rows=block_rows, backend=backend)
    expected = _reference_top_k(sim.astype(np.float32), 5)
    np.testing.assert_array_equal(result.indices, expected)
    np.testing.assert_allclose(result.similarities, np.take_along_axis(sim, expected, axis=1))
    assert result.indices[0, :3].tolist() == [10, 50, 51]
    index, best = nearest(queries, library, block_rows=block_rows, backend=backend)
    np.testing.assert_array_equal(index, np.argmax(sim, axis=0))
    np.testing.assert_allclose(best, sim.max(axis=0))


def test_top_k_pads_when_the_library_is_small(backend) -> None:
    bits = np.eye(3, 64, dtype=bool)
    queries, library = PackedFingerprints.from_bits(bits[:1]), PackedFingerprints.from_bits(bits)
    result = top_k(queries, library, k=5, backend=backend)
    assert result.indices[0].tolist() == [0, 1, 2, -1, -1]
    assert result.similarities[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    empty = top_k(queries, library[:0], k=2, backend=backend)
    assert empty.indices.tolist() == [[-1, -1]] and empty.similarities.tolist() == [[0.0, 0.0]]
    index, best = nearest(queries[:0], library, backend=backend)
    assert index.tolist() == [-1, -1, -1] and best.tolist() == [0.0, 0.0, 0.0]


def test_numba_and_numpy_backends_agree_exactly() -> None:
    # more queries than one query tile (64) and not a multiple of 4; more rows than one
    # library tile (1024); sparse rows so that many similarities tie, duplicates and empties
    pytest.importorskip("numba")
    rng = np.random.default_rng(11)
    bits = rng.random((2500, 2048)) < rng.uniform(0.002, 0.03, size=(2500, 1))
    bits[1500:1540] = bits[3]
    bits[::97] = False
    library = PackedFingerprints.from_bits(bits)
    queries = library[np.r_[3, 97, rng.choice(2500, 68, replace=False)]]
    for k in (1, 7, 40):
        fast = top_k(queries, library, k=k, backend="numba")
        slow = top_k(queries, library, k=k, backend="numpy")
        np.testing.assert_array_equal(fast.indices, slow.indices)
        np.testing.assert_array_equal(fast.similarities, slow.similarities)
    assert fast.indices[0, :3].tolist() == [3, 1500, 1501]  # k=40: ties in index order
    assert fast.indices[1].tolist() == list(range(40))  # an empty query: all 0, lowest first
    assert fast.similarities[1].max() == 0.0
    for got, expected in zip(
        nearest(queries, library, backend="numba"),
        nearest(queries, library, backend="numpy"),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        tanimoto_matrix(queries, library, backend="numba"),
        tanimoto_matrix(queries, library, backend="numpy"),
    )


def test_backend_choice_and_errors(monkeypatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "numpy")
    assert default_backend() == "numpy"
    monkeypatch.setenv(BACKEND_ENV, "fortran")
    bits = PackedFingerprints.from_bits(np.eye(2, 64, dtype=bool))
    with pytest.raises(ConfigError, match="unknown similarity backend 'fortran'"):
        top_k(bits, bits, k=1)
    with pytest.raises(ConfigError, match="unknown similarity backend 'cuda'"):
        nearest(bits, bits, backend="cuda")
    monkeypatch.delenv(BACKEND_ENV)
    try:
        import numba  # noqa: F401
    except ImportError:
        assert default_backend() == "numpy"
        with pytest.raises(ConfigError, match="numba is not installed"):
            top_k(bits, bits, k=1, backend="numba")
    else:
        assert default_backend() == "numba"


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
