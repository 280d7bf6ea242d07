"""A set of 64-bit key hashes for global deduplication in bounded memory.

Deduplicating a library of any size in one process must not keep every
InChIKey string (~60 bytes each in Python, more in a set). Keys are hashed to
64 bits (pandas' SipHash with a fixed key: the same in every process and run)
and kept in sorted numpy arrays, 8 bytes per unique molecule (1.58M molecules:
13 MB). New hashes join as a sorted run; runs of similar size are merged
(log-structured), so inserting n keys costs O(n log n) and a lookup one binary
search per run (at most ~log2 n runs).

Trade-off: two different keys may share a hash. With n unique molecules the
chance of any collision is about n**2 / 2**65: 7e-8 for 1.58M molecules, 3 %
for a billion; a collision marks one molecule as a duplicate of another.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["HashSet64", "hash_keys"]


def hash_keys(keys: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
    """Stable 64-bit hashes of string keys (uint64)."""
    values = np.asarray(pd.Series(keys, dtype=object).to_numpy(), dtype=object)
    return pd.util.hash_array(values, categorize=False).astype(np.uint64, copy=False)


class HashSet64:
    """Membership of uint64 hashes; memory is 8 bytes per distinct hash."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``hashes`` are already in the set."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            if len(run) == 0:
                continue
            at = np.searchsorted(run, hashes)
            found |= run[np.minimum(at, len(run) - 1)] == hashes
        return found

    def add(self, hashes: np.ndarray) -> None:
        """Insert hashes (duplicates among them or with the set are fine)."""
        new = np.unique(np.asarray(hashes, dtype=np.uint64))
        if len(new) == 0:
            return
        new = new[~self.contains(new)]
        self._runs.append(new)
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            top = self._runs.pop()
            below = self._runs.pop()
            self._runs.append(np.union1d(below, top))

    def first_seen(self, hashes: np.ndarray) -> np.ndarray:
        """Mark each hash that is new (not in the set, not earlier in ``hashes``), then add all.

        Returns the boolean "is the first occurrence" mask, in order.
        """
        hashes = np.asarray(hashes, dtype=np.uint64)
        _, first_index = np.unique(hashes, return_index=True)
        first = np.zeros(len(hashes), dtype=bool)
        first[first_index] = True
        first &= ~self.contains(hashes)
        self.add(hashes)
        return first
