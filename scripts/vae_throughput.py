"""Training throughput of the SELFIES VAE: the previous recipe and the current one side by side.

    python scripts/vae_throughput.py [--config workflows/configs/train_moses.toml]
        [--repeats 5] [--steps 8] [--learn-steps 40] [--pause-pid runs/moses_vae/train.pid]

Recipes (the bundle's architecture, the config's batch, optimizer and KL settings, the same
batches and starting weights, one process):

- ``packed``: the recipe the shipped run trained with until this script's commit: the
  encoder through ``pack_padded_sequence`` (``SelfiesVAE.encode_packed``), bf16 autocast,
  1 thread;
- ``unpacked``: the current recipe, the encoder over the padded batch
  (``SelfiesVAE.encode``, same function, no quadratic zero-filling in backward), bf16, 1 thread;
- ``unpacked-2t``: the same with 2 intra-op threads (what ``threads = 2`` buys when the
  training has both cores);
- ``unpacked-fp32``: the current recipe without bf16 autocast (``bf16 = false``).

Throughput: in each of ``--repeats`` rounds every recipe runs ``--steps`` timed optimizer steps
(after 2 untimed) on the same batches; rounds interleave the recipes so machine load hits
them alike. Molecules per wall-clock second, median and range over rounds, and the ratio to
``packed`` of each round. ``--pause-pid`` SIGSTOPs that process (the background training)
during each timed block and always SIGCONTs it after (also on error or Ctrl-C).

Learning per molecule: every recipe trains ``--learn-steps`` steps from the same seeded
fresh initialisation (``--learn-from bundle``: the bundle's weights, with a fresh Adam) on
the same batches and the same noise seed; the validation loss (recon + beta_end * KL at the
posterior mean, the training's own criterion) on held-out molecules is printed for each,
so a faster recipe that learns worse per molecule shows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Recipe:
    name: str
    packed: bool
    threads: int
    bf16: bool = True


RECIPES = (
    Recipe("packed", packed=True, threads=1),
    Recipe("unpacked", packed=False, threads=1),
    Recipe("unpacked-2t", packed=False, threads=2),
    Recipe("unpacked-fp32", packed=False, threads=1, bf16=False),
)


@contextlib.contextmanager
def paused(pid: int | None) -> Iterator[None]:
    """SIGSTOP ``pid`` for the block; SIGCONT it whatever happens."""
    if pid is None:
        yield
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def load_molecules(config: Any, vocabulary: Any, n: int) -> np.ndarray:
    """Token rows of the first ``n`` training molecules the model's vocabulary encodes."""
    frame = pd.read_csv(ROOT / config.data.path, nrows=n)
    column = next(c for c in frame.columns if c.lower() == "smiles")
    tokens, _, reasons = vocabulary.encode_smiles(frame[column].tolist())
    return tokens[np.array([r is None for r in reasons], dtype=bool)]


def make_model(bundle: Any, recipe: Recipe, fresh: bool = False) -> torch.nn.Module:
    """The bundle's model (its weights, or a seeded fresh initialisation) run by ``recipe``."""
    from molspace.model.vae import SelfiesVAE

    torch.manual_seed(0)
    model = SelfiesVAE(bundle.config, len(bundle.vocabulary), bundle.vocabulary.max_length)
    if not fresh:
        model.load_state_dict(bundle.model.state_dict())
    if recipe.packed:
        model.encode = model.encode_packed  # type: ignore[method-assign]
    return model.train()


def train_steps(
    model: torch.nn.Module,
    config: Any,
    tokens: np.ndarray,
    batches: list[np.ndarray],
    recipe: Recipe,
    seed: int,
    warmup: int = 0,
) -> tuple[float, float]:
    """Run one optimizer step per batch; molecules per wall-clock second and per CPU-second
    of this process over the batches after ``warmup`` (CPU time is the fairer figure on a
    loaded machine: it does not count time the scheduler gave to other processes)."""
    from molspace.model.batches import batch_tensors, vae_losses

    torch.set_num_threads(recipe.threads)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    beta = config.kl.beta_end
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    for i, index in enumerate(batches):
        if i == warmup:
            done, start, cpu = 0, time.perf_counter(), time.process_time()
        x, lens = batch_tensors(tokens, index, torch.device("cpu"))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
            losses = vae_losses(model, x, lens, config.kl.free_bits, generator, None)  # type: ignore[arg-type]
        loss = losses["recon"] + beta * losses["kl_free"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        done += len(index)
    return done / (time.perf_counter() - start), done / (time.process_time() - cpu)


@torch.no_grad()
def validation_loss(model: torch.nn.Module, config: Any, tokens: np.ndarray) -> float:
    """Recon + beta_end * KL per molecule at the posterior mean (fp32, deterministic)."""
    from molspace.model.batches import batch_tensors, vae_losses

    torch.set_num_threads(1)
    model.eval()
    total = 0.0
    generator = torch.Generator().manual_seed(0)
    for start in range(0, len(tokens), 500):
        index = np.arange(start, min(start + 500, len(tokens)))
        x, lens = batch_tensors(tokens, index, torch.device("cpu"))
        out = vae_losses(model, x, lens, config.kl.free_bits, generator, None, sample=False)  # type: ignore[arg-type]
        total += float(out["recon"] + config.kl.beta_end * out["kl"]) * len(index)
    model.train()
    return total / len(tokens)


def main() -> None:
    from molspace.model.batches import epoch_batches
    from molspace.model.bundle import load_bundle
    from molspace.model.config import load_train_config
    from molspace.model.data import lengths_of

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "workflows/configs/train_moses.toml"))
    parser.add_argument("--model", default=None, help="starting weights (default: shipped)")
    parser.add_argument("--molecules", type=int, default=24_000)
    parser.add_argument("--validation", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--learn-steps", type=int, default=40)
    parser.add_argument(
        "--learn-from",
        choices=("fresh", "bundle"),
        default="fresh",
        help="starting weights of the learning comparison: a seeded fresh init or the bundle's",
    )
    parser.add_argument("--recipes", default="packed,unpacked,unpacked-2t")
    parser.add_argument(
        "--learn-recipes",
        default="packed,unpacked",
        help="recipes of the learning comparison (threads change no arithmetic)",
    )
    parser.add_argument("--pause-pid", default=None, help="pid file of a process to SIGSTOP")
    args = parser.parse_args()
    pid = int(Path(args.pause_pid).read_text()) if args.pause_pid else None
    recipes = [r for r in RECIPES if r.name in args.recipes.split(",")]

    config = load_train_config(args.config)
    bundle = load_bundle(args.model)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run `paused`'s SIGCONT
    rows = load_molecules(config, bundle.vocabulary, args.molecules + args.validation)
    train_rows, val_rows = rows[: -args.validation], rows[-args.validation :]
    batches = epoch_batches(
        lengths_of(train_rows), config.optim.batch_size, config.optim.bucket_batches, 0, 0
    )
    need = args.repeats * (args.steps + 2)
    if len(batches) < max(need, args.learn_steps):
        raise SystemExit(f"--molecules {args.molecules}: too few batches for the runs asked")
    load = os.getloadavg()
    print(
        f"{torch.get_num_threads()} torch threads by default, {os.cpu_count()} CPUs; "
        f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        + (f"; pausing pid {pid} during timed blocks" if pid else "")
    )
    print(
        f"model {bundle.config.model_dump()} from {bundle.path}; batch {config.optim.batch_size}, "
        f"bucket_batches {config.optim.bucket_batches}; {len(train_rows):,} molecules"
    )

    rates: dict[str, list[float]] = {r.name: [] for r in recipes}
    cpu_rates: dict[str, list[float]] = {r.name: [] for r in recipes}
    for round_ in range(args.repeats):
        block = batches[round_ * (args.steps + 2) : (round_ + 1) * (args.steps + 2)]
        order = recipes if round_ % 2 == 0 else recipes[::-1]
        for recipe in order:
            model = make_model(bundle, recipe)
            with paused(pid):
                rate, cpu_rate = train_steps(
                    model, config, train_rows, block, recipe, seed=round_, warmup=2
                )
            rates[recipe.name].append(rate)
            cpu_rates[recipe.name].append(cpu_rate)
        line = "  ".join(
            f"{r.name} {rates[r.name][-1]:4.0f} ({cpu_rates[r.name][-1]:4.0f}/CPU-s)"
            for r in recipes
        )
        print(f"round {round_ + 1}: {line} mol/s", flush=True)

    for label, table in (("wall-clock second", rates), ("CPU-second", cpu_rates)):
        base = table[recipes[0].name]
        print(f"\nmolecules per {label}")
        print(f"{'recipe':<14} {'median':>7} {'min':>6} {'max':>6}  ratio to {recipes[0].name}")
        for recipe in recipes:
            values = table[recipe.name]
            ratios = [v / b for v, b in zip(values, base, strict=True)]
            print(
                f"{recipe.name:<14} {statistics.median(values):7.0f} {min(values):6.0f} "
                f"{max(values):6.0f}  median {statistics.median(ratios):.2f}x "
                f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x)"
            )

    if args.learn_steps:
        n_mol = sum(len(b) for b in batches[: args.learn_steps])
        fresh = args.learn_from == "fresh"
        start_loss = validation_loss(make_model(bundle, recipes[0], fresh), config, val_rows)
        print(
            f"\nvalidation loss per molecule ({len(val_rows):,} held-out) from {args.learn_from} "
            f"weights, start {start_loss:.4f}; "
            f"after {args.learn_steps} steps = {n_mol:,} molecules of each recipe:"
        )
        for recipe in (r for r in RECIPES if r.name in args.learn_recipes.split(",")):
            model = make_model(bundle, recipe, fresh)
            with paused(pid):
                rate, cpu_rate = train_steps(
                    model, config, train_rows, batches[: args.learn_steps], recipe, seed=7
                )
            loss = validation_loss(model, config, val_rows)
            print(
                f"{recipe.name:<14} val loss {loss:.4f}  "
                f"({rate:.0f} mol/s, {cpu_rate:.0f} per CPU-s over the run)"
            )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
