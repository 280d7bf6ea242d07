"""``molspace target prepare`` and ``molspace dock``: the CLI face of :mod:`molspace.docking`."""

from __future__ import annotations

from pathlib import Path

import typer

from molspace.cli.options import FORCE, SCHEDULER, WORKERS, log

target_app = typer.Typer(
    name="target", help="Docking targets (receptor + box bundles).", no_args_is_help=True
)


@target_app.command("prepare")
def prepare_command(
    protein: Path = typer.Argument(..., help="Protein PDB (.pdb or .pdb.gz), ligand removed."),
    ligand: Path | None = typer.Option(
        None, "--ligand", "-l", help="Reference ligand SDF: the box is centred on it."
    ),
    padding: float = typer.Option(
        8.0, "--padding", help="Å added to the ligand's extent on each axis (half per side)."
    ),
    center: tuple[float, float, float] | None = typer.Option(
        None, "--center", help="Explicit box centre x y z (Å), instead of --ligand."
    ),
    size: tuple[float, float, float] | None = typer.Option(
        None, "--size", help="Explicit box edges x y z (Å), with --center."
    ),
    name: str | None = typer.Option(None, "--name", help="Target name (default: PDB stem)."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle directory to write."),
) -> None:
    """Prepare a receptor for docking: receptor PDBQT, box, hashed manifest."""
    from molspace.docking.target import Box, prepare_target
    from molspace.errors import InputError

    if (center is None) != (size is None):
        raise InputError("give both --center and --size, or neither")
    if center is None and ligand is None:
        raise InputError("give --ligand LIGAND.sdf or an explicit --center/--size box")
    box = Box(center, size) if center is not None and size is not None else None
    bundle = prepare_target(protein, ligand, out, padding=padding, box=box, name=name)
    prep = bundle.manifest["preparation"]
    typer.echo(
        f"target {bundle.name}: box {list(bundle.box.size)} Å at {list(bundle.box.center)}; "
        f"removed {len(prep['removed_groups'])} hetero group(s), deleted "
        f"{len(prep['deleted_residues'])} residue(s), cropped {prep['cropped_residues']}"
    )
    typer.echo(f"bundle: {out}/")


def dock_command(
    libraries: list[Path] = typer.Argument(..., help="Library files (.smi/.csv/.sdf/.parquet)."),
    target: str = typer.Option(
        ..., "--target", "-t", help="Shipped target (PDB code, e.g. 1s3v) or a bundle directory."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory."),
    exhaustiveness: int = typer.Option(8, "--exhaustiveness", "-e", help="Vina exhaustiveness."),
    n_poses: int = typer.Option(9, "--poses", help="Poses kept per molecule."),
    seed: int = typer.Option(0, "--seed", help="ETKDG and Vina seed."),
    time_limit: float = typer.Option(
        300.0, "--time-limit", help="Seconds per molecule; slower ones become rejects."
    ),
    chunk_size: int = typer.Option(8, "--chunk-size", help="Molecules per Dask task."),
    workers: int | None = WORKERS,
    scheduler: str | None = SCHEDULER,
    smiles_column: str | None = typer.Option(None, "--smiles-column"),
    id_column: str | None = typer.Option(None, "--id-column"),
    force: bool = FORCE,
) -> None:
    """Dock every molecule of LIBRARIES against a target with AutoDock Vina."""
    from molspace.docking.run import dock
    from molspace.docking.settings import DockingSettings
    from molspace.interrupt import handle_stop_signals

    settings = DockingSettings(
        exhaustiveness=exhaustiveness, n_poses=n_poses, seed=seed, time_limit=time_limit
    )

    with handle_stop_signals():
        result = dock(
            libraries,
            target,
            out,
            settings=settings,
            workers=workers,
            scheduler=scheduler,
            chunk_size=chunk_size,
            smiles_column=smiles_column,
            id_column=id_column,
            force=force,
            log=log,
        )
    s = result.summary
    typer.echo(
        f"{s['rows_in']:,} rows: {s['docked']:,} docked, {s['rejected']:,} rejected "
        f"against {s['target']} in {s['wall_seconds']:.1f} s"
    )
    for row in s["best"]:
        typer.echo(f"  {row['score']:7.2f} kcal/mol  {row['id']}  {row['smiles']}")
    typer.echo(f"results: {result.results_path}  rejects: {result.rejects_path}")
    typer.echo(f"poses: {result.poses_path}  summary: {out / 'summary.json'}")


def register(app: typer.Typer) -> None:
    """Add ``target`` (group) and ``dock`` to the root app."""
    app.add_typer(target_app)
    app.command("dock")(dock_command)
