"""Every shipped optimize recipe at a small budget: it scores its whole budget (a run
that ends at its trial cap fails here), and its candidates table is non-empty and holds
only molecules that meet the recipe's own constraints.

The recipes are read the way users run them: ``molspace optimize`` reads
``workflows/configs/optimize_lead.toml``; the workflows' optimize steps are planned by
the workflow runner (paths anchored, the workflow's objective applied, the file a step
names loaded) and given to the same ``optimize`` as the step does. Only the budget, the
storage and the novelty set (skipped) are changed, and for ``design.toml`` the model (the
tiny one) and the seeds: it seeds from its screen's hits, replaced here by the tiny
model's sample molecules. The haloperidol recipes run on the shipped model they name:
the tiny model decodes nothing within Tanimoto 0.4 of haloperidol (at best 0.19 in 24
molecules), so no search with it could meet that recipe's constraint.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from molspace.optimization import OptimizeConfig, load_optimize_config, optimize
from molspace.optimization.scoring import Constraints
from molspace.optimization.study import seed_smiles

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"
HITS = TINY / "sample_molecules.csv"
BUDGET = 24
SMALL = {"budget": BUDGET, "novelty_reference": ""}


def _workflow_step(path: Path) -> tuple[OptimizeConfig, dict | None]:
    """The optimize step of a workflow recipe as the runner builds it."""
    from molspace.workflow.runner import plan_workflow
    from molspace.workflow.spec import load_workflow
    from molspace.workflow.steps.optimize_step import OptimizeStep, _anchor_paths, _settings

    planned = plan_workflow(load_workflow(path))
    (step,) = [s for s in planned if s.kind.name == "optimize"]
    raw = dict(step.raw)
    if str(raw.get("seed_hits", "")).startswith("@"):
        raw["seed_hits"] = str(HITS)
    settings, objective = _settings(OptimizeStep.model_validate(raw))
    settings = _anchor_paths(settings, path.parent)
    if settings.seed_hits == str(HITS):
        settings = settings.model_copy(update={"model": str(TINY)})
    return settings.model_copy(update=SMALL), objective


def _lead_config(path: Path) -> tuple[OptimizeConfig, dict | None]:
    return load_optimize_config(path, SMALL)


def _assert_parents_feasible(trials_csv: Path, scored: pd.DataFrame, config) -> None:
    """Once a feasible molecule is known, local moves start from feasible parents only
    (children enqueued in the batch after the one that found it, or later)."""
    trials = pd.read_csv(trials_csv, keep_default_na=False)
    feasible = scored[scored["feasible"]]
    if feasible.empty:
        return
    after = int(feasible["trial"].min()) + config.batch_size
    moves = trials[(trials["local_parent"] != "") & (trials["trial"] > after)]
    moves = moves[~moves["local_parent"].isin(seed_smiles(config))]  # restarts at the seeds
    assert moves["local_parent"].isin(set(feasible["smiles"])).all()


RECIPES = {
    "configs/optimize_lead.toml": _lead_config,
    "optimize_lead.toml": _workflow_step,
    "design.toml": _workflow_step,
}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_shipped_recipe_reaches_its_budget_with_feasible_candidates(
    recipe: str, tmp_path: Path
) -> None:
    path = ROOT / "workflows" / recipe
    config, objective = RECIPES[recipe](path)
    config = config.model_copy(update={"storage": str(tmp_path / "study.db")})
    summary = optimize(config, objective, out_dir=tmp_path)
    assert summary["stop_reason"] == "budget", summary.get("message")
    assert summary["n_oracle_calls"] == BUDGET
    candidates = pd.read_parquet(tmp_path / "candidates.parquet")
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert len(scored) == BUDGET and len(candidates) > 0
    assert summary["n_feasible"] == len(candidates) == int(scored["feasible"].sum())
    assert candidates["score"].is_monotonic_decreasing
    assert candidates["rank"].tolist() == list(range(1, len(candidates) + 1))
    constraints = Constraints(config.constraints)
    for smiles in candidates["smiles"]:
        mol = Chem.MolFromSmiles(smiles)
        assert constraints.degenerate(mol) is None, smiles
        if constraints.active:
            values = constraints.values(mol)
            assert all(v <= 0 for v in values.values()), (smiles, values)
    infeasible = scored[~scored["feasible"]]
    assert (infeasible["violated"].str.len() > 0).all()
    _assert_parents_feasible(tmp_path / "trials.csv", scored, config)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["n_candidates"] == len(candidates)
    assert written["n_trials"] <= written["max_trials"]
