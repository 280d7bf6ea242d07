"""``molspace train``: train a SELFIES VAE from a TOML config (thin layer over model.train).

Exit codes: 0 finished (or stopped early), 2 user error (one line), 75 stopped by
SIGTERM/SIGINT after saving a checkpoint (run the same command with ``--resume``).
"""

from __future__ import annotations

from pathlib import Path

import typer


def train_cmd(
    config: Path | None = typer.Argument(
        None, help="Training TOML (its train table or the whole file); defaults when omitted."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Run directory (checkpoint, metrics, bundles)."
    ),
    data: str | None = typer.Option(None, "--data", help="Training library (overrides data.path)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from its checkpoint."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Override epochs."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    max_hours: float | None = typer.Option(None, "--max-hours", help="Stop after this many hours."),
    seed: int | None = typer.Option(None, "--seed", help="Override the seed."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a SELFIES VAE; the best model is written as a bundle to OUT/best."""
    from molspace.interrupt import EXIT_INTERRUPTED, Interrupted
    from molspace.model.config import load_train_config
    from molspace.model.train import resume_config, train

    overrides = {
        "data.path": data,
        "epochs": epochs,
        "max_steps": max_steps,
        "max_hours": max_hours,
        "seed": seed,
        "device": device,
        "threads": threads,
    }
    if resume and config is None:
        cfg = resume_config(out, overrides)
    else:
        cfg = load_train_config(config, overrides)
    try:
        result = train(cfg, out, resume=resume, progress=progress)
    except Interrupted as exc:
        typer.echo(f"interrupted: {exc}", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    typer.echo(
        f"best bundle: {result.best_bundle} (validation loss {result.best_val_loss:.4f}, "
        f"{result.steps} steps, {result.epochs_completed:.2f} epochs"
        f"{', stopped early' if result.stopped_early else ''})"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("train")(train_cmd)
