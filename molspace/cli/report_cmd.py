"""``molspace report RUN_DIR``: one self-contained HTML file from whatever a run produced."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    run_dir: Path = typer.Argument(
        ..., help="A run directory (screen, optimize, explore, map...)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="HTML file [RUN_DIR/report.html]."),
    title: str | None = typer.Option(None, help="Page title."),
    max_molecules: int = typer.Option(48, min=1, max=1000, help="Molecules per grid."),
) -> None:
    """Build a self-contained HTML report (no network needed to view it)."""
    from molspace.report.run_dir import report_from_run

    path, n = report_from_run(run_dir, out, title=title, max_molecules=max_molecules)
    typer.echo(f"wrote {path} ({n} sections)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("report")(report)
