"""``molspace screen``: the CLI face of :func:`molspace.screening.screen`."""

from __future__ import annotations

from pathlib import Path

import typer

from molspace.cli.options import FORCE, SCHEDULER, WORKERS, log


def screen_command(
    libraries: list[Path] = typer.Argument(
        ..., help="Library files (.smi/.csv/.sdf/.parquet, .gz)."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="Screening TOML."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory."),
    workers: int | None = WORKERS,
    local_process: bool = typer.Option(
        False, "--local-process", help="Run in this process without Dask (= --workers 0)."
    ),
    scheduler: str | None = SCHEDULER,
    force: bool = FORCE,
    only_passing: bool = typer.Option(
        False, "--only-passing", help="Write only passing rows (summary still counts all)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Screen libraries: standardize, dedup, filter, describe, score, rank."""
    from molspace.interrupt import handle_stop_signals
    from molspace.screening import screen

    with handle_stop_signals():
        result = screen(
            libraries,
            config,
            out,
            workers=0 if local_process else workers,
            scheduler=scheduler,
            force=force,
            only_passing=True if only_passing else None,
            progress=progress,
            log=log,
        )
    s = result.summary
    typer.echo(
        f"{s['rows_in']:,} rows: {s['accepted']:,} accepted ({s['passed']:,} passed, "
        f"{s['duplicates']:,} duplicates), {s['rejected']:,} rejected "
        f"in {s['timings']['total_s']:.1f} s"
    )
    typer.echo(f"results: {result.results_dir}/  rejects: {result.rejects_path}")
    if s["top_k_rows"]:
        typer.echo(f"top {s['top_k_rows']} by {s['rank_by']}: {result.top_k_path}")
    typer.echo(f"summary: {out / 'summary.json'}")


def register(app: typer.Typer) -> None:
    """Add ``screen`` to the root app."""
    app.command("screen")(screen_command)
