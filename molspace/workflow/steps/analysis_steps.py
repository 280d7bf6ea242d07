"""``[steps.explore]``, ``interpolate``, ``map``, ``anomaly`` and ``report``.

Each is the same call the CLI verb makes (molspace.analysis.runs), pointed at
the step's folder; the workflow's seed is used where the step sets none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from molspace.analysis.runs import (
    AnomalyConfig,
    ExploreConfig,
    InterpolateConfig,
    MapConfig,
    run_anomaly,
    run_explore,
    run_interpolate,
    run_map,
)
from molspace.config import StrictModel
from molspace.workflow.kinds import StepContext, StepKind, StepResult

__all__ = ["ANOMALY", "EXPLORE", "INTERPOLATE", "MAP", "REPORT"]


def _seeded(config: Any, ctx: StepContext) -> Any:
    """The step's own seed wins; otherwise the one derived from the workflow seed."""
    if "seed" in type(config).model_fields and "seed" not in config.model_fields_set:
        return config.model_copy(update={"seed": ctx.seed})
    return config


def _adapter(run: Callable[..., dict[str, Path]]) -> Callable[[Any, StepContext], StepResult]:
    def run_step(config: Any, ctx: StepContext) -> StepResult:
        outputs = run(_seeded(config, ctx), ctx.step_dir)
        return StepResult(outputs=dict(outputs))

    return run_step


EXPLORE = StepKind(
    "explore",
    ExploreConfig,
    ("analogs", "summary"),
    _adapter(run_explore),
    input_fields=("model", "reference"),
    description="analogs of a molecule in a calibrated similarity band or along a property",
)
INTERPOLATE = StepKind(
    "interpolate",
    InterpolateConfig,
    ("path", "summary"),
    _adapter(run_interpolate),
    input_fields=("model",),
    description="distinct molecules on the latent path between two molecules",
)
MAP = StepKind(
    "map",
    MapConfig,
    ("map", "clusters", "summary"),
    _adapter(run_map),
    input_fields=("library", "model"),
    description="2D projection and clusters of an encoded library",
)
ANOMALY = StepKind(
    "anomaly",
    AnomalyConfig,
    ("scores", "model", "summary"),
    _adapter(run_anomaly),
    input_fields=("library", "reference", "anomaly_model", "model"),
    description="outlier scores against a reference library",
)


class ReportStep(StrictModel):
    """``[steps.report]``: one self-contained HTML file of everything the run produced."""

    title: str | None = None
    max_molecules: int = Field(48, ge=1, le=1000)


def _report(config: ReportStep, ctx: StepContext) -> StepResult:
    from molspace.report.run_dir import report_from_run, summary_path_for

    path, n_sections = report_from_run(
        ctx.run_dir,
        ctx.step_dir / "report.html",
        title=config.title,
        max_molecules=config.max_molecules,
    )
    return StepResult(
        outputs={"html": path, "summary": summary_path_for(path)}, counts={"sections": n_sections}
    )


REPORT = StepKind(
    "report",
    ReportStep,
    ("html",),
    _report,
    description="an HTML report (molecule grids, plots, tables) of the whole run",
    reads_whole_run=True,
)
