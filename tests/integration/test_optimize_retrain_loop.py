"""Weighted retraining inside the optimizer: rounds at the declared call counts, on a
private copy of the model, local moves restarted from re-encoded vectors, and a resumed
run fine-tuning first (tiny trained VAE, real Optuna SQLite storage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from molspace.errors import ConfigError
from molspace.optimization import OptimizeConfig, load_optimize_config, run_optimization

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"


def _config(tmp_path: Path, budget: int) -> OptimizeConfig:
    return OptimizeConfig.model_validate(
        {
            "model": str(TINY),
            "pmo": "qed",
            "sampler": "random",
            "budget": budget,
            "batch_size": 8,
            "seed": 5,
            "local_fraction": 1.0,
            "storage": str(tmp_path / "study.db"),
            "space": {
                "kind": "pca",
                "n_components": 2,
                "library": str(TINY / "sample_molecules.csv"),
            },
            "retrain": {"every": 16, "steps": 3, "batch_size": 16, "reencode": 5},
            "novelty_reference": "",
        }
    )


def test_retraining_rounds_and_resume(tmp_path: Path) -> None:
    from molspace.latent import LatentSpace

    latent = LatentSpace.load(TINY)
    weights = {k: v.clone() for k, v in latent.model.state_dict().items()}
    result = run_optimization(_config(tmp_path, 40), out_dir=tmp_path, latent=latent)
    assert result.n_calls == 40
    rounds = result.retrain_rounds
    # one round each time 16 more molecules are known (batches of 8: at 16 and 32 calls)
    assert [r["at_calls"] // 16 for r in rounds] == [1, 2]
    assert all(r["steps"] == 3 and r["molecules"] == r["at_calls"] for r in rounds)
    assert result.overhead_seconds["retrain"] > 0
    for name, tensor in latent.model.state_dict().items():  # the caller's model: untouched
        assert torch.equal(tensor, weights[name]), name

    trials = sorted(result.study.trials, key=lambda t: t.number)
    model_rounds = [t.user_attrs["mol"]["model_round"] for t in trials]
    assert model_rounds == sorted(model_rounds) and model_rounds[-1] == 2
    # the first batch after each round makes children of the re-encoded 5 best only
    for r in (1, 2):
        first = next(i for i, t in enumerate(trials) if t.user_attrs["mol"]["model_round"] == r)
        scores: dict[str, float] = {}
        for t in trials[:first]:
            if t.user_attrs["mol"].get("status") == "scored":
                scores[t.user_attrs["mol"]["smiles"]] = t.values[0]
        top5 = set(sorted(scores, key=scores.get, reverse=True)[:5])
        batch = trials[first : first + 8]
        parents = {t.user_attrs.get("local_parent") for t in batch} - {None}
        assert parents == top5  # 8 children of 5 parents; without re-encoding, of 8

    resumed = run_optimization(_config(tmp_path, 56), out_dir=tmp_path, latent=latent)
    assert resumed.n_calls == 56
    first = resumed.retrain_rounds[0]
    assert first["at_calls"] == 40 and first["molecules"] == 40  # fine-tunes at once
    assert np.all([r["at_calls"] >= 40 for r in resumed.retrain_rounds])


def test_retraining_needs_a_single_objective(tmp_path: Path) -> None:
    path = tmp_path / "opt.toml"
    path.write_text(
        '[optimize]\npmo = "qed"\nmulti_objective = true\n[optimize.retrain]\nevery = 5\n'
    )
    with pytest.raises(ConfigError, match="single objective"):
        load_optimize_config(path)


def test_two_dask_workers_retrain_on_every_workers_molecules(tmp_path: Path) -> None:
    """With ``--workers 2`` each worker fine-tunes on what both told the shared study;
    on its own molecules alone a round would see about half of them."""
    from molspace.optimization import optimize

    # Random proposals in half of each batch and a generous trial cap: the tiny model's
    # local moves repeat molecules often, and two racing workers must still reach the budget.
    config = _config(tmp_path, 64).model_copy(
        update={
            "storage": str(tmp_path / "shared.journal"),
            "batch_size": 4,
            "local_fraction": 0.5,
            "max_trials": 5000,
        }
    )
    summary = optimize(config, out_dir=tmp_path / "o", workers=2)
    assert summary["n_oracle_calls"] == 64 and not summary["stopped"]
    rounds = summary["retrain_rounds"]
    assert {r["worker"] for r in rounds} == {0, 1}
    for r in rounds:
        # in flight: at most one batch of each worker is scored but not yet told
        assert r["molecules"] >= r["at_calls"] - 2 * 4, r
        assert r["at_calls"] >= 16
