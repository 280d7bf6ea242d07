"""``molspace optimize``: the CLI face of :func:`molspace.optimization.optimize`."""

from __future__ import annotations

from pathlib import Path

import typer


def optimize_command(
    config: Path | None = typer.Argument(
        None, help="TOML with an optimize table (and an objective table)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory."),
    model: str | None = typer.Option(None, "--model", help="Model bundle directory."),
    pmo: str | None = typer.Option(None, "--pmo", help="Score with a PMO task (e.g. qed)."),
    sampler: str | None = typer.Option(None, "--sampler", help="tpe, cmaes, gp, nsga2 or random."),
    budget: int | None = typer.Option(None, "--budget", help="Unique molecules to score."),
    max_trials: int | None = typer.Option(
        None,
        "--max-trials",
        help="Stop after this many trials even if the budget is not scored "
        "(default: 10 x budget + 10 batches).",
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Trials per batch."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    storage: str | None = typer.Option(
        None, "--storage", help="study.db, x.journal, journal:<path> or an SQLAlchemy URL."
    ),
    study_name: str | None = typer.Option(None, "--study-name", help="Optuna study name."),
    seed_smiles: list[str] | None = typer.Option(
        None, "--seed-smiles", help="A SMILES enqueued as a first trial (repeatable)."
    ),
    seed_hits: str | None = typer.Option(None, "--seed-hits", help="Screen hits to seed from."),
    space: str | None = typer.Option(None, "--space", help="box, ball or pca."),
    workers: int = typer.Option(1, "--workers", "-w", help="Dask worker processes."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Join a Dask scheduler."),
    retrain_every: int | None = typer.Option(
        None,
        "--retrain-every",
        help="Fine-tune the VAE on the scored molecules every N oracle calls (0: off).",
    ),
    stale_after: float | None = typer.Option(
        None,
        "--stale-after",
        help="Seconds without a heartbeat before a worker on another machine counts as dead.",
    ),
    progress_every: float = typer.Option(
        10.0,
        "--progress-every",
        min=0.0,
        help="When stderr is not a terminal: seconds between progress lines.",
    ),
) -> None:
    """Optimize molecules in the latent space with Optuna (resumes an existing study)."""
    from molspace.errors import ConfigError
    from molspace.interrupt import EXIT_INTERRUPTED
    from molspace.optimization import load_optimize_config, optimize

    overrides = {
        "model": model,
        "pmo": pmo,
        "sampler": sampler,
        "budget": budget,
        "max_trials": max_trials,
        "batch_size": batch_size,
        "seed": seed,
        "storage": storage,
        "study_name": study_name,
        "seeds": seed_smiles or None,
        "seed_hits": seed_hits,
        "stale_after": stale_after,
        "retrain": None if retrain_every is None else {"every": retrain_every},
    }
    if config is None and pmo is not None:  # the frozen PMO search, tuned on PMO's tuning tasks
        from molspace.optimization.presets import PMO_PRESET

        config = PMO_PRESET
    cfg, objective = load_optimize_config(config, overrides)
    if space is not None:
        if space not in ("box", "ball", "pca"):
            raise ConfigError(f"--space {space!r}: expected box, ball or pca")
        cfg = cfg.model_copy(update={"space": cfg.space.model_copy(update={"kind": space})})
    if workers < 1:
        raise ConfigError("--workers must be >= 1")
    if scheduler:
        from molspace.cluster import connect

        with connect(scheduler=scheduler) as handle:  # unreachable: a one-line error
            summary = optimize(
                cfg,
                objective,
                out_dir=out,
                workers=workers,
                client=handle.client,
                progress=True,
                progress_every=progress_every,
            )
    else:
        summary = optimize(
            cfg,
            objective,
            out_dir=out,
            workers=workers,
            progress=True,
            progress_every=progress_every,
        )
    for anchor in summary.get("seed_anchors", []):
        typer.echo(anchor, err=True)
    line = (
        f"{summary['n_oracle_calls']}/{summary['budget']} molecules scored in "
        f"{summary['n_trials']} trials ({summary['seconds']} s), "
        f"{summary['n_feasible']} feasible (candidates.csv), every scored molecule in "
        f"scored.csv; outputs in {out}"
    )
    typer.echo(line, err=True)
    if summary.get("message"):
        typer.echo(summary["message"], err=True)
    if summary["stopped"]:
        typer.echo("stopped on request; run the same command again to resume", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to the root app."""
    app.command("optimize")(optimize_command)
