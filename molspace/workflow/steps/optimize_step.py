"""``[steps.optimize]``: an Optuna latent search (molspace.optimization), then the shortlist.

The shortlist (``candidates``) is what a chemist looks at: distinct, feasible,
non-degenerate molecules, known ones dropped (the model's training set and the
molecules the seeding screen already had), best first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field

from molspace.interrupt import Interrupted
from molspace.optimization import OptimizeConfig
from molspace.workflow.kinds import StepContext, StepKind, StepResult


class OptimizeStep(OptimizeConfig):
    """The ``[optimize]`` settings plus what the workflow adds around them."""

    config: str | None = Field(
        None,
        description="an optimize TOML ([optimize] + [objective], as molspace optimize "
        "takes); keys set in the step override it",
    )
    objective: dict[str, Any] | None = Field(
        None, description="the [objective] table (default: the workflow's own [objective])"
    )
    parallel: bool = Field(False, description="run trials on the workflow's Dask workers")
    drop_known: bool = Field(True, description="drop training-set and screened molecules")
    shortlist: int = Field(100, ge=1, description="rows in the candidates shortlist")


def _screened_smiles(seed_hits: str | None) -> set[str]:
    """Canonical SMILES of the seeding screen's molecules (its whole results when known)."""
    if seed_hits is None:
        return set()
    hits = Path(seed_hits)
    results = hits.parent / "results"
    if results.is_dir():
        frames = [pd.read_parquet(p, columns=["smiles"]) for p in sorted(results.glob("*.parquet"))]
        return set(pd.concat(frames)["smiles"].astype(str)) if frames else set()
    table = pd.read_parquet(hits) if hits.suffix == ".parquet" else pd.read_csv(hits)
    return set(table["smiles"].astype(str)) if "smiles" in table else set()


def shortlist(candidates: pd.DataFrame, known: set[str], drop_known: bool, n: int) -> pd.DataFrame:
    """Feasible candidates, known molecules dropped when asked, best first (pure)."""
    table = candidates
    if "feasible" in table:
        table = table[table["feasible"].astype(bool)]
    if drop_known:
        if "novel" in table:
            table = table[table["novel"].astype(bool)]
        table = table[~table["smiles"].isin(known)]
    return table.head(n).reset_index(drop=True)


_STEP_ONLY = {"config", "objective", "parallel", "drop_known", "shortlist"}


def _settings(config: OptimizeStep) -> tuple[OptimizeConfig, dict[str, Any] | None]:
    """The optimize settings and objective: the config file's, then the step's own keys."""
    own = config.model_dump(exclude=_STEP_ONLY)
    if config.config is None:
        return OptimizeConfig.model_validate(own), config.objective
    from molspace.optimization import load_optimize_config

    base, objective = load_optimize_config(config.config)
    update = {k: own[k] for k in config.model_fields_set if k not in _STEP_ONLY}
    settings = OptimizeConfig.model_validate({**base.model_dump(), **update})
    return settings, config.objective if config.objective is not None else objective


def _anchor_paths(settings: OptimizeConfig, base: Path) -> OptimizeConfig:
    """Nested paths (novelty reference, PCA library) are relative to the workflow file too.

    Their defaults are ``None`` (the MOSES files wherever ``moses_dir()`` finds them) and
    are left alone; a given path that exists from the current directory is kept as it is.
    """

    def anchor(value: str | None) -> str | None:
        if not value or Path(value).is_absolute() or Path(value).exists():
            return value
        return str((base / value).resolve())

    space = settings.space.model_copy(update={"library": anchor(settings.space.library)})
    return settings.model_copy(
        update={"novelty_reference": anchor(settings.novelty_reference), "space": space}
    )


def run(config: OptimizeStep, ctx: StepContext) -> StepResult:
    from molspace.optimization import optimize

    settings, objective = _settings(config)
    settings = _anchor_paths(settings, ctx.workflow_dir)
    if "seed" not in config.model_fields_set and config.config is None:
        settings = settings.model_copy(update={"seed": ctx.seed})
    if settings.storage is None and ctx.storage is not None:
        settings = settings.model_copy(update={"storage": ctx.storage})
    out = ctx.step_dir / "study"
    client = ctx.get_client() if config.parallel else None
    workers = 1
    if client is not None:  # one optimization loop per Dask worker, all on the shared study
        client.wait_for_workers(1)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
    summary = optimize(
        settings, objective, out_dir=out, client=client, workers=workers, progress=True
    )
    if summary.get("stopped"):
        raise Interrupted(f"optimize stopped after {summary.get('n_oracle_calls')} oracle calls")
    if summary.get("message"):  # the trial cap ended it: say so, keep what was found
        import sys

        print(f"[{ctx.name}] {summary['message']}", file=sys.stderr)
    candidates = pd.read_parquet(out / "candidates.parquet")  # the feasible ones
    scored = out / "scored.parquet"
    short = shortlist(
        candidates, _screened_smiles(config.seed_hits), config.drop_known, config.shortlist
    )
    from molspace.io import write_table

    short_path = write_table(short, ctx.step_dir / "candidates.parquet")
    write_table(short, ctx.step_dir / "candidates.csv")
    # single-objective runs rank by `score`; a Pareto run ranks by its first objective
    value = (
        "score"
        if "score" in short
        else next((c for c in short.columns if c.endswith("_desirability")), None)
    )
    counts = {
        "oracle_calls": summary.get("n_oracle_calls"),
        "trials": summary.get("n_trials"),
        "scored": len(pd.read_parquet(scored, columns=["smiles"])),
        "feasible": len(candidates),
        "shortlisted": len(short),
        "stop_reason": summary.get("stop_reason"),
        "best": float(short[value].iloc[0]) if value and len(short) else None,
    }
    (ctx.step_dir / "shortlist.json").write_text(json.dumps(counts, indent=2) + "\n")
    return StepResult(
        outputs={
            "candidates": short_path,
            "all_candidates": scored,
            "summary": out / "summary.json",
        },
        counts=counts,
    )


KIND = StepKind(
    name="optimize",
    config_model=OptimizeStep,
    outputs=("candidates", "all_candidates", "summary"),
    run=run,
    input_fields=("model", "seed_hits", "config"),
    description="Optuna search of the latent space for molecules that maximize the objective",
)
