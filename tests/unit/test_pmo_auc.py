"""PMO AUC top-k against hand computation and against mol_opt's buffer algorithm."""

from __future__ import annotations

import numpy as np
import pytest

from molspace.oracles import top_k_auc, top_k_curve, top_k_mean


def _mol_opt_reference(scores: list[float], top_n: int, finish: bool, freq_log: int, budget: int):
    """mol_opt ``top_auc`` written over its buffer {smiles: [score, call_index]}."""
    buffer = {f"m{i}": [s, i + 1] for i, s in enumerate(scores)}
    total, prev, called = 0.0, 0.0, 0
    ordered = sorted(buffer.items(), key=lambda kv: kv[1][1])
    for idx in range(freq_log, min(len(buffer), budget), freq_log):
        top = sorted(ordered[:idx], key=lambda kv: kv[1][0], reverse=True)[:top_n]
        now = float(np.mean([v[1][0] for v in top]))
        total += freq_log * (now + prev) / 2
        prev, called = now, idx
    top = sorted(ordered, key=lambda kv: kv[1][0], reverse=True)[:top_n]
    now = float(np.mean([v[1][0] for v in top]))
    total += (len(buffer) - called) * (now + prev) / 2
    if finish and len(buffer) < budget:
        total += (budget - len(buffer)) * now
    return total / budget


def test_constant_run_stopped_early_is_carried_to_budget() -> None:
    # 0..100: ramp from 0 to 1 (area 50), then 900 calls at 1 -> 950 / 1000
    assert top_k_auc([1.0] * 100, k=10, freq_log=100, budget=1000) == pytest.approx(0.95)


def test_full_budget_same_as_carried() -> None:
    assert top_k_auc([1.0] * 1000, k=10, freq_log=100, budget=1000) == pytest.approx(0.95)


def test_staircase_by_hand() -> None:
    scores = [0.0] * 100 + [0.5] * 100 + [1.0] * 50
    # idx 100: top1 0 -> +0; idx 200: top1 0.5 -> +25; tail 50 x (1 + 0.5)/2 = 37.5
    assert top_k_auc(scores, k=1, freq_log=100, budget=500, finish=False) == pytest.approx(0.125)
    # finish adds 250 x 1.0
    assert top_k_auc(scores, k=1, freq_log=100, budget=500, finish=True) == pytest.approx(0.625)


def test_top10_uses_mean_of_ten_best() -> None:
    scores = [0.1] * 95 + [1.0] * 5
    # after 100 calls the top-10 is five 1.0 and five 0.1 -> 0.55
    assert top_k_mean(scores, 10) == pytest.approx(0.55)
    assert top_k_auc(scores, k=10, freq_log=100, budget=100) == pytest.approx(0.55 / 2)


def test_fewer_than_k_molecules() -> None:
    assert top_k_mean([0.2, 0.4], 10) == pytest.approx(0.3)
    assert top_k_auc([], budget=100) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("finish", [True, False])
def test_matches_mol_opt_algorithm_on_random_runs(seed: int, finish: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 1200))
    scores = list(np.maximum.accumulate(rng.random(n)) * rng.random(n))
    ours = top_k_auc(scores, k=10, freq_log=100, budget=1000, finish=finish)
    assert ours == pytest.approx(_mol_opt_reference(scores, 10, finish, 100, 1000))


def test_curve_points() -> None:
    n, values = top_k_curve([0.0] * 150 + [1.0] * 60, k=10, freq_log=100)
    assert list(n) == [100, 200, 210]
    assert list(values) == pytest.approx([0.0, 1.0, 1.0])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        top_k_auc([1.0], budget=0)
