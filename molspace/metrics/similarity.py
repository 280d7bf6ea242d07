"""Tanimoto aggregates over packed bit fingerprints, as dense matrix products.

SNN (nearest-neighbour similarity to 176k test molecules) and IntDiv (mean
pairwise similarity) are the expensive MOSES metrics: 30,000 x 176,074 pairs.
Bit intersections ``I`` are a matrix product of 0/1 matrices; in bfloat16 that
product is exact while the counts stay <= 256 (bf16 holds every integer up to
256 and an intersection never exceeds either popcount) and runs about 2.5x
faster than float32 on a CPU with AVX-512 BF16; wider fingerprints fall back to
float32. Two empty fingerprints have similarity 1, as in MOSES.

For the nearest neighbour we never form the similarity matrix: references are
sorted by popcount ``b``, and within a run of equal ``b`` the Tanimoto
``I / (a + b - I)`` grows with ``I``, so the best reference of the run is the
one with the largest intersection: one max over the raw product per run, and
the divisions happen on (queries x distinct popcounts) numbers only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["max_tanimoto", "mean_tanimoto_powers", "popcount", "torch_threads", "unpack"]

_BF16_EXACT = 256


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads inside the block, restoring the setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def unpack(packed: np.ndarray) -> np.ndarray:
    """(n, bits/8) packed uint8 -> (n, bits) uint8 of 0/1."""
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=1)


def popcount(packed: np.ndarray) -> np.ndarray:
    """Number of set bits per row of a packed (n, bits/8) uint8 array."""
    return np.bitwise_count(np.asarray(packed, dtype=np.uint8)).sum(axis=1, dtype=np.int64)


def _blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _dense(packed: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(unpack(packed)).to(dtype)


def _dtype_for(*pops: np.ndarray) -> torch.dtype:
    most = max((int(p.max()) if len(p) else 0) for p in pops)
    return torch.bfloat16 if most <= _BF16_EXACT else torch.float32


def _tanimoto(inter: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Tanimoto from intersections and broadcastable popcounts; 0/0 -> 1 (in place on inter)."""
    union = (a + b) - inter
    return inter.div_(union).nan_to_num_(nan=1.0)


def max_tanimoto(
    query: np.ndarray, reference: np.ndarray, *, query_block: int = 4096, ref_block: int = 16384
) -> np.ndarray:
    """For each packed query fingerprint, its highest Tanimoto similarity to any reference one."""
    if len(query) == 0:
        return np.zeros(0)
    if len(reference) == 0:
        return np.full(len(query), np.nan)
    q_pop = popcount(query)
    r_pop = popcount(reference)
    dtype = _dtype_for(q_pop, r_pop)
    order = np.argsort(r_pop, kind="stable")
    reference, r_pop = reference[order], r_pop[order]
    q_pop_t = torch.from_numpy(q_pop.astype(np.float32))
    best = torch.zeros(len(query))
    with torch.inference_mode():
        for rs in _blocks(len(reference), ref_block):
            ref_t = _dense(reference[rs], dtype).T.contiguous()
            pops = r_pop[rs]
            cuts = np.flatnonzero(np.diff(pops)) + 1
            starts = np.concatenate(([0], cuts))
            ends = np.concatenate((cuts, [len(pops)]))
            b = torch.from_numpy(pops[starts].astype(np.float32))
            for qs in _blocks(len(query), query_block):
                inter = _dense(query[qs], dtype) @ ref_t
                run_max = torch.stack(
                    [inter[:, s:e].amax(1) for s, e in zip(starts, ends, strict=True)], dim=1
                ).float()
                sim = _tanimoto(run_max, q_pop_t[qs, None], b[None, :])
                torch.maximum(best[qs], sim.amax(1), out=best[qs])
    return best.numpy().astype(np.float64)


def mean_tanimoto_powers(
    query: np.ndarray, powers: tuple[int, ...] = (1, 2), *, block: int = 4096
) -> dict[int, np.ndarray]:
    """For each fingerprint ``i`` of ``query`` and each ``p``: ``mean_j T(i, j) ** p`` over all
    ``j`` in ``query`` (self-pairs and duplicates included, as MOSES's IntDiv does).

    The similarity matrix is symmetric, so only blocks on or above the diagonal are computed.
    """
    n = len(query)
    if n == 0:
        return {p: np.zeros(0) for p in powers}
    pop = popcount(query)
    dtype = _dtype_for(pop)
    pop_t = torch.from_numpy(pop.astype(np.float32))
    sums = {p: torch.zeros(n, dtype=torch.float64) for p in powers}
    slices = list(_blocks(n, block))
    with torch.inference_mode():
        dense = [_dense(query[s], dtype) for s in slices]
        for i, rs in enumerate(slices):
            for j in range(i, len(slices)):
                cs = slices[j]
                inter = (dense[i] @ dense[j].T).float()
                sim = _tanimoto(inter, pop_t[rs, None], pop_t[None, cs])
                for p in powers:
                    term = sim if p == 1 else sim.pow(p)
                    sums[p][rs] += term.sum(1, dtype=torch.float64)
                    if j != i:
                        sums[p][cs] += term.sum(0, dtype=torch.float64)
    return {p: (s / n).numpy() for p, s in sums.items()}
