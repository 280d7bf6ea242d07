"""Fast Tanimoto search over packed fingerprints (many queries x many molecules).

Fingerprints are packed into 64-bit words (``PackedFingerprints``) and compared
with numpy's vectorized popcount (``np.bitwise_count``): for one query and a block
of molecules stored word-major, ``AND`` + popcount + a column sum give every
intersection count in three contiguous passes, with no Python loop per molecule.
The library is walked in blocks of ``block_rows`` molecules, so memory stays at a
few MB whatever its size, and results are exact (integer counts, then one division).

Ties are broken towards the lower library index (top-k) and the lower query index
(nearest), so results never depend on block size. Two empty fingerprints have
similarity 0 (RDKit's convention).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

__all__ = ["PackedFingerprints", "TopK", "nearest", "pack_bits", "tanimoto_matrix", "top_k"]

DEFAULT_BLOCK_ROWS = 4096  # 4096 x 256 bytes = 1 MiB per block: stays in L2 cache


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a boolean ``(n, n_bits)`` array into ``(n, ceil(n_bits / 64))`` uint64 words."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim != 2:
        raise ValueError(f"expected a 2-d (molecules, bits) array, got shape {bits.shape}")
    n, n_bits = bits.shape
    n_words = max(1, -(-n_bits // 64))
    padded = np.zeros((n, n_words * 64), dtype=bool)
    padded[:, :n_bits] = bits
    packed = np.packbits(padded, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


@dataclass(frozen=True)
class PackedFingerprints:
    """``words``: ``(n, n_words)`` uint64; ``counts``: bits set per row (for the union)."""

    words: np.ndarray
    counts: np.ndarray
    n_bits: int

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> PackedFingerprints:
        words = pack_bits(bits)
        return cls.from_words(words, int(np.asarray(bits).shape[1]))

    @classmethod
    def from_words(cls, words: np.ndarray, n_bits: int) -> PackedFingerprints:
        words = np.ascontiguousarray(words, dtype=np.uint64)
        counts = np.bitwise_count(words).sum(axis=1, dtype=np.int32)
        return cls(words, counts, n_bits)

    @classmethod
    def from_mols(
        cls,
        mols: Sequence[Chem.Mol | None],
        kind: str = "morgan",
        radius: int = 2,
        n_bits: int = 2048,
        batch: int = 10_000,
    ) -> PackedFingerprints:
        """Fingerprint and pack molecules (``None`` gives an empty row), ``batch`` at a time."""
        from molspace.chem import fingerprint_numpy

        parts = [
            pack_bits(fingerprint_numpy(mols[i : i + batch], kind, radius, n_bits))
            for i in range(0, len(mols), batch)
        ]
        width = n_bits if kind != "maccs" else 167
        if not parts:
            return cls.from_words(np.zeros((0, max(1, -(-width // 64))), np.uint64), width)
        return cls.from_words(np.concatenate(parts), width)

    @classmethod
    def concat(cls, parts: Iterable[PackedFingerprints]) -> PackedFingerprints:
        parts = list(parts)
        return cls(
            np.concatenate([p.words for p in parts]),
            np.concatenate([p.counts for p in parts]),
            parts[0].n_bits,
        )

    def __len__(self) -> int:
        return int(self.words.shape[0])

    def __getitem__(self, index: slice | np.ndarray) -> PackedFingerprints:
        return PackedFingerprints(self.words[index], self.counts[index], self.n_bits)


def _check(queries: PackedFingerprints, library: PackedFingerprints) -> None:
    if queries.words.shape[1] != library.words.shape[1]:
        raise ValueError(
            f"fingerprint sizes differ: queries have {queries.n_bits} bits, "
            f"the library {library.n_bits}"
        )


def _intersections(queries: np.ndarray, block_t: np.ndarray) -> np.ndarray:
    """``(Q, B)`` counts of common bits; ``block_t`` is a word-major ``(W, B)`` block."""
    n_words, rows = block_t.shape
    out = np.empty((queries.shape[0], rows), dtype=np.uint16)
    tmp = np.empty((n_words, rows), dtype=np.uint64)
    counts = np.empty((n_words, rows), dtype=np.uint8)
    for i in range(queries.shape[0]):
        np.bitwise_and(block_t, queries[i][:, None], out=tmp)
        np.bitwise_count(tmp, out=counts)
        np.sum(counts, axis=0, dtype=np.uint16, out=out[i])
    return out


def _blocks(library: PackedFingerprints, block_rows: int) -> Iterable[tuple[int, np.ndarray]]:
    for start in range(0, len(library), block_rows):
        yield start, np.ascontiguousarray(library.words[start : start + block_rows].T)


def _similarity(inter: np.ndarray, q_counts: np.ndarray, m_counts: np.ndarray) -> np.ndarray:
    inter = inter.astype(np.float64)
    union = q_counts[:, None].astype(np.float64) + m_counts[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = inter / union
    sim[union == 0] = 0.0
    return sim


def tanimoto_matrix(
    queries: PackedFingerprints,
    library: PackedFingerprints,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> np.ndarray:
    """Full ``(len(queries), len(library))`` float64 similarity matrix (small inputs)."""
    _check(queries, library)
    out = np.empty((len(queries), len(library)), dtype=np.float64)
    for start, block_t in _blocks(library, block_rows):
        stop = start + block_t.shape[1]
        inter = _intersections(queries.words, block_t)
        out[:, start:stop] = _similarity(inter, queries.counts, library.counts[start:stop])
    return out


def nearest(
    queries: PackedFingerprints,
    library: PackedFingerprints,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """For each library molecule, the most similar query: ``(query_index, similarity)``."""
    _check(queries, library)
    index = np.zeros(len(library), dtype=np.int64)
    best = np.zeros(len(library), dtype=np.float64)
    if len(queries) == 0:
        return np.full(len(library), -1, dtype=np.int64), best
    for start, block_t in _blocks(library, block_rows):
        stop = start + block_t.shape[1]
        sim = _similarity(
            _intersections(queries.words, block_t), queries.counts, library.counts[start:stop]
        )
        index[start:stop] = np.argmax(sim, axis=0)  # first maximum: the lower query index
        best[start:stop] = sim[index[start:stop], np.arange(stop - start)]
    return index, best


@dataclass(frozen=True)
class TopK:
    """``indices[q]`` / ``similarities[q]``: the k nearest library rows of query q, best first."""

    indices: np.ndarray
    similarities: np.ndarray


def _keys(sim: np.ndarray, index: np.ndarray) -> np.ndarray:
    # float32 bit patterns of values in [0, 1] sort like the values; the low 32 bits
    # invert the row index so that, among equal similarities, the lower index wins
    bits = sim.astype(np.float32).view(np.uint32).astype(np.uint64)
    return (bits << np.uint64(32)) | (np.uint64(0xFFFFFFFF) - index.astype(np.uint64))


def top_k(
    queries: PackedFingerprints,
    library: PackedFingerprints,
    k: int = 10,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> TopK:
    """The ``k`` most similar library molecules of each query (exact, streaming over blocks).

    Rows of ``indices`` hold -1 (similarity 0) past the library's end when it has
    fewer than ``k`` molecules. Similarities are exact; ranking uses them rounded to
    float32, ties going to the lower library index.
    """
    _check(queries, library)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(library) >= 2**32:
        raise ValueError("top_k handles libraries of fewer than 2**32 molecules")
    n_q = len(queries)
    best_keys = np.zeros((n_q, 0), dtype=np.uint64)
    best_sims = np.zeros((n_q, 0), dtype=np.float64)
    for start, block_t in _blocks(library, block_rows):
        stop = start + block_t.shape[1]
        sim = _similarity(
            _intersections(queries.words, block_t), queries.counts, library.counts[start:stop]
        )
        keys = _keys(sim, np.broadcast_to(np.arange(start, stop), sim.shape))
        keys = np.concatenate([best_keys, keys], axis=1)
        sims = np.concatenate([best_sims, sim], axis=1)
        if keys.shape[1] > k:
            pick = np.argpartition(keys, keys.shape[1] - k, axis=1)[:, -k:]
            keys = np.take_along_axis(keys, pick, axis=1)
            sims = np.take_along_axis(sims, pick, axis=1)
        best_keys, best_sims = keys, sims
    order = np.argsort(best_keys, axis=1)[:, ::-1]
    best_keys = np.take_along_axis(best_keys, order, axis=1)
    best_sims = np.take_along_axis(best_sims, order, axis=1)
    indices = (np.uint64(0xFFFFFFFF) - (best_keys & np.uint64(0xFFFFFFFF))).astype(np.int64)
    if indices.shape[1] < k:
        pad = k - indices.shape[1]
        indices = np.pad(indices, ((0, 0), (0, pad)), constant_values=-1)
        best_sims = np.pad(best_sims, ((0, 0), (0, pad)), constant_values=0.0)
    return TopK(indices, best_sims)
