"""``[steps.train]`` (train the VAE on a library) and ``[steps.encode]`` (library -> z).

``train`` resumes from its checkpoint when re-run after an interruption; its
``model`` output (the best bundle) can feed any later step's ``model`` field.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from molspace.config import StrictModel
from molspace.workflow.kinds import StepContext, StepKind, StepResult

__all__ = ["ENCODE", "TRAIN"]


class TrainStep(StrictModel):
    """A training run: a recipe file (``[train]`` table) and the library to learn from."""

    library: str = Field(description="training library (any format the readers accept)")
    config: str | None = Field(None, description="a training recipe TOML ([train] table)")
    smiles_column: str | None = None
    max_molecules: int | None = Field(None, ge=100, description="train on the first N only")
    epochs: int | None = Field(None, ge=1)
    max_steps: int | None = Field(None, ge=1)
    max_hours: float | None = Field(None, gt=0.0)
    seed: int | None = None


def _train(config: TrainStep, ctx: StepContext) -> StepResult:
    from molspace.model.checkpoint import checkpoint_exists
    from molspace.model.config import load_train_config
    from molspace.model.train import train

    overrides: dict[str, Any] = {
        "data.path": config.library,
        "data.smiles_column": config.smiles_column,
        "data.max_molecules": config.max_molecules,
        "data.cache_dir": str(ctx.step_dir / "cache"),
        "epochs": config.epochs,
        "max_steps": config.max_steps,
        "max_hours": config.max_hours,
        "seed": config.seed if config.seed is not None else ctx.seed,
    }
    settings = load_train_config(config.config, overrides)
    run_dir = ctx.step_dir / "run"
    result = train(
        settings, run_dir, resume=checkpoint_exists(run_dir), progress=False, log=lambda _: None
    )
    return StepResult(
        outputs={"model": result.best_bundle, "metrics": run_dir / "metrics.json"},
        counts={
            "steps": result.steps,
            "epochs": round(result.epochs_completed, 3),
            "best_val_loss": result.best_val_loss,
        },
    )


TRAIN = StepKind(
    "train",
    TrainStep,
    ("model", "metrics"),
    _train,
    input_fields=("library", "config"),
    description="train the SELFIES VAE on a library (resumes from its checkpoint)",
)


class EncodeStep(StrictModel):
    """Encode a library into latent vectors (Parquet partitions, rejects with reasons)."""

    library: str
    model: str | None = None
    chunk_size: int = Field(10_000, ge=1)
    smiles_column: str | None = None
    id_column: str | None = None
    parallel: bool = Field(True, description="encode partitions on the workflow's Dask workers")


def _encode(config: EncodeStep, ctx: StepContext) -> StepResult:
    from molspace.analysis.encode_library import encode_library

    manifest = encode_library(
        config.library,
        ctx.step_dir,
        model=config.model,
        client=ctx.get_client() if config.parallel else None,
        chunk_size=config.chunk_size,
        smiles_column=config.smiles_column,
        id_column=config.id_column,
    )
    counts: dict[str, Any] = {
        k: manifest[k] for k in ("n_read", "n_encoded", "n_rejected") if k in manifest
    }
    return StepResult(
        outputs={"latent": ctx.step_dir / "latent", "rejects": ctx.step_dir / "rejects.csv"},
        counts=counts,
    )


ENCODE = StepKind(
    "encode",
    EncodeStep,
    ("latent", "rejects"),
    _encode,
    input_fields=("library", "model"),
    description="encode a library into latent vectors on Dask partitions",
)
