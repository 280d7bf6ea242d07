"""Fast Tanimoto search over packed fingerprints (many queries x many molecules).

Fingerprints are packed into 64-bit words (``PackedFingerprints``) and compared
with numpy's vectorized popcount (``np.bitwise_count``): for one query and a block
of molecules stored word-major, ``AND`` + popcount + a column sum give every
intersection count in three contiguous passes, with no Python loop per molecule.
The library is walked in blocks of ``block_rows`` molecules, so memory stays at a
few MB whatever its size, and results are exact (integer counts, then one division).

Two backends give identical results (same integer counts, same float64 division,
same tie rules): ``"numba"``, a compiled kernel that fuses AND + popcount +
accumulate (AVX-512/AVX2 ``popcnt`` where the CPU has it) and keeps top-k heaps
per query in the same pass, used whenever numba is installed; and ``"numpy"``,
the always-available fallback above. Pick one with ``backend=`` or the
``MOLSPACE_SIMILARITY_BACKEND`` environment variable.

Ties are broken towards the lower library index (top-k) and the lower query index
(nearest), so results never depend on block size. Two empty fingerprints have
similarity 0 (RDKit's convention).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from molspace.errors import ConfigError

try:  # optional: the compiled kernel; the numpy path below needs nothing extra
    import numba
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - exercised on installs without numba
    numba = None

__all__ = [
    "BACKENDS",
    "PackedFingerprints",
    "TopK",
    "default_backend",
    "nearest",
    "pack_bits",
    "tanimoto_matrix",
    "top_k",
]

BACKENDS = ("numba", "numpy")
BACKEND_ENV = "MOLSPACE_SIMILARITY_BACKEND"

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


def default_backend() -> str:
    """The backend used when none is named: the environment variable, else numba if installed."""
    return _backend(None)


def _backend(backend: str | None) -> str:
    name = backend or os.environ.get(BACKEND_ENV) or ("numba" if numba is not None else "numpy")
    if name not in BACKENDS:
        raise ConfigError(
            f"unknown similarity backend {name!r} (backend= or {BACKEND_ENV}); "
            f"expected one of {', '.join(BACKENDS)}"
        )
    if name == "numba" and numba is None:
        raise ConfigError(
            f"similarity backend 'numba' requested (backend= or {BACKEND_ENV}) but numba is "
            "not installed; install it or use 'numpy'"
        )
    return name


# -- numba backend ---------------------------------------------------------------------------
# Library rows are streamed once per tile of _LIB_TILE rows (256 KiB at 2048 bits: L2) and
# compared with _QUERY_TILE queries at a time (16 KiB: L1), four queries per library row so
# that each loaded library word is used four times. Counts stay integers; the only float
# operations are the same float64 divisions (and float32 roundings) as the numpy path.

_LIB_TILE = 1024
_QUERY_TILE = 64

if numba is not None:

    @intrinsic
    def _popcount(typingctx, x):  # type: ignore[no-untyped-def]
        """``llvm.ctpop.i64``: one ``popcnt``/``vpopcntq`` instead of a bit-twiddling loop."""
        if not (isinstance(x, numba.types.Integer) and x.bitwidth == 64):
            return None

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.ctpop(args[0])

        return numba.types.int64(x), codegen

    _jit = numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
    _inline = numba.njit(
        cache=True, nogil=True, boundscheck=False, error_model="numpy", inline="always"
    )

    @_inline
    def _nb_row_counts(qw, lw, j, g0, g1, out):  # type: ignore[no-untyped-def]
        """``out[i - g0]`` = bits common to query i and library row j, for i in [g0, g1)."""
        n_words = qw.shape[1]
        i = g0
        while i + 4 <= g1:
            c0 = c1 = c2 = c3 = 0
            for w in range(n_words):
                x = lw[j, w]
                c0 += _popcount(qw[i, w] & x)
                c1 += _popcount(qw[i + 1, w] & x)
                c2 += _popcount(qw[i + 2, w] & x)
                c3 += _popcount(qw[i + 3, w] & x)
            out[i - g0] = c0
            out[i - g0 + 1] = c1
            out[i - g0 + 2] = c2
            out[i - g0 + 3] = c3
            i += 4
        while i < g1:
            c = 0
            for w in range(n_words):
                c += _popcount(qw[i, w] & lw[j, w])
            out[i - g0] = c
            i += 1

    @_jit
    def _nb_matrix(qw, qc, lw, lc, out):  # type: ignore[no-untyped-def]
        n_q, n = qw.shape[0], lw.shape[0]
        counts = np.empty(_QUERY_TILE, np.int64)
        for t0 in range(0, n, _LIB_TILE):
            for g0 in range(0, n_q, _QUERY_TILE):
                g1 = min(g0 + _QUERY_TILE, n_q)
                for j in range(t0, min(t0 + _LIB_TILE, n)):
                    _nb_row_counts(qw, lw, j, g0, g1, counts)
                    for q in range(g0, g1):
                        c = counts[q - g0]
                        union = qc[q] + lc[j] - c
                        out[q, j] = c / union if union > 0 else 0.0

    @_jit
    def _nb_nearest(qw, qc, lw, lc, index, best_c, best_u):  # type: ignore[no-untyped-def]
        # exact rational comparison c/u > bc/bu (strict: the first maximum, lower query, wins);
        # index 0 with similarity 0/1 when nothing is similar, like np.argmax
        n_q, n = qw.shape[0], lw.shape[0]
        counts = np.empty(_QUERY_TILE, np.int64)
        for t0 in range(0, n, _LIB_TILE):
            for g0 in range(0, n_q, _QUERY_TILE):
                g1 = min(g0 + _QUERY_TILE, n_q)
                for j in range(t0, min(t0 + _LIB_TILE, n)):
                    _nb_row_counts(qw, lw, j, g0, g1, counts)
                    bc, bu, bi = best_c[j], best_u[j], index[j]
                    for q in range(g0, g1):
                        c = counts[q - g0]
                        union = qc[q] + lc[j] - c
                        if union > 0 and c * bu > bc * union:
                            bc, bu, bi = c, union, q
                    best_c[j], best_u[j], index[j] = bc, bu, bi

    @_jit
    def _nb_worse(v1, i1, v2, i2):  # type: ignore[no-untyped-def]
        return v1 < v2 or (v1 == v2 and i1 > i2)

    @_jit
    def _nb_offer(q, j, c, union, value, index, hc, hu):  # type: ignore[no-untyped-def]
        """Put library row j into query q's min-heap of the k best (root = the worst kept)."""
        v = np.float32(c / union) if union > 0 else np.float32(0.0)
        if not _nb_worse(value[q, 0], index[q, 0], v, j):
            return
        k = value.shape[1]
        pos = 0
        while True:
            child = 2 * pos + 1
            if child >= k:
                break
            right = child + 1
            if right < k and _nb_worse(
                value[q, right], index[q, right], value[q, child], index[q, child]
            ):
                child = right
            if not _nb_worse(value[q, child], index[q, child], v, j):
                break
            value[q, pos], index[q, pos] = value[q, child], index[q, child]
            hc[q, pos], hu[q, pos] = hc[q, child], hu[q, child]
            pos = child
        value[q, pos], index[q, pos], hc[q, pos], hu[q, pos] = v, j, c, union

    @_jit
    def _nb_top_k(qw, qc, lw, lc, value, index, hc, hu):  # type: ignore[no-untyped-def]
        # heaps start full of sentinels (value -1, index -1, count 0/0) that any row beats.
        # A row whose exact ratio c/u is below the heap root's cannot enter (its float32 is
        # at most the root's and its index is higher), so most rows are rejected with two
        # integer products before any division.
        n_q, n = qw.shape[0], lw.shape[0]
        counts = np.empty(_QUERY_TILE, np.int64)
        root_c = np.zeros(n_q, np.int64)
        root_u = np.zeros(n_q, np.int64)
        for t0 in range(0, n, _LIB_TILE):
            for g0 in range(0, n_q, _QUERY_TILE):
                g1 = min(g0 + _QUERY_TILE, n_q)
                for j in range(t0, min(t0 + _LIB_TILE, n)):
                    _nb_row_counts(qw, lw, j, g0, g1, counts)
                    m = lc[j]
                    for q in range(g0, g1):
                        c = counts[q - g0]
                        union = qc[q] + m - c
                        if c * root_u[q] >= root_c[q] * union:
                            _nb_offer(q, j, c, union, value, index, hc, hu)
                            root_c[q], root_u[q] = hc[q, 0], hu[q, 0]


def _kernel_args(
    queries: PackedFingerprints, library: PackedFingerprints
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.ascontiguousarray(queries.words, dtype=np.uint64),
        np.ascontiguousarray(queries.counts, dtype=np.int64),
        np.ascontiguousarray(library.words, dtype=np.uint64),
        np.ascontiguousarray(library.counts, dtype=np.int64),
    )


def _numba_top_k(queries: PackedFingerprints, library: PackedFingerprints, k: int) -> TopK:
    n_q = len(queries)
    value = np.full((n_q, k), -1.0, dtype=np.float32)
    index = np.full((n_q, k), -1, dtype=np.int64)
    hc = np.zeros((n_q, k), dtype=np.int64)
    hu = np.zeros((n_q, k), dtype=np.int64)
    _nb_top_k(*_kernel_args(queries, library), value, index, hc, hu)
    order = np.lexsort((index, -value))  # best first, the lower index first among ties
    index = np.take_along_axis(index, order, axis=1)
    hc = np.take_along_axis(hc, order, axis=1).astype(np.float64)
    hu = np.take_along_axis(hu, order, axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sims = hc / hu
    sims[hu == 0] = 0.0
    return TopK(index, sims)


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


def _similarity(inter: np.ndarray, q_counts: np.ndarray, m_counts: np.ndarray) -> np.ndarray:
    inter = inter.astype(np.float64)
    union = q_counts[:, None].astype(np.float64) + m_counts[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = inter / union
    sim[union == 0] = 0.0
    return sim


def _similarity_blocks(
    queries: PackedFingerprints, library: PackedFingerprints, block_rows: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, stop, sim)`` over the library in blocks (the numpy backend):
    ``sim[q, j]`` is the similarity of query q to library row ``start + j``."""
    for start in range(0, len(library), block_rows):
        block_t = np.ascontiguousarray(library.words[start : start + block_rows].T)
        stop = start + block_t.shape[1]
        inter = _intersections(queries.words, block_t)
        yield start, stop, _similarity(inter, queries.counts, library.counts[start:stop])


def tanimoto_matrix(
    queries: PackedFingerprints,
    library: PackedFingerprints,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    *,
    backend: str | None = None,
) -> np.ndarray:
    """Full ``(len(queries), len(library))`` float64 similarity matrix (small inputs)."""
    _check(queries, library)
    out = np.empty((len(queries), len(library)), dtype=np.float64)
    if _backend(backend) == "numba":
        _nb_matrix(*_kernel_args(queries, library), out)
        return out
    for start, stop, sim in _similarity_blocks(queries, library, block_rows):
        out[:, start:stop] = sim
    return out


def nearest(
    queries: PackedFingerprints,
    library: PackedFingerprints,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    *,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each library molecule, the most similar query: ``(query_index, similarity)``."""
    _check(queries, library)
    index = np.zeros(len(library), dtype=np.int64)
    best = np.zeros(len(library), dtype=np.float64)
    if len(queries) == 0:
        return np.full(len(library), -1, dtype=np.int64), best
    if _backend(backend) == "numba":
        best_c = np.zeros(len(library), dtype=np.int64)
        best_u = np.ones(len(library), dtype=np.int64)
        _nb_nearest(*_kernel_args(queries, library), index, best_c, best_u)
        return index, best_c / best_u
    for start, stop, sim in _similarity_blocks(queries, library, block_rows):
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
    *,
    backend: str | None = None,
) -> TopK:
    """The ``k`` most similar library molecules of each query (exact, streaming over blocks).

    Rows of ``indices`` hold -1 (similarity 0) past the library's end when it has
    fewer than ``k`` molecules. Similarities are exact; ranking uses them rounded to
    float32, ties going to the lower library index. ``block_rows`` sizes the numpy
    backend's blocks; the numba kernel tiles for the cache on its own.
    """
    _check(queries, library)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(library) >= 2**32:
        raise ValueError("top_k handles libraries of fewer than 2**32 molecules")
    if _backend(backend) == "numba":
        return _numba_top_k(queries, library, k)
    n_q = len(queries)
    best_keys = np.zeros((n_q, 0), dtype=np.uint64)
    best_sims = np.zeros((n_q, 0), dtype=np.float64)
    for start, stop, sim in _similarity_blocks(queries, library, block_rows):
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
