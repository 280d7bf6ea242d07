"""``molspace evaluate``: sample a model and print its MOSES row beside the published ones.

A thin layer over :mod:`molspace.metrics` and :mod:`molspace.latent.evaluation`;
the JSON it writes records the model, seed, sample count, timings and versions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def evaluate(
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model bundle directory (default: the shipped MOSES model)."
    ),
    samples: int = typer.Option(30000, "--samples", "-n", min=2, help="Prior samples to score."),
    seed: int = typer.Option(0, "--seed", help="Seed of the prior samples and the recon subset."),
    recon: int = typer.Option(
        10000, "--recon", min=0, help="Held-out MOSES test molecules to reconstruct (0: skip)."
    ),
    temperature: float = typer.Option(
        0.0, "--temperature", min=0.0, help="Decoding temperature (0: greedy)."
    ),
    scaffold_split: bool = typer.Option(
        True, "--scaffold-split/--no-scaffold-split", help="Also score against TestSF."
    ),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Processes / torch threads."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the metrics as JSON here."),
    samples_out: Path | None = typer.Option(
        None, "--samples-out", help="Also write the generated SMILES (one per line)."
    ),
) -> None:
    """Score prior samples with the MOSES metrics and print them beside the published models."""
    import torch
    from rich.console import Console

    from molspace.latent.evaluation import evaluate as evaluate_model
    from molspace.metrics.table import moses_table

    console = Console(stderr=True)
    torch.set_num_threads(jobs)
    result = evaluate_model(
        model,
        samples=samples,
        seed=seed,
        recon=recon,
        temperature=temperature,
        scaffold_split=scaffold_split,
        jobs=jobs,
        log=lambda message: console.print(f"[dim]{message}[/dim]"),
    )
    generated = result.pop("generated")
    if samples_out is not None:
        samples_out.write_text("\n".join(generated) + "\n")
    result["model"] = str(model) if model else "shipped default"
    row = result["metrics"]
    Console(width=max(Console().width, 150)).print(moses_table({"molspace": row}))
    extra = ("IntDiv2", "recon", "mean_heavy_atoms", "test_mean_heavy_atoms", "logP", "SA", "QED")
    typer.echo("  ".join(f"{k}={row[k]:.4f}" for k in extra if k in row))
    if out is not None:
        out.write_text(json.dumps(_clean(result), indent=1) + "\n")
        typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the root app."""
    app.command("evaluate")(evaluate)
