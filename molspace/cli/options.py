"""Options and plumbing shared by the long-running commands (``screen``, ``dock``), so an
option reads the same in each command's ``--help``."""

from __future__ import annotations

import typer

WORKERS = typer.Option(
    None, "--workers", "-w", help="LocalCluster worker processes (0: in this process)."
)
SCHEDULER = typer.Option(
    None, "--scheduler", help="Join a running Dask scheduler, e.g. tcp://host:8786."
)
FORCE = typer.Option(False, "--force", help="Recompute instead of resuming.")


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the results."""
    typer.echo(message, err=True)
