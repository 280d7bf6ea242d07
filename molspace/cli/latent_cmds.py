"""``molspace encode``, ``decode`` and ``sample``: LatentSpace on the command line.

A thin layer: reading and writing tables here, every model operation in
:mod:`molspace.latent`. Libraries never stop on a bad row (it goes to the rejects
file with its reason); a bad model or argument is one line and exit 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

_MODEL_HELP = "Model bundle directory (default: the shipped MOSES model)."
_THREADS_HELP = "torch CPU threads (default: torch's choice; 1 is best on a busy machine)."


def _load(model: Path | None, threads: int | None):  # type: ignore[no-untyped-def]
    import torch

    from molspace.latent import LatentSpace

    if threads is not None:
        torch.set_num_threads(threads)
    return LatentSpace.load(model)


def _z_columns(d: int) -> list[str]:
    return [f"z_{i}" for i in range(d)]


def _emit(frame, out: Path | None) -> None:  # type: ignore[no-untyped-def]
    from molspace.io import write_table

    if out is None:
        typer.echo(frame.to_csv(index=False, sep="\t"), nl=False)
    else:
        write_table(frame, out)
        typer.echo(f"wrote {len(frame):,} rows to {out}", err=True)


def encode_cmd(
    library: Path = typer.Argument(
        ..., help="Molecules: .smi, .csv, .tsv, .sdf, .parquet (gz ok)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output table (.parquet, .csv, ...) or .npy."
    ),
    model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help=_THREADS_HELP),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Rejects file (default OUT.rejects.csv)."
    ),
    smiles_column: str | None = typer.Option(None, "--smiles-column", help="SMILES column name."),
    batch_size: int = typer.Option(512, "--batch-size", min=1),
) -> None:
    """Encode a library to latent vectors (posterior means), one row per molecule."""
    import numpy as np
    import pandas as pd

    from molspace.io import RejectsWriter, read_library

    space = _load(model, threads)
    rejects_path = rejects or out.with_name(out.name.split(".")[0] + ".rejects.csv")
    records, latents = [], []
    n_read = 0
    with RejectsWriter(rejects_path) as writer:
        for chunk in read_library(library, smiles_column=smiles_column):
            n_read += chunk.n_read
            writer.write(chunk.rejects)
            encoded = space.encode_table(chunk.records, batch_size=batch_size)
            writer.write(encoded.rejects)
            records.append(encoded.records)
            latents.append(encoded.latent)
        n_rejected = writer.count
    table = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
    latent = np.concatenate(latents) if latents else np.zeros((0, space.latent_dim), np.float32)
    if out.suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, latent, allow_pickle=False)
    else:
        z = pd.DataFrame(latent, columns=_z_columns(space.latent_dim))
        _emit(pd.concat([table.reset_index(drop=True), z], axis=1), out)
    typer.echo(
        f"encoded {len(latent):,} of {n_read:,} molecules; "
        f"{n_rejected:,} rejected -> {rejects_path}",
        err=True,
    )


def _read_latent(path: Path, d: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    from molspace.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix == ".npy":
        try:
            z = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{path}: not a numeric .npy array ({exc})") from None
        return z, None
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    columns = _z_columns(d)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: latent columns {missing[0]}.. missing (expected z_0..z_{d - 1})")
    ids = frame["id"].astype(str).tolist() if "id" in frame.columns else None
    return frame[columns].to_numpy(dtype=np.float32), ids


def decode_cmd(
    latent: Path = typer.Argument(
        ..., help="Latent vectors: .npy (n, d) or a table with z_0..z_{d-1}."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output table (default: stdout TSV)."
    ),
    model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help=_THREADS_HELP),
    temperature: float = typer.Option(0.0, "--temperature", "-t", min=0.0, help="0 = greedy."),
    seed: int = typer.Option(0, "--seed", help="Seed for temperature sampling."),
) -> None:
    """Decode latent vectors to canonical SMILES (with SELFIES and heavy-atom counts)."""
    space = _load(model, threads)
    z, ids = _read_latent(latent, space.latent_dim)
    frame = space.decode_details(z, temperature=temperature, seed=seed).to_frame()
    if ids is not None:
        frame.insert(0, "id", ids)
    _emit(frame, out)


def sample_cmd(
    n: int = typer.Option(100, "--n", "-n", min=1, help="Number of molecules."),
    seed: int = typer.Option(0, "--seed", help="Seed of the prior draws (and of sampling)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output table (default: stdout TSV)."
    ),
    model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help=_THREADS_HELP),
    temperature: float = typer.Option(0.0, "--temperature", "-t", min=0.0, help="0 = greedy."),
    with_latent: bool = typer.Option(False, "--with-latent", help="Add the z_0.. columns."),
) -> None:
    """Sample molecules from the prior N(0, I) of a model."""
    import pandas as pd

    space = _load(model, threads)
    z = space.sample_latent(n, seed)
    frame = space.decode_details(z, temperature=temperature, seed=seed).to_frame()
    frame.insert(0, "id", [f"sample_{seed}_{i}" for i in range(n)])
    if with_latent:
        frame = pd.concat([frame, pd.DataFrame(z, columns=_z_columns(space.latent_dim))], axis=1)
    _emit(frame, out)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("encode")(encode_cmd)
    app.command("decode")(decode_cmd)
    app.command("sample")(sample_cmd)
