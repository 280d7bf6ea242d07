"""``molspace run WORKFLOW.toml``: run or resume a workflow of named steps."""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    workflow: Path = typer.Argument(..., help="Workflow TOML file (see workflows/)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory [runs/<name>]."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a value: dotted.key=value, e.g. steps.optimize.budget=50."
    ),
    force: bool = typer.Option(False, "--force", help="Re-run every step, even finished ones."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Join an existing Dask scheduler (tcp://host:port)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="LocalCluster workers [one per core]; 0: no Dask, one process."
    ),
    check: bool = typer.Option(
        False, "--check", help="Only validate the workflow (configs, references, files)."
    ),
) -> None:
    """Run a workflow; a re-run skips finished steps and resumes an interrupted one."""
    from molspace.workflow.runner import plan_workflow, run_workflow
    from molspace.workflow.spec import load_workflow

    if check:
        steps = plan_workflow(load_workflow(workflow, set_))
        names = ", ".join(f"{s.name} ({s.kind.name})" for s in steps)
        typer.echo(f"{workflow}: valid: {len(steps)} steps: {names}")
        return
    outcome = run_workflow(
        workflow,
        out=out,
        overrides=set_,
        force=force,
        scheduler=scheduler,
        workers=workers,
        log=lambda line: typer.echo(line, err=True),
    )
    report = outcome.manifest["steps"].get("report", {}).get("outputs", {}).get("html")
    typer.echo(f"run directory: {outcome.run_dir}")
    if report:
        typer.echo(f"report: {outcome.run_dir / report}")


def register(app: typer.Typer) -> None:
    """Add ``run`` to the root app."""
    app.command("run")(run)
