"""The MOSES distribution-learning metrics (Polykovskiy et al. 2020, molecularsets/moses).

Definitions follow MOSES's ``get_all_metrics`` so our row sits beside the
published table: validity over all samples; then, on the canonical SMILES of
the valid ones (duplicates kept): unique@k over the first k, FCD, SNN (mean
nearest-neighbour Tanimoto, Morgan r=2 1024 bits), Frag and Scaf (cosine
similarity of BRICS-fragment and >=2-ring Bemis-Murcko scaffold counts), IntDiv
(1 - mean pairwise Tanimoto; IntDiv2 with p=2), Filters, property Wasserstein
distances; Novelty over the unique valid ones. Extra to MOSES: heavy-atom
distance and property means beside the test set's.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from scipy.stats import wasserstein_distance

from molspace.metrics.features import FeatureTable, featurize
from molspace.metrics.novelty import TrainSet, load_moses_train
from molspace.metrics.reference import (
    PROPERTY_KEYS,
    ReferenceStats,
    build_reference,
    load_reference,
)
from molspace.metrics.similarity import max_tanimoto, mean_tanimoto_powers, torch_threads

__all__ = [
    "MOSES_COLUMNS",
    "MosesMetrics",
    "compute_moses_metrics",
    "cosine_similarity",
    "fraction_unique",
    "fraction_valid",
    "internal_diversity",
    "novelty",
    "snn",
    "unique_key",
]

# the columns of the published MOSES table, in its order
MOSES_COLUMNS = (
    "valid",
    "unique@1k",
    "unique@10k",
    "FCD/Test",
    "SNN/Test",
    "Frag/Test",
    "Scaf/Test",
    "IntDiv",
    "Filters",
    "Novelty",
)

Reference = Literal["moses"] | Sequence[str] | ReferenceStats
Train = Literal["moses"] | Sequence[str] | TrainSet


def unique_key(k: int) -> str:
    """``unique@1k`` style name of unique@k."""
    return f"unique@{k // 1000}k" if k % 1000 == 0 else f"unique@{k}"


def fraction_valid(smiles: Sequence[str], n_jobs: int = 1) -> float:
    """Fraction of SMILES that RDKit parses and sanitizes (empty strings are invalid)."""
    from molspace.metrics.features import parallel_map

    if len(smiles) == 0:
        return math.nan
    return float(np.mean(parallel_map(_is_valid, list(smiles), n_jobs=n_jobs)))


def _is_valid(smiles: str) -> bool:
    from molspace.metrics.features import parse_moses

    return parse_moses(smiles) is not None


def fraction_unique(canonical: Sequence[str], k: int | None = None) -> float:
    """Distinct / total among the first ``k`` canonical SMILES (all when ``k`` is None).

    NaN when fewer than ``k`` are given: unique@10k of 3,000 molecules would be a
    different number from the one MOSES reports, so we do not print one.
    """
    if k is not None:
        if len(canonical) < k:
            return math.nan
        canonical = canonical[:k]
    if len(canonical) == 0:
        return math.nan
    return len(set(canonical)) / len(canonical)


def novelty(canonical: Sequence[str], train: TrainSet) -> float:
    """Fraction of the distinct canonical SMILES that are not in ``train``."""
    distinct = sorted(set(canonical))
    if not distinct:
        return math.nan
    return float(1.0 - train.contains(distinct).mean())


def snn(fingerprints: np.ndarray, reference: np.ndarray) -> float:
    """Mean over generated molecules of the Tanimoto similarity to the nearest reference."""
    if len(fingerprints) == 0 or len(reference) == 0:
        return math.nan
    return float(max_tanimoto(fingerprints, reference).mean())


def internal_diversity(fingerprints: np.ndarray, p: int = 1) -> float:
    """IntDiv_p = 1 - mean_i (mean_j T(i, j)^p)^(1/p), self-pairs included (MOSES)."""
    if len(fingerprints) == 0:
        return math.nan
    means = mean_tanimoto_powers(fingerprints, (p,))[p]
    return float(1.0 - np.mean(means ** (1.0 / p)))


def cosine_similarity(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Cosine of two count vectors indexed by string keys (missing = 0); NaN if either is empty."""
    if not a or not b:
        return math.nan
    keys = sorted(set(a) | set(b))
    va = np.fromiter((a.get(k, 0) for k in keys), dtype=np.float64, count=len(keys))
    vb = np.fromiter((b.get(k, 0) for k in keys), dtype=np.float64, count=len(keys))
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


class MosesMetrics:
    """MOSES metrics against fixed references, loaded once and reused across calls.

    ``test`` / ``test_scaffolds``: "moses" (MOSES's own statistics, as published),
    your SMILES (statistics computed here), a :class:`ReferenceStats`, or None to
    skip. ``train``: "moses", SMILES, a :class:`TrainSet`, or None to skip Novelty.
    ``n_jobs`` processes run the RDKit work and set the torch threads of ChemNet
    and the similarity products (worker processes start with ``forkserver``, so a
    script calling this with ``n_jobs > 1`` needs the usual
    ``if __name__ == "__main__":`` guard). ``timings`` holds the seconds of each
    stage of the last call.
    """

    def __init__(
        self,
        *,
        test: Reference | None = "moses",
        test_scaffolds: Reference | None = "moses",
        train: Train | None = "moses",
        k: Sequence[int] = (1000, 10000),
        n_jobs: int = 1,
        batch_size: int = 512,
    ) -> None:
        self.n_jobs = max(1, int(n_jobs))
        self.batch_size = batch_size
        self.k = tuple(k)
        self.test = self._reference(test, "test")
        self.test_scaffolds = self._reference(test_scaffolds, "test_scaffolds")
        self.train = self._train(train)
        self.timings: dict[str, float] = {}

    def _reference(self, ref: Reference | None, split: str) -> ReferenceStats | None:
        if ref is None or isinstance(ref, ReferenceStats):
            return ref
        if isinstance(ref, str):
            if ref != "moses":
                raise ValueError(f"{split}: expected 'moses', SMILES, ReferenceStats or None")
            return load_reference(split)
        return build_reference(ref, name=split, n_jobs=self.n_jobs, batch_size=self.batch_size)

    def _train(self, train: Train | None) -> TrainSet | None:
        if train is None or isinstance(train, TrainSet):
            return train
        if isinstance(train, str):
            if train != "moses":
                raise ValueError("train: expected 'moses', SMILES, TrainSet or None")
            return load_moses_train()
        return TrainSet.from_smiles(train, n_jobs=self.n_jobs)

    def __call__(self, generated: Sequence[str]) -> dict[str, float]:
        """All metrics of ``generated`` (SMILES; invalid and empty strings allowed)."""
        self.timings = {}
        start = time.perf_counter()
        table = featurize(generated, n_jobs=self.n_jobs)
        self._lap("featurize", start)
        return self.from_features(table)

    def _lap(self, name: str, start: float) -> float:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - start
        return now

    def from_features(self, table: FeatureTable) -> dict[str, float]:
        """Metrics from an already featurized sample (see :func:`featurize`)."""
        out: dict[str, float] = {}
        n_valid = len(table.records)
        out["valid"] = n_valid / table.n_input if table.n_input else math.nan
        canonical = table.canonical
        for k in self.k:
            out[unique_key(k)] = fraction_unique(canonical, k)
        fps = table.fingerprints()
        frags = table.fragment_counts()
        scafs = table.scaffold_counts()

        t = time.perf_counter()
        gen_fcd = None
        if n_valid >= 2 and (self.test is not None or self.test_scaffolds is not None):
            from molspace.metrics.fcd import chemnet_stats

            gen_fcd = chemnet_stats(canonical, n_jobs=self.n_jobs, batch_size=self.batch_size)
        t = self._lap("chemnet", t)

        for ref, tag in ((self.test, "Test"), (self.test_scaffolds, "TestSF")):
            if ref is None:
                continue
            out[f"FCD/{tag}"] = self._fcd(gen_fcd, ref)
            t = self._lap("fcd", t)
            with torch_threads(self.n_jobs):
                out[f"SNN/{tag}"] = snn(fps, ref.fingerprints)
            t = self._lap("snn", t)
            out[f"Frag/{tag}"] = cosine_similarity(ref.fragments, frags)
            out[f"Scaf/{tag}"] = cosine_similarity(ref.scaffolds, scafs)
            t = self._lap("frag_scaf", t)

        with torch_threads(self.n_jobs):
            powers: dict[int, Any] = (
                mean_tanimoto_powers(fps, (1, 2)) if n_valid else {1: [], 2: []}
            )
        out["IntDiv"] = float(1 - np.mean(powers[1])) if n_valid else math.nan
        out["IntDiv2"] = float(1 - np.mean(np.sqrt(powers[2]))) if n_valid else math.nan
        t = self._lap("intdiv", t)
        out["Filters"] = float(table.filter_pass().mean()) if n_valid else math.nan
        if self.train is not None:
            out["Novelty"] = novelty(canonical, self.train)
        t = self._lap("novelty", t)

        for key in PROPERTY_KEYS:
            values = table.property(key)
            if self.test is not None:
                out[key] = (
                    float(wasserstein_distance(self.test.properties[key], values))
                    if n_valid
                    else math.nan
                )
            out[f"mean_{key}"] = float(values.mean()) if n_valid else math.nan
            if self.test is not None:
                out[f"test_mean_{key}"] = self.test.property_mean(key)
        self._lap("properties", t)
        out["n_generated"] = float(table.n_input)
        out["n_valid"] = float(n_valid)
        out["n_unique"] = float(len(set(canonical)))
        return out

    @staticmethod
    def _fcd(gen: tuple[np.ndarray, np.ndarray] | None, ref: ReferenceStats) -> float:
        from molspace.metrics.fcd import frechet_distance

        if gen is None:
            return math.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return frechet_distance(gen, (ref.fcd_mu, ref.fcd_sigma))


def compute_moses_metrics(
    generated: Sequence[str],
    *,
    test: Reference | None = "moses",
    test_scaffolds: Reference | None = "moses",
    train: Train | None = "moses",
    k: Sequence[int] = (1000, 10000),
    n_jobs: int = 1,
    batch_size: int = 512,
) -> dict[str, float]:
    """MOSES metrics of ``generated`` SMILES as a flat ``{name: value}`` dict.

    Keys: ``valid``, ``unique@1k``, ``unique@10k``, ``FCD/Test``, ``SNN/Test``,
    ``Frag/Test``, ``Scaf/Test`` (and ``.../TestSF`` against the scaffold split),
    ``IntDiv``, ``IntDiv2``, ``Filters``, ``Novelty``, the Wasserstein distances
    ``logP``, ``SA``, ``QED``, ``weight``, ``heavy_atoms``, their ``mean_*`` and
    ``test_mean_*``, and the counts ``n_generated``, ``n_valid``, ``n_unique``.
    A metric that cannot be measured (no valid molecule, fewer than k) is NaN.
    """
    metrics = MosesMetrics(
        test=test,
        test_scaffolds=test_scaffolds,
        train=train,
        k=k,
        n_jobs=n_jobs,
        batch_size=batch_size,
    )
    return metrics(generated)
