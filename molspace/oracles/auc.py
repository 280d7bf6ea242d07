"""The PMO sample-efficiency metric: area under the top-k-average curve (AUC top-10).

Reimplemented from mol_opt (Gao et al. 2022), ``main/optimizer.py``: ``top_auc`` and
``Oracle.score_smi``/``log_intermediate``. The optimizer's oracle keeps a buffer of
*unique* canonical SMILES with their score and the order in which they were first scored;
invalid SMILES are not entered and do not count. The curve is the mean of the k best
scores among the first ``n`` molecules, sampled every ``freq_log`` molecules; the area is
integrated with the trapezoid rule starting from 0 at n = 0, and when the run finishes
before the budget (``finish=True``) the last top-k value is carried flat to the budget.
The sum is divided by the budget, so a run that found a perfect molecule at once scores
close to 1.

Two details of mol_opt that matter and that we reproduce:
- the loop samples ``n = freq_log, 2 freq_log, ...`` strictly below ``min(len, budget)``;
  the last segment is closed with the top-k over *all* buffered molecules;
- with fewer than k molecules the "top-k" is the mean of those present.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["top_k_auc", "top_k_curve", "top_k_mean"]


def top_k_mean(scores: Sequence[float] | np.ndarray, k: int = 10) -> float:
    """Mean of the ``k`` largest scores (of all of them when there are fewer than ``k``)."""
    arr = np.asarray(scores, dtype=float)
    if arr.size == 0:
        return 0.0
    if arr.size <= k:
        return float(arr.mean())
    return float(np.partition(arr, arr.size - k)[arr.size - k :].mean())


def top_k_curve(
    scores: Sequence[float] | np.ndarray, k: int = 10, freq_log: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """(n_calls, top-k mean among the first n_calls) every ``freq_log`` calls plus the last."""
    arr = np.asarray(scores, dtype=float)
    points = list(range(freq_log, arr.size + 1, freq_log))
    if not points or points[-1] != arr.size:
        points.append(arr.size)
    values = [top_k_mean(arr[:n], k) for n in points] if arr.size else [0.0]
    return np.asarray(points, dtype=int), np.asarray(values, dtype=float)


def top_k_auc(
    scores: Sequence[float] | np.ndarray,
    k: int = 10,
    freq_log: int = 100,
    budget: int = 10_000,
    finish: bool = True,
) -> float:
    """mol_opt's ``top_auc``: ``scores`` are the unique molecules' scores in call order.

    ``finish=True`` is how PMO reports a finished run (a run that stopped early keeps its
    last top-k value until ``budget``). Returns a value in [0, 1] for scores in [0, 1].
    """
    if budget <= 0 or freq_log <= 0 or k <= 0:
        raise ValueError("budget, freq_log and k must be positive")
    arr = np.asarray(scores, dtype=float)
    if arr.size == 0:
        return 0.0
    total = 0.0
    prev = 0.0
    called = 0
    for idx in range(freq_log, min(arr.size, budget), freq_log):
        now = top_k_mean(arr[:idx], k)
        total += freq_log * (now + prev) / 2
        prev = now
        called = idx
    now = top_k_mean(arr, k)
    total += (arr.size - called) * (now + prev) / 2
    if finish and arr.size < budget:
        total += (budget - arr.size) * now
    return total / budget
