"""Benchmark oracles: the 20 pure-RDKit PMO/GuacaMol tasks and the PMO AUC top-k metric.

The defaults are the chemically correct definitions (``pmo``); the PyTDC <= 0.3.6
definitions of the four tasks that changed after PMO are available by their TDC names
(``isomers_c7h8n2o2_prev``, ... ``pmo_prev``). ``call_log`` keeps a run's calls.

>>> from molspace.oracles import get_oracle, top_k_auc
>>> get_oracle("celecoxib_rediscovery")("CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F")
1.0

Stage 5 (benchmark oracles and the PMO AUC metric): may import ``chem`` and the base
modules only.
"""

from __future__ import annotations

from molspace.oracles.auc import top_k_auc, top_k_curve, top_k_mean
from molspace.oracles.fingerprints import FP_KINDS, guacamol_fingerprint
from molspace.oracles.modifiers import (
    ClippedScoreModifier,
    GaussianModifier,
    MaxGaussianModifier,
    MinGaussianModifier,
    ScoreModifier,
    ThresholdedLinearModifier,
)
from molspace.oracles.pmo import PMO_TASKS, TARGETS, get_oracle, pmo_task_names
from molspace.oracles.scoring import Component, Oracle, geometric_mean, parse_molecular_formula

__all__ = [
    "FP_KINDS",
    "PMO_TASKS",
    "TARGETS",
    "ClippedScoreModifier",
    "Component",
    "GaussianModifier",
    "MaxGaussianModifier",
    "MinGaussianModifier",
    "Oracle",
    "ScoreModifier",
    "ThresholdedLinearModifier",
    "geometric_mean",
    "get_oracle",
    "guacamol_fingerprint",
    "parse_molecular_formula",
    "pmo_task_names",
    "top_k_auc",
    "top_k_curve",
    "top_k_mean",
]
