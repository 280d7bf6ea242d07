"""The ``[optimize]`` table as validated models: what a search may be told to do.

``OptimizeConfig`` holds everything a run needs except the objective; ``SpaceSpec`` and
``RetrainSpec`` are its sub-tables. Every table forbids unknown keys, so a typo is an
error naming the key and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from molspace.config import StrictModel
from molspace.errors import ConfigError
from molspace.optimization.ledger import DEFAULT_STALE_AFTER
from molspace.optimization.scoring import ConstraintSpec, ScorerSpec

__all__ = ["SAMPLERS", "OptimizeConfig", "RetrainSpec", "SpaceSpec", "load_optimize_config"]

SAMPLERS = ("tpe", "cmaes", "gp", "nsga2", "random")


class SpaceSpec(StrictModel):
    """The latent region searched: ``box`` (prior), ``ball`` (around seeds), ``pca`` (library)."""

    kind: Literal["box", "ball", "pca"] = "pca"
    bound: float = Field(3.0, gt=0, description="box half-width / PCA bound, in std units")
    radius: float = Field(1.5, gt=0, description="ball radius in prior std units")
    n_components: int = Field(8, ge=1, le=512)
    library: str | None = Field(
        None, description="SMILES/CSV file for PCA (default: MOSES train, wherever installed)"
    )
    library_size: int = Field(2000, ge=10)


class RetrainSpec(StrictModel):
    """``[optimize.retrain]``: weighted retraining of the VAE during the search
    (``molspace.optimization.retrain``); off unless ``every`` > 0."""

    every: int = Field(0, ge=0, description="fine-tune after every this many oracle calls")
    # defaults: the setting measured on the 20 PMO tasks (benchmarks/README.md)
    steps: int = Field(25, ge=1, description="Adam steps per round")
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    k: float = Field(1e-3, gt=0, description="rank weight 1 / (k N + rank): smaller = greedier")
    beta: float | None = Field(None, ge=0, description="KL weight (None: the bundle's own)")
    free_bits: float | None = Field(None, ge=0, description="None: the bundle's own")
    reencode: int = Field(200, ge=1, description="best molecules re-encoded after a round")


class OptimizeConfig(StrictModel):
    """Everything an optimization run needs except the objective table (``[objective]``)."""

    model: str | None = Field(None, description="model bundle directory (None = shipped)")
    pmo: str | None = Field(None, description="score with a PMO/GuacaMol task by name")
    plugin: str | None = Field(None, description="module:function scoring a list of SMILES")
    multi_objective: bool = False
    sampler: Literal["tpe", "cmaes", "gp", "nsga2", "random"] = "tpe"
    budget: int = Field(1000, ge=1, description="unique molecules scored (oracle calls)")
    max_trials: int | None = Field(
        None, ge=1, description="cap on trials (default 10 x budget + 10 batches)"
    )
    batch_size: int = Field(32, ge=1, le=4096)
    seed: int = 0
    study_name: str = "molspace"
    storage: str | None = None
    seeds: list[str] = Field(default_factory=list, description="SMILES enqueued as first trials")
    seed_hits: str | None = Field(None, description="Parquet/CSV of screen hits to seed from")
    top_hits: int = Field(20, ge=0)
    seed_anchor_draws: int = Field(
        96,
        ge=0,
        le=4096,
        description="posterior draws decoded per seed; the seed's search starts at the one "
        "decoding closest to it (its encoding's mean when none is closer; 0 = the mean)",
    )
    local_fraction: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="share of a batch spent perturbing the current top molecules",
    )
    local_sigma: float = Field(
        0.3,
        gt=0,
        description="local step in full latent space, in units of the encoded molecules' "
        "spread per dimension (each child draws from sigma/2 .. 2 sigma)",
    )
    local_top: int = Field(10, ge=1)
    local_crossover: float = Field(
        0.0, ge=0.0, le=1.0, description="share of local moves that blend two top molecules"
    )
    repeat_threshold: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="change course (larger steps, restarts) when more than this share of "
        "the last two batches decoded known molecules; 1 = never",
    )
    stall_calls: int = Field(
        0,
        ge=0,
        description="diversify (wider parents, larger steps, then restarts) after this many "
        "scored molecules without a gain in the mean of the top 10; 0 = never",
    )
    local_screen: int = Field(
        1,
        ge=1,
        le=64,
        description="candidates drawn per local move; the one a GP surrogate on the scored "
        "latent vectors ranks best is kept (1: no surrogate)",
    )
    local_adapt: bool = Field(
        False,
        description="scale local_sigma by a trust region that grows after batches of "
        "children entering the top local_top and shrinks after batches that do not",
    )
    temperature: float = Field(0.0, ge=0.0)
    penalty: float = Field(0.0, description="value told for invalid/degenerate/infeasible")
    space: SpaceSpec = Field(default_factory=SpaceSpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    constraints: ConstraintSpec = Field(default_factory=ConstraintSpec, validate_default=True)
    novelty_reference: str | None = Field(
        None,
        description="training set for novelty (None = MOSES train, skipped if not installed; "
        "'' = skip)",
    )
    stale_after: float = Field(
        DEFAULT_STALE_AFTER,
        gt=0,
        description="seconds without a heartbeat after which a worker on another machine "
        "counts as dead: its unscored claims and RUNNING trials are freed",
    )

    @field_validator("constraints")
    @classmethod
    def _prefilter_default(cls, spec: ConstraintSpec, info: ValidationInfo) -> ConstraintSpec:
        """An unset prefilter is on for a design run and off for a PMO task, whose
        published rows filter nothing (the summary's config then says which)."""
        if spec.prefilter is not None:
            return spec
        return spec.model_copy(update={"prefilter": info.data.get("pmo") is None})

    @model_validator(mode="after")
    def _retrain_needs_one_objective(self) -> OptimizeConfig:
        if self.retrain.every and self.multi_objective:
            raise ValueError("retrain.every needs a single objective to rank molecules by")
        return self

    def scorer_spec(self, objective: dict[str, Any] | None) -> ScorerSpec:
        try:
            return ScorerSpec(
                pmo=self.pmo,
                plugin=self.plugin,
                objective=objective,
                multi_objective=self.multi_objective,
            )
        except ValueError:
            raise ConfigError(
                "give exactly one scorer: [objective], optimize.pmo or optimize.plugin"
            ) from None


def load_optimize_config(
    path: str | Path | None, overrides: dict[str, Any] | None = None
) -> tuple[OptimizeConfig, dict[str, Any] | None]:
    """``[optimize]`` (validated, with ``overrides`` applied) and the raw ``[objective]``."""
    from molspace.config import parse_config, read_toml

    data = read_toml(path) if path is not None else {}
    unknown = sorted(set(data) - {"optimize", "objective", "workflow", "cluster"})
    if unknown:
        raise ConfigError(f"{path}: unknown table [{unknown[0]}]")
    section = dict(data.get("optimize", {}))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **value}  # a sub-table: override only its keys
        elif value is not None:
            section[key] = value
    source = f"{path} [optimize]" if path is not None else "[optimize]"
    try:
        return parse_config(OptimizeConfig, section, source), data.get("objective")
    except ConfigError:
        if path is None or not overrides:
            raise
        try:  # the file alone is valid: the bad value came from an option, not the file
            parse_config(OptimizeConfig, dict(data.get("optimize", {})), source)
        except ConfigError:
            pass
        else:
            return parse_config(OptimizeConfig, section, "[optimize]"), data.get("objective")
        raise
