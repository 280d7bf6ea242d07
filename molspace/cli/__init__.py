"""The ``molspace`` command line: a thin typer layer over the Python API.

Each area registers its verbs from its own module (``register(app)``) so the
CLI never holds chemistry or model logic. Heavy libraries are imported inside
the command functions, which keeps ``molspace --help`` fast.

Stage 13, the top: may import every package; nothing imports it.
"""

from __future__ import annotations

import sys
from importlib import import_module

import typer

from molspace.errors import MolspaceError

app = typer.Typer(
    name="molspace",
    help="Molecular design and virtual screening in a learned latent space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# modules that each define ``register(app: typer.Typer) -> None``
_COMMAND_MODULES = (
    "molspace.cli.chem_cmds",
    "molspace.cli.screen_cmd",
    "molspace.cli.model_cmds",
    "molspace.cli.latent_cmds",
    "molspace.cli.analysis_cmds",
    "molspace.cli.evaluate_cmd",
    "molspace.cli.optimize_cmd",
    "molspace.cli.report_cmd",
    "molspace.cli.run_cmd",
    "molspace.cli.docking_cmds",
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from molspace.versions import __version__

        typer.echo(f"molspace {__version__}")
        raise typer.Exit()


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        import_module(name).register(app)


_register_all()


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit with ``code``: how every user error ends."""
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def main() -> None:
    """Console-script entry point: user errors become one line, not a traceback."""
    from molspace.interrupt import EXIT_INTERRUPTED, Interrupted

    try:
        app()
    except Interrupted as exc:
        typer.echo(f"stopped: {exc} (re-run the same command to resume)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except MolspaceError as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
