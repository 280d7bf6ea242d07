"""Run a workflow: validate everything up front, then each step in order, resumably.

A step is skipped when run.json records it finished with the same hash: the hash
covers its kind, its config (references replaced by the upstream steps' hashes),
its seed and the contents of its input files, so any change upstream re-runs
exactly the steps it affects. An interrupted step re-runs and resumes from its
own state (screen partitions, Optuna study, training checkpoint).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from molspace.config import StrictModel, parse_config
from molspace.errors import ConfigError, MolspaceError
from molspace.interrupt import Interrupted, handle_stop_signals, stop_requested
from molspace.versions import versions
from molspace.workflow.kinds import StepContext, StepKind, get_kind
from molspace.workflow.manifest import file_digest, load_manifest, save_manifest, stable_hash
from molspace.workflow.spec import REFERENCE, WorkflowSpec, find_references, load_workflow

__all__ = ["PlannedStep", "RunOutcome", "plan_workflow", "run_workflow"]


@dataclass
class PlannedStep:
    """A validated step, ready to run."""

    name: str
    kind: StepKind
    raw: dict[str, Any]
    seed: int


@dataclass
class RunOutcome:
    """What a run did: the run directory, and per step 'ran' or 'skipped'."""

    run_dir: Path
    manifest: dict[str, Any]
    actions: dict[str, str] = field(default_factory=dict)


def _step_seed(workflow_seed: int, step_name: str, raw: dict[str, Any]) -> int:
    """A step's own ``seed`` wins; else a stable mix of the workflow seed and the step name."""
    if isinstance(raw.get("seed"), int):
        return int(raw["seed"])
    return (workflow_seed * 1_000_003 + zlib.crc32(step_name.encode())) % (2**31 - 1)


def _resolve(value: Any, outputs: dict[str, dict[str, Path]]) -> Any:
    """Replace every ``@step.output`` string by that output's path."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        return str(outputs[match["step"]][match["output"]]) if match else value
    if isinstance(value, dict):
        return {key: _resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, outputs) for item in value]
    return value


def _absolute_inputs(kind: StepKind, raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Input paths in a workflow file are relative to its folder (references stay as they are)."""
    fixed = dict(raw)
    for name in kind.input_fields:
        value = fixed.get(name)
        if isinstance(value, str):
            fixed[name] = _anchor(value, base)
        elif isinstance(value, list):
            fixed[name] = [_anchor(v, base) if isinstance(v, str) else v for v in value]
    return fixed


def _anchor(value: str, base: Path) -> str:
    if value.startswith("@") or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def plan_workflow(spec: WorkflowSpec) -> list[PlannedStep]:
    """Validate every step before any work: kinds, configs, references, input files."""
    planned: list[PlannedStep] = []
    kinds: dict[str, StepKind] = {}
    base = spec.path.parent
    for name, (kind_name, given) in spec.steps.items():
        source = f"{spec.path} [steps.{name}]"
        kind = get_kind(kind_name, source)
        raw = _absolute_inputs(kind, given, base)
        if spec.objective is not None and "objective" in kind.config_model.model_fields:
            raw.setdefault("objective", spec.objective)
        for ref in find_references(raw):
            upstream = kinds[ref.step]
            if ref.output not in upstream.outputs:
                raise ConfigError(
                    f"{source}: {ref.location}: @{ref.step}.{ref.output}: step {ref.step!r} "
                    f"({upstream.name}) has outputs {', '.join(upstream.outputs)}"
                )
        config = parse_config(kind.config_model, raw, source)
        for field_name, path in kind.input_paths(config):
            if not path.exists():
                raise ConfigError(f"{source}: {field_name}: file not found: {path}")
        kinds[name] = kind
        planned.append(PlannedStep(name, kind, raw, _step_seed(spec.meta.seed, name, raw)))
    if spec.cluster is not None:  # a typo in [cluster] must not wait for the first Dask step
        from molspace.cluster import ClusterSpec

        parse_config(ClusterSpec, spec.cluster, f"{spec.path} [cluster]")
    return planned


def _step_hash(step: PlannedStep, config: StrictModel, upstream: dict[str, str]) -> str:
    inputs = {
        str(path): file_digest(path) for _, path in step.kind.input_paths(config) if path.exists()
    }
    refs = {f"@{r.step}.{r.output}": upstream[r.step] for r in find_references(step.raw)}
    if step.kind.reads_whole_run:
        refs.update({f"@{name}": digest for name, digest in upstream.items()})
    return stable_hash(
        {
            "kind": step.kind.name,
            "config": step.raw,
            "refs": refs,
            "seed": step.seed,
            "inputs": inputs,
        }
    )


def _relative(path: Path, run_dir: Path) -> str:
    """Outputs inside the run directory are stored relative to it, so the directory can move."""
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path.resolve())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_workflow(
    path: str | Path,
    *,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    log: Callable[[str], None] = print,
) -> RunOutcome:
    """Run (or resume) the workflow at ``path``; returns what ran and where it landed."""
    spec = load_workflow(path, overrides)
    planned = plan_workflow(spec)
    run_dir = Path(out or spec.meta.out or Path("runs") / spec.meta.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = run_dir / "run.json"
    manifest = load_manifest(manifest_path)
    manifest.update(
        workflow=spec.meta.name,
        file=str(spec.path),
        config=spec.raw,
        seed=spec.meta.seed,
        versions=versions(),
        updated=_now(),
    )
    outcome = RunOutcome(run_dir, manifest)
    outputs: dict[str, dict[str, Path]] = {}
    hashes: dict[str, str] = {}

    with ExitStack() as stack:
        stack.enter_context(handle_stop_signals())
        client_holder: dict[str, Any] = {}

        def get_client() -> Any:
            if workers == 0:  # everything in this process, no Dask (small runs, tests)
                return None
            if "client" not in client_holder:
                from molspace.workflow.cluster_step import client_for_workflow

                client_holder["client"] = stack.enter_context(
                    client_for_workflow(spec.cluster, scheduler=scheduler, workers=workers, log=log)
                )
            return client_holder["client"]

        for step in planned:
            resolved = _resolve(step.raw, outputs)
            config = parse_config(
                step.kind.config_model, resolved, f"{spec.path} [steps.{step.name}]"
            )
            digest = _step_hash(step, config, hashes)
            record = manifest["steps"].get(step.name, {})
            done_outputs = {k: run_dir / v for k, v in record.get("outputs", {}).items()}
            up_to_date = (
                not force
                and record.get("status") == "done"
                and record.get("hash") == digest
                and all(p.exists() for p in done_outputs.values())
            )
            if up_to_date:
                log(f"[{step.name}] up to date, skipped")
                outputs[step.name], hashes[step.name] = done_outputs, digest
                outcome.actions[step.name] = "skipped"
                continue
            if stop_requested():
                raise Interrupted(f"stopped before step {step.name!r}")
            step_dir = run_dir / step.name
            step_dir.mkdir(parents=True, exist_ok=True)
            record = {
                "kind": step.kind.name,
                "status": "running",
                "hash": digest,
                "seed": step.seed,
                "started": _now(),
                "config": resolved,
            }
            manifest["steps"][step.name] = record
            save_manifest(manifest_path, manifest)
            log(f"[{step.name}] running ({step.kind.name})")
            started = time.perf_counter()
            context = StepContext(
                step.name,
                step_dir,
                run_dir,
                spec.path.parent.resolve(),
                step.seed,
                spec.storage,
                get_client,
            )
            try:
                result = step.kind.run(config, context)
            except Interrupted:
                record.update(status="interrupted", seconds=round(time.perf_counter() - started, 3))
                save_manifest(manifest_path, manifest)
                raise
            except MolspaceError as exc:
                record.update(
                    status="failed", error=str(exc), seconds=round(time.perf_counter() - started, 3)
                )
                save_manifest(manifest_path, manifest)
                raise type(exc)(f"step {step.name!r} ({step.kind.name}): {exc}") from exc
            except BaseException as exc:
                record.update(
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}",
                    seconds=round(time.perf_counter() - started, 3),
                )
                save_manifest(manifest_path, manifest)
                raise
            missing = set(step.kind.outputs) - set(result.outputs)
            if missing:
                raise RuntimeError(f"step {step.name} did not produce outputs {sorted(missing)}")
            record.update(
                status="done",
                finished=_now(),
                seconds=round(time.perf_counter() - started, 3),
                outputs={k: _relative(Path(v), run_dir) for k, v in result.outputs.items()},
                counts=result.counts,
            )
            save_manifest(manifest_path, manifest)
            outputs[step.name] = {k: Path(v) for k, v in result.outputs.items()}
            hashes[step.name] = digest
            outcome.actions[step.name] = "ran"
            log(f"[{step.name}] done in {record['seconds']:.1f} s")
    manifest["updated"] = _now()
    save_manifest(manifest_path, manifest)
    return outcome
