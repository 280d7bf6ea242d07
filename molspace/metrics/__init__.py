"""Distribution-learning metrics: the MOSES set with FCD.

``compute_moses_metrics(generated)`` scores a list of generated SMILES against
MOSES's own test statistics and training set (``libraries/moses``), so the row
it returns sits beside the published MOSES table; ``MosesMetrics`` keeps the
references loaded for repeated calls. Reconstruction accuracy, which needs a
model, is :func:`molspace.latent.evaluation.reconstruction_accuracy`.

Stage 5: may import ``chem``, ``io``, ``similarity`` and the base modules; never
``screening``, ``model`` or anything above them.
"""

from __future__ import annotations

from molspace.metrics.moses import (
    MOSES_COLUMNS,
    MosesMetrics,
    compute_moses_metrics,
    cosine_similarity,
    fraction_unique,
    fraction_valid,
    internal_diversity,
    novelty,
    snn,
    unique_key,
)
from molspace.metrics.novelty import TrainSet, load_moses_train
from molspace.metrics.reference import (
    ReferenceStats,
    build_reference,
    load_moses_smiles,
    load_reference,
    moses_dir,
)

__all__ = [
    "MOSES_COLUMNS",
    "MosesMetrics",
    "ReferenceStats",
    "TrainSet",
    "build_reference",
    "compute_moses_metrics",
    "cosine_similarity",
    "fraction_unique",
    "fraction_valid",
    "internal_diversity",
    "load_moses_smiles",
    "load_moses_train",
    "load_reference",
    "moses_dir",
    "novelty",
    "snn",
    "unique_key",
]
