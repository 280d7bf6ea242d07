"""A workflow file: named steps whose inputs may be earlier steps' outputs.

```toml
[workflow]
name = "design"
seed = 0

[steps.screen]            # a step; its kind defaults to the table name
library = ["libraries/moses/test.csv.gz"]

[steps.optimize]
seed_hits = "@screen.top" # the output `top` of the step `screen`
```

A top-level ``[objective]`` table is shared by every step that scores
molecules (screen, optimize) and declares no objective of its own, so a design
run screens and optimizes for exactly the same thing.

Steps run in file order; a reference may only name an earlier step. The
whole file is validated (every step's own config model, every reference and
every input file) before any work starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from molspace.config import StrictModel, parse_config, read_toml
from molspace.errors import ConfigError

__all__ = [
    "REFERENCE",
    "Reference",
    "WorkflowMeta",
    "WorkflowSpec",
    "apply_overrides",
    "find_references",
    "load_workflow",
]

#: ``@step.output`` — a string that stands for the path of an earlier step's output.
REFERENCE = re.compile(r"^@(?P<step>[A-Za-z_][\w-]*)\.(?P<output>[A-Za-z_]\w*)$")


class WorkflowMeta(StrictModel):
    """The ``[workflow]`` table."""

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    description: str = ""
    seed: int = Field(0, ge=0)
    out: str | None = None  # run directory; default runs/<name>


class StepTable(StrictModel):
    """What the engine itself reads from a step table; the rest belongs to the step's kind."""

    kind: str | None = None


@dataclass(frozen=True)
class Reference:
    """One ``@step.output`` reference and where in the step config it sits."""

    step: str
    output: str
    location: str


@dataclass(frozen=True)
class WorkflowSpec:
    """A parsed workflow: metadata, optional cluster table, and ordered raw step tables."""

    path: Path
    meta: WorkflowMeta
    cluster: dict[str, Any] | None
    storage: str | None
    objective: dict[str, Any] | None  # shared by every step that scores and declares none
    steps: dict[str, tuple[str, dict[str, Any]]]  # name -> (kind, raw config without `kind`)
    raw: dict[str, Any]


_TOP_LEVEL = {"workflow", "cluster", "storage", "objective", "steps"}


def find_references(value: Any, location: str = "") -> Iterator[Reference]:
    """Every ``@step.output`` string inside a (nested) config value."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match:
            yield Reference(match["step"], match["output"], location)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from find_references(item, f"{location}.{key}" if location else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_references(item, f"{location}[{index}]")


def _parse_override_value(text: str) -> Any:
    """A ``--set`` value is read as a TOML value when it parses as one, else as a string."""
    from molspace.config import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (e.g. ``steps.optimize.budget=50``) to a TOML dict."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source}: --set {item!r}: expected dotted.key=value")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{source}: --set {item!r}: {part} is not a table")
            node = child
        node[parts[-1]] = _parse_override_value(text.strip())
    return data


def load_workflow(path: str | Path, overrides: list[str] | None = None) -> WorkflowSpec:
    """Read and structurally validate a workflow file (step configs are checked by the runner)."""
    file = Path(path)
    data = apply_overrides(read_toml(file), overrides or [], str(file))
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(f"{file}: unknown top-level table(s): {', '.join(unknown)}")
    if "workflow" not in data:
        raise ConfigError(f"{file}: missing [workflow] table (name, seed)")
    meta = parse_config(WorkflowMeta, data["workflow"], f"{file} [workflow]")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise ConfigError(f"{file}: no steps: add at least one [steps.<name>] table")
    steps: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, table in raw_steps.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: steps.{name} must be a table")
        if not re.match(r"^[A-Za-z_][\w-]*$", name):
            raise ConfigError(f"{file}: steps.{name}: step names are letters, digits, _ and -")
        config = dict(table)
        kind = config.pop("kind", None) or name
        if not isinstance(kind, str):
            raise ConfigError(f"{file}: steps.{name}.kind must be a string")
        for ref in find_references(config):
            if ref.step not in steps:
                later = ref.step in raw_steps
                why = "is declared later (steps run in file order)" if later else "does not exist"
                raise ConfigError(
                    f"{file}: steps.{name}.{ref.location}: @{ref.step}.{ref.output}: "
                    f"step {ref.step!r} {why}"
                )
        steps[name] = (kind, config)
    cluster = data.get("cluster")
    if cluster is not None and not isinstance(cluster, dict):
        raise ConfigError(f"{file}: [cluster] must be a table")
    storage = data.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise ConfigError(f"{file}: storage must be a string (an Optuna storage URL)")
    objective = data.get("objective")
    if objective is not None and not isinstance(objective, dict):
        raise ConfigError(f"{file}: [objective] must be a table")
    return WorkflowSpec(file, meta, cluster, storage, objective, steps, data)
