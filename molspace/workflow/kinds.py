"""The step kinds a workflow can use, found by name.

Each kind is a thin adapter: a pydantic config model, the names of the outputs it
produces, the config fields that name input files (checked before any work
starts), and a ``run`` function that calls the library API. Adapters live in
``molspace.workflow.steps`` and are imported only when a workflow uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from molspace.config import StrictModel
from molspace.errors import ConfigError

__all__ = ["KINDS", "StepContext", "StepKind", "StepResult", "get_kind"]


@dataclass
class StepResult:
    """What a step produced: named output paths and counts for run.json."""

    outputs: dict[str, Path]
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """Everything a step needs from the run around it."""

    name: str
    step_dir: Path
    run_dir: Path
    workflow_dir: Path  # relative paths in the workflow file are relative to this folder
    seed: int
    storage: str | None
    get_client: Callable[[], Any]  # the run's shared Dask client, started on first use
    report_sections: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class StepKind:
    """A step kind: its config model, declared outputs, input-file fields and runner."""

    name: str
    config_model: type[StrictModel]
    outputs: tuple[str, ...]
    run: Callable[[Any, StepContext], StepResult]
    input_fields: tuple[str, ...] = ()
    description: str = ""
    reads_whole_run: bool = False  # e.g. the report: any earlier step's change re-runs it

    def input_paths(self, config: StrictModel) -> list[tuple[str, Path]]:
        """(field, path) for every input file the config names, references excluded."""
        found: list[tuple[str, Path]] = []
        for name in self.input_fields:
            value = getattr(config, name, None)
            values = value if isinstance(value, list | tuple) else [value]
            for item in values:
                if item is None or (isinstance(item, str) and item.startswith("@")):
                    continue
                found.append((name, Path(item)))
        return found


_STEPS = "molspace.workflow.steps"

#: kind name -> "module:attribute" of its StepKind; imported only when a workflow uses it
KINDS = {
    "screen": f"{_STEPS}.screen_step:KIND",
    "train": f"{_STEPS}.model_steps:TRAIN",
    "encode": f"{_STEPS}.model_steps:ENCODE",
    "optimize": f"{_STEPS}.optimize_step:KIND",
    "explore": f"{_STEPS}.analysis_steps:EXPLORE",
    "interpolate": f"{_STEPS}.analysis_steps:INTERPOLATE",
    "map": f"{_STEPS}.analysis_steps:MAP",
    "anomaly": f"{_STEPS}.analysis_steps:ANOMALY",
    "report": f"{_STEPS}.analysis_steps:REPORT",
}


def get_kind(name: str, source: str) -> StepKind:
    """The step kind called ``name``; ConfigError naming the choices otherwise."""
    target = KINDS.get(name)
    if target is None:
        raise ConfigError(f"{source}: unknown step kind {name!r}; choose from {', '.join(KINDS)}")
    module, _, attribute = target.partition(":")
    kind: StepKind = getattr(import_module(module), attribute)
    return kind
