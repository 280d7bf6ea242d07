"""``[steps.screen]``: screen one or more libraries (molspace.screening)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from molspace.config import StrictModel
from molspace.scoring import ObjectiveSpec
from molspace.screening.spec import (
    FilterSpec,
    ScreenOptions,
    ScreenSpec,
    SimilaritySpec,
    StandardizeSpec,
    load_screen_spec,
)
from molspace.workflow.kinds import StepContext, StepKind, StepResult


class ScreenStep(StrictModel):
    """A screen: the libraries, then either ``config`` (a screen TOML) or the tables inline."""

    library: list[str] = Field(min_length=1, description="library files or @step.output")
    config: str | None = Field(None, description="a screen TOML (as molspace screen --config)")
    limit: int | None = Field(None, ge=1, description="screen only the first N rows of each")
    seed: int | None = None
    screen: ScreenOptions = Field(default_factory=ScreenOptions)
    standardize: StandardizeSpec = Field(default_factory=StandardizeSpec)
    filters: FilterSpec = Field(default_factory=FilterSpec)
    objective: ObjectiveSpec | None = None
    similarity: SimilaritySpec | None = None

    def spec(self, base: Path) -> ScreenSpec:
        """The screen spec: from ``config`` if given, else from the inline tables."""
        if self.config is not None:
            return load_screen_spec(self.config)
        inline = self.model_dump(
            include={"screen", "standardize", "filters", "objective", "similarity"},
            exclude_none=True,
        )
        return ScreenSpec.model_validate(inline).resolve(base)


def run(config: ScreenStep, ctx: StepContext) -> StepResult:
    from molspace.screening import screen
    from molspace.workflow.steps.common import head_of_library

    base = Path(ctx.workflow_dir)
    spec = config.spec(base)
    libraries = [str(p) for p in config.library]
    if config.limit is not None:
        read = {"smiles_column": spec.screen.smiles_column, "id_column": spec.screen.id_column}
        libraries = [
            str(head_of_library(lib, config.limit, ctx.step_dir, **read)) for lib in libraries
        ]
        spec = spec.model_copy(
            update={
                "screen": spec.screen.model_copy(
                    update={"smiles_column": None, "id_column": None, "format": None}
                )
            }
        )
    client = ctx.get_client()
    docking = spec.screen.docking is not None
    result = screen(
        libraries,
        spec,
        ctx.step_dir / "out",
        client=client,
        workers=None if client else 0,
        log=_log if docking else None,  # docking takes minutes: show its progress
    )
    summary = result.summary
    outputs = {
        "results": result.results_dir,
        "top": result.top_k_path,
        "rejects": result.rejects_path,
        "summary": ctx.step_dir / "out" / "summary.json",
    }
    counts = {k: summary[k] for k in ("rows_in", "accepted", "rejected", "passed") if k in summary}
    if docking:
        outputs["poses"] = result.poses_path
        outputs["docking_rejects"] = ctx.step_dir / "out" / "docking_rejects.csv"
        counts.update(
            {f"docking_{k}": summary["docking"][k] for k in ("selected", "docked", "rejected")}
        )
    return StepResult(outputs=outputs, counts=counts)


def _log(line: str) -> None:
    import sys

    print(f"  {line}", file=sys.stderr, flush=True)


KIND = StepKind(
    name="screen",
    config_model=ScreenStep,
    outputs=("results", "top", "rejects", "summary"),
    run=run,
    input_fields=("library", "config"),
    description="stream libraries through standardization, filters, descriptors and scoring",
)
