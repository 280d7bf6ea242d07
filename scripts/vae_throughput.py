"""Training throughput of the SELFIES VAE: the previous recipe and the current one side by side.

    python scripts/vae_throughput.py [--config workflows/configs/train_moses.toml]
        [--repeats 5] [--steps 8] [--learn-steps 40] [--pause-pid runs/moses_vae/train.pid]

Recipes (the bundle's architecture, the config's batch, optimizer and KL settings, the same
batches and starting weights; one process unless the recipe says otherwise):

- ``packed``: the recipe the shipped run trained with until this script's commit: the
  encoder through ``pack_padded_sequence`` (``SelfiesVAE.encode_packed``), bf16 autocast,
  1 thread;
- ``unpacked``: the current recipe, the encoder over the padded batch
  (``SelfiesVAE.encode``, same function, no quadratic zero-filling in backward), bf16, 1 thread;
- ``unpacked-2t``: the same with 2 intra-op threads (what ``threads = 2`` buys when the
  training has both cores);
- ``unpacked-fp32``: the current recipe without bf16 autocast (``bf16 = false``);
- ``ddp-2p``: the current recipe in 2 data-parallel processes x 1 thread (``processes = 2``:
  torch.distributed, gloo), each on half of every batch, gradients summed; the training's own
  step (``molspace.model.distributed.GroupSync``). The ranks are spawned per timed block (the
  start-up is not timed); CPU-seconds are both ranks' together;
- ``ddp-2p-b512``: the same with two consecutive batches per optimizer step (batch 512, each
  rank on 256: the one-process step's size), the same molecules in half the steps, the
  config's learning rate unchanged (nothing tuned).

Every recipe runs the training's step (``LocalSync``/``GroupSync.backward``).

Throughput: in each of ``--repeats`` rounds every recipe runs ``--steps`` timed optimizer steps
(after 2 untimed) on the same batches; rounds interleave the recipes so machine load hits
them alike. Molecules per wall-clock second, median and range over rounds, and the ratio to
``packed`` of each round. ``--pause-pid`` SIGSTOPs that process and its descendants (the
background training, and its ranks when it trains with ``processes > 1``) during each timed
block and always SIGCONTs them after (also on error or Ctrl-C).

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
    processes: int = 1
    merge: int = 1  # consecutive batches per optimizer step (2: batch 512 from the config's 256)


RECIPES = (
    Recipe("packed", packed=True, threads=1),
    Recipe("unpacked", packed=False, threads=1),
    Recipe("unpacked-2t", packed=False, threads=2),
    Recipe("unpacked-fp32", packed=False, threads=1, bf16=False),
    Recipe("ddp-2p", packed=False, threads=1, processes=2),
    Recipe("ddp-2p-b512", packed=False, threads=1, processes=2, merge=2),
)


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (the ranks of a data-parallel training), parents first."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                queue.extend(int(c) for c in (task / "children").read_text().split())
    return found


@contextlib.contextmanager
def paused(pid: int | None) -> Iterator[None]:
    """SIGSTOP ``pid`` and its descendants for the block; SIGCONT them whatever happens."""
    if pid is None:
        yield
        return
    stopped = family(pid)
    for member in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGSTOP)
    try:
        yield
    finally:
        for member in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGCONT)


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
    sync: Any = None,
) -> tuple[float, float]:
    """Run one optimizer step per batch (the training's step, alone or as the rank ``sync``);
    molecules per wall-clock second and per CPU-second of this process (of all ranks) over
    the batches after ``warmup`` (CPU time is the fairer figure on a loaded machine: it does
    not count time the scheduler gave to other processes)."""
    from molspace.model.distributed import LocalSync

    sync = sync or LocalSync()
    torch.set_num_threads(recipe.threads)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    beta = config.kl.beta_end

    def autocast() -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16)

    done, start, cpu = 0, time.perf_counter(), time.process_time()
    for i, index in enumerate(batches):
        if i == warmup:
            sync.agree(False)  # the ranks start the clock together
            done, start, cpu = 0, time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        sync.backward(
            model,
            tokens,
            None,
            index,
            beta=beta,
            config=config,
            generator=generator,
            autocast=autocast,
            device=torch.device("cpu"),
        )
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        done += len(index)
    wall = time.perf_counter() - start
    cpu_s = torch.tensor([time.process_time() - cpu])
    if sync.world > 1:
        import torch.distributed as dist

        dist.all_reduce(cpu_s)
    return done / wall, done / float(cpu_s)


def rank_train_steps(
    rank: int,
    world: int,
    model_path: str | None,
    config_path: str,
    tokens: np.ndarray,
    batches: list[np.ndarray],
    recipe: Recipe,
    seed: int,
    warmup: int,
    fresh: bool,
    val_rows: np.ndarray | None,
) -> tuple[float, float, float | None]:
    """``train_steps`` as one rank of ``recipe.processes`` (spawned by ``run_recipe``); rank 0
    also gives the validation loss after the steps when ``val_rows`` are given."""
    from molspace.model.bundle import load_bundle
    from molspace.model.config import load_train_config
    from molspace.model.distributed import GroupSync

    config = load_train_config(config_path)
    model = make_model(load_bundle(model_path), recipe, fresh)
    rate, cpu_rate = train_steps(
        model, config, tokens, batches, recipe, seed, warmup, GroupSync(rank, world)
    )
    loss = validation_loss(model, config, val_rows) if val_rows is not None else None
    return rate, cpu_rate, loss


def run_recipe(
    args: argparse.Namespace,
    bundle: Any,
    config: Any,
    tokens: np.ndarray,
    batches: list[np.ndarray],
    recipe: Recipe,
    seed: int,
    warmup: int = 0,
    fresh: bool = False,
    val_rows: np.ndarray | None = None,
) -> tuple[float, float, float | None]:
    """Molecules per wall-clock and per CPU-second of ``recipe`` over ``batches`` (after
    ``warmup``), and the validation loss after them when ``val_rows`` are given."""
    if recipe.merge > 1:  # the same molecules in fewer, larger steps
        m = recipe.merge
        batches = [np.concatenate(batches[i : i + m]) for i in range(0, len(batches), m)]
        warmup = -(-warmup // m)
    if recipe.processes > 1:
        from molspace.model.distributed import launch

        rank_args = (
            args.model,
            args.config,
            tokens,
            batches,
            recipe,
            seed,
            warmup,
            fresh,
            val_rows,
        )
        return launch(rank_train_steps, rank_args, recipe.processes)[0]
    model = make_model(bundle, recipe, fresh)
    rate, cpu_rate = train_steps(model, config, tokens, batches, recipe, seed, warmup)
    loss = validation_loss(model, config, val_rows) if val_rows is not None else None
    return rate, cpu_rate, loss


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
    parser.add_argument("--recipes", default="packed,unpacked,ddp-2p")
    parser.add_argument(
        "--learn-recipes",
        default="packed,unpacked,ddp-2p",
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
            with paused(pid):
                rate, cpu_rate, _ = run_recipe(
                    args, bundle, config, train_rows, block, recipe, seed=round_, warmup=2
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
            with paused(pid):
                rate, cpu_rate, loss = run_recipe(
                    args,
                    bundle,
                    config,
                    train_rows,
                    batches[: args.learn_steps],
                    recipe,
                    seed=7,
                    fresh=fresh,
                    val_rows=val_rows,
                )
            print(
                f"{recipe.name:<14} val loss {loss:.4f}  "
                f"({rate:.0f} mol/s, {cpu_rate:.0f} per CPU-s over the run)"
            )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
