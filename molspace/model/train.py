"""Training loop of the SELFIES VAE: bucketed batches, KL schedule, checkpoints, resume, early stop.

Reproducible: the batch order of epoch ``e`` is a pure function of ``(seed, e)``
and the reparameterization noise comes from one seeded generator saved in every
checkpoint, so a run resumed after a kill continues exactly where it stopped
(the batch within the epoch included). SIGTERM/SIGINT save a checkpoint and
raise :class:`molspace.interrupt.Interrupted` (the CLI exits with 75).
With ``processes > 1`` the same loop runs in that many data-parallel ranks
(``molspace.model.distributed``; options in ``training/README.md``).

Outputs in ``run_dir``: ``checkpoint/`` (resumable), ``best/`` (bundle of the best
validation loss so far, rewritten on each improvement), ``final/`` (bundle at the
end), ``steps.csv`` (every ``log_every_steps``), ``metrics.csv`` (each
evaluation), ``metrics.json`` (summary), ``config.json``, ``rejects.csv``.

The helpers live beside it (``batches``, ``train_log``, ``validation``); what stays here
(about 500 lines) is the resumable step loop, kept whole so that everything a checkpoint
must capture is visible in one place.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molspace.errors import ConfigError, InputError
from molspace.interrupt import Interrupted, handle_stop_signals, stop_requested
from molspace.model.batches import epoch_batches, vae_losses
from molspace.model.bundle import save_bundle
from molspace.model.checkpoint import (
    checkpoint_exists,
    load_checkpoint,
    read_checkpoint_state,
    save_checkpoint,
)
from molspace.model.config import TrainConfig
from molspace.model.data import lengths_of
from molspace.model.distributed import LocalSync
from molspace.model.train_data import load_training_data
from molspace.model.train_log import EVAL_FIELDS, STEP_FIELDS, CsvLog, TrainProgress
from molspace.model.vae import SelfiesVAE
from molspace.model.validation import evaluate_validation, split_indices

__all__ = ["TrainResult", "epoch_batches", "train", "vae_losses"]

#: fields that may change when a run is resumed (how long and how it runs, not what it learns)
RESUMABLE_OVERRIDES = (
    "epochs",
    "max_steps",
    "max_hours",
    "max_cpu_minutes",
    "patience",
    "checkpoint_minutes",
    "log_every_steps",
    "eval_every_steps",
    "threads",
    "processes",
    "device",
)


@dataclass
class TrainResult:
    run_dir: Path
    best_bundle: Path
    final_bundle: Path | None
    steps: int
    epochs_completed: float
    best_val_loss: float
    stopped_early: bool
    metrics: dict[str, Any]


def _device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device = 'cuda' but CUDA is not available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def _hardware(device: torch.device, processes: int = 1) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ranks = f" in each of {processes} processes" if processes > 1 else ""
    return f"{cpu}, {torch.get_num_threads()} torch threads{ranks}"


def _lr(config: TrainConfig, step: int, total_steps: int) -> float:
    """Cosine decay from learning_rate to learning_rate * lr_final_ratio over total_steps."""
    base = config.optim.learning_rate
    final = base * config.optim.lr_final_ratio
    frac = min(1.0, step / max(1, total_steps))
    return final + 0.5 * (base - final) * (1.0 + math.cos(math.pi * frac))


#: model fields a run may gain on resume when its checkpoint has no property head
HEAD_FIELDS = ("properties", "property_hidden")


def _resolve_config(run_dir: Path, config: TrainConfig, resume: bool) -> TrainConfig:
    """On resume only run-length settings may differ from the checkpoint's config, and
    a run without a property head may gain one (``model.properties``, ``property_hidden``,
    ``property_weight``): the head starts fresh, everything else resumes as saved."""
    if not resume:
        return config
    saved = saved_config(run_dir)
    new = config.model_dump(mode="json")
    old = saved.model_dump(mode="json")
    if not saved.model.properties and config.model.properties:
        for key in HEAD_FIELDS:
            old["model"][key] = new["model"][key]
        old["property_weight"] = new["property_weight"]
        old["property_labels"] = new["property_labels"]
    differing = [k for k in new if k not in RESUMABLE_OVERRIDES and new[k] != old[k]]
    if differing:
        raise ConfigError(
            f"{run_dir}: cannot resume with a different {', '.join(differing)} "
            "(only run-length settings may change, and a property head may be added)"
        )
    return config


def init_from_bundle(model: SelfiesVAE, path: str) -> str:
    """Load a bundle's weights into a freshly built ``model`` of the same architecture.

    The property head (and its target scaling) may differ: a head the bundle lacks or
    shapes differently starts fresh. Anything else missing or misshapen is a ConfigError."""
    from molspace.model.bundle import load_bundle

    bundle = load_bundle(path)  # verifies the checksum and the architecture
    weights = bundle.model.state_dict()
    own = model.state_dict()
    head = ("property_head.", "property_mean", "property_std")
    wrong = [
        k
        for k, v in own.items()
        if not k.startswith(head)
        and (k not in weights or tuple(weights[k].shape) != tuple(v.shape))
    ]
    if wrong:
        raise ConfigError(
            f"init_from {path}: the bundle's architecture differs from the config's "
            f"({', '.join(wrong[:3])}{', ...' if len(wrong) > 3 else ''})"
        )
    scaling = ("property_mean", "property_std")  # the run's own targets set these
    taken = {
        k: w
        for k, w in weights.items()
        if k in own and k not in scaling and tuple(w.shape) == tuple(own[k].shape)
    }
    model.load_state_dict(taken, strict=False)
    fresh = sorted({k.split(".")[0] for k in own if k not in taken and k not in scaling})
    steps = bundle.metadata.get("training", {}).get("steps")
    return (
        f"initialized from {path} (trained {steps} steps; weights sha256 "
        f"{bundle.metadata['weights']['sha256'][:12]}...)"
        + (f"; fresh: {', '.join(fresh)}" if fresh else "")
    )


def saved_config(run_dir: str | Path) -> TrainConfig:
    """The config a checkpointed run was started with."""
    return TrainConfig.model_validate(read_checkpoint_state(run_dir)["config"])


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a VAE into ``run_dir``; with ``resume`` continue from its checkpoint.

    Raises ``Interrupted`` after saving a checkpoint when SIGTERM/SIGINT arrive, and
    ``InputError`` when ``run_dir`` already holds a run and ``resume`` is not set.
    """
    run = Path(run_dir)
    log = log or (lambda message: print(message, flush=True))
    if resume and not checkpoint_exists(run):
        raise InputError(f"{run}: no checkpoint to resume")
    if not resume and checkpoint_exists(run):
        raise InputError(
            f"{run}: already holds a training run (use --resume, or another directory)"
        )
    config = _resolve_config(run, config, resume)
    if config.processes > 1:
        from molspace.model.distributed import train_data_parallel

        return train_data_parallel(config, run, resume=resume, progress=progress, log=log)
    result = train_process(config, run, resume=resume, progress=progress, log=log)
    assert result is not None
    return result


def train_process(
    config: TrainConfig,
    run: Path,
    *,
    resume: bool,
    progress: bool | None,
    log: Callable[[str], None],
    sync: LocalSync | None = None,
) -> TrainResult | None:
    """The run in this process: alone, or as one rank of a data-parallel group (``sync``).

    Only the main rank writes into ``run`` and returns the result; the others return None.
    """
    sync = sync or LocalSync()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = _device(config.device)
    if sync.is_main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps(config.model_dump(mode="json"), indent=1))
    with sync.main_first():  # rank 0 builds the caches, the others read them
        data, props_all = load_training_data(config, run, resume, log, sync.is_main)
    vocabulary = data.vocabulary
    train_idx, val_idx = split_indices(len(data.tokens), config)
    train_tokens = data.tokens[train_idx]
    val_tokens = data.tokens[val_idx][: config.data.max_validation]
    lengths = lengths_of(train_tokens)

    model = SelfiesVAE(config.model, vocab_size=len(vocabulary), max_length=vocabulary.max_length)
    props_train = props_val = None
    if props_all is not None:
        mean = np.nanmean(props_all[train_idx], axis=0)
        std = np.nanstd(props_all[train_idx], axis=0) + 1e-6
        model.property_mean.copy_(torch.from_numpy(mean))  # type: ignore[operator]
        model.property_std.copy_(torch.from_numpy(std))  # type: ignore[operator]
        standardized = ((props_all - mean) / std).astype(np.float32)
        props_train = standardized[train_idx]
        props_val = standardized[val_idx][: config.data.max_validation]

    if config.init_from and not resume:
        log(init_from_bundle(model, config.init_from))
    model.to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.optim.learning_rate, weight_decay=config.optim.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)

    steps_per_epoch = math.ceil(len(train_tokens) / config.optim.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    state: dict[str, Any] = {
        "step": 0,
        "epoch": 0,
        "batch_in_epoch": 0,
        "elapsed_s": 0.0,
        "cpu_s": 0.0,
        "best_val_loss": None,
        "best_step": None,
        "bad_evals": 0,
        "stopped_early": False,
        "done": False,
        "molecules_seen": 0,
        "last_eval": None,
        "last_eval_step": None,
    }
    if resume:
        head_added = bool(config.model.properties) and not saved_config(run).model.properties
        fresh = ("property_head.", "property_mean", "property_std") if head_added else ()
        saved = load_checkpoint(run, model, optimizer, generator, fresh=fresh)
        if head_added:
            log(
                f"added a property head ({', '.join(config.model.properties)}) to the resumed "
                "model: its parameters start fresh, every other tensor loaded as saved"
            )
        state.update({k: saved[k] for k in state if k in saved})
        state["done"] = False  # a resumed run continues until its (possibly raised) limits
        log(
            f"resumed {run} at step {state['step']:,} (epoch {state['epoch']}, "
            f"batch {state['batch_in_epoch']:,}/{steps_per_epoch:,})"
        )
    sync.share(model)
    log(
        f"model: {model.num_parameters():,} parameters; vocabulary {len(vocabulary)} symbols, "
        f"max length {vocabulary.max_length}; train {len(train_tokens):,} / "
        f"val {len(val_tokens):,}; "
        f"{steps_per_epoch:,} steps per epoch on {_hardware(device, sync.world)}"
    )

    step_log = CsvLog(run / "steps.csv", STEP_FIELDS) if sync.is_main else None
    eval_log = CsvLog(run / "metrics.csv", EVAL_FIELDS) if sync.is_main else None
    training_info = {
        "data": str(config.data.path),
        "data_hash": data.data_hash,
        "n_input": data.n_input,
        "n_rejected": data.n_rejected,
        "n_train": len(train_tokens),
        "n_validation": len(val_tokens),
        "seed": config.seed,
        "hardware": _hardware(device, sync.world),
        "config": config.model_dump(mode="json"),
    }

    def bundle_info() -> dict[str, Any]:
        return {
            **training_info,
            "steps": state["step"],
            "epochs": round(state["molecules_seen"] / max(1, len(train_tokens)), 4),
            "train_hours": round(state["elapsed_s"] / 3600, 4),
            "best_val_loss": state["best_val_loss"],
            "best_step": state["best_step"],
            "validation": state["last_eval"],
        }

    def checkpoint() -> None:
        if not sync.is_main:
            return
        save_checkpoint(
            run,
            model,
            optimizer,
            generator,
            {
                **state,
                "config": config.model_dump(mode="json"),
                "vocabulary": vocabulary.to_dict(),
                "data_hash": data.data_hash,
            },
        )

    def evaluate() -> None:
        if eval_log is None:  # not the main rank
            return
        metrics = evaluate_validation(model, val_tokens, props_val, config, vocabulary, device)
        warm = state["step"] >= config.kl.hold_steps + config.kl.warmup_steps
        best = state["best_val_loss"]
        improved = best is None or metrics["loss"] < best - config.min_delta
        if improved:
            state["best_val_loss"] = metrics["loss"]
            state["best_step"] = state["step"]
            state["bad_evals"] = 0
        elif warm:
            state["bad_evals"] += 1
        state["last_eval_step"] = state["step"]
        state["last_eval"] = {
            k: (round(v, 5) if isinstance(v, float) else v) for k, v in metrics.items()
        }
        if improved:
            save_bundle(run / "best", model, vocabulary, bundle_info())
        eval_log.write(
            {
                "step": state["step"],
                "epoch": round(state["molecules_seen"] / len(train_tokens), 4),
                "time_s": round(state["elapsed_s"], 1),
                "train_molecules": state["molecules_seen"],
                "beta": config.kl.beta(state["step"]),
                "val_loss": metrics["loss"],
                "val_recon": metrics["recon"],
                "val_kl": metrics["kl"],
                "val_token_acc": metrics["token_acc"],
                "val_exact": metrics["exact"],
                "val_prop_mse": metrics["prop_mse"],
                "active_units": metrics["active_units"],
                "best": int(improved),
            }
        )
        log(
            f"eval step {state['step']:,}: val loss {metrics['loss']:.3f} "
            f"(recon {metrics['recon']:.3f}, "
            f"kl {metrics['kl']:.2f}), token acc {metrics['token_acc']:.4f}, "
            f"exact {metrics['exact']:.3f}, "
            f"active units {metrics['active_units']}{' *' if improved else ''}"
        )
        _write_summary(run, state, bundle_info())

    use_bf16 = config.bf16
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else None
    model.train()
    last_ckpt = time.monotonic()
    window_start = time.monotonic()
    window_mols = 0
    max_seconds = config.max_hours * 3600 if config.max_hours else None
    max_cpu_s = config.max_cpu_minutes * 60 if config.max_cpu_minutes else None
    show = sync.is_main and (sys.stderr.isatty() if progress is None else progress)
    bar = TrainProgress(show, total_steps, state["step"])
    with handle_stop_signals(), bar:
        while not state["done"]:
            if state["epoch"] >= config.epochs or state["step"] >= total_steps:
                state["done"] = True
                break
            batches = epoch_batches(
                lengths,
                config.optim.batch_size,
                config.optim.bucket_batches,
                config.seed,
                state["epoch"],
            )
            for index in batches[state["batch_in_epoch"] :]:
                t0 = time.monotonic()
                c0 = time.process_time()
                lr = _lr(config, state["step"], total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                beta = config.kl.beta(state["step"])
                optimizer.zero_grad(set_to_none=True)
                losses = sync.backward(
                    model,
                    train_tokens,
                    props_train,
                    index,
                    beta=beta,
                    config=config,
                    generator=generator,
                    autocast=autocast,
                    device=device,
                )
                loss = losses["loss"]
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
                optimizer.step()
                state["step"] += 1
                state["batch_in_epoch"] += 1
                state["molecules_seen"] += len(index)
                state["elapsed_s"] += time.monotonic() - t0
                state["cpu_s"] += time.process_time() - c0
                window_mols += len(index)
                bar.advance(float(loss.detach()))
                if state["step"] % config.log_every_steps == 0 and step_log is not None:
                    now = time.monotonic()
                    rate = window_mols / max(1e-9, now - window_start)
                    window_start, window_mols = now, 0
                    row = {
                        "step": state["step"],
                        "epoch": round(state["molecules_seen"] / len(train_tokens), 4),
                        "time_s": round(state["elapsed_s"], 1),
                        "lr": lr,
                        "beta": beta,
                        "loss": float(loss.detach()),
                        "recon": float(losses["recon"].detach()),
                        "kl": float(losses["kl"].detach()),
                        "prop_mse": float(losses["prop_mse"].detach())
                        if "prop_mse" in losses
                        else None,
                        "token_acc": float(losses["token_acc"]),
                        "mol_per_s": round(rate, 1),
                    }
                    step_log.write(row)
                    if not show:
                        log(
                            f"step {row['step']:,} epoch {row['epoch']:.3f} loss {row['loss']:.3f} "
                            f"recon {row['recon']:.3f} kl {row['kl']:.2f} beta {beta:.4f} "
                            f"acc {row['token_acc']:.4f} {rate:.0f} mol/s"
                        )
                if state["step"] % config.eval_every_steps == 0:
                    evaluate()
                    if sync.agree(state["bad_evals"] >= config.patience)[0]:
                        state["stopped_early"] = True
                        state["done"] = True
                        log(f"early stop: no improvement in {config.patience} evaluations")
                        break
                stop, out_of_time = sync.agree(
                    stop_requested(),
                    bool(max_seconds and state["elapsed_s"] >= max_seconds)
                    or bool(max_cpu_s and state["cpu_s"] >= max_cpu_s),
                )
                if stop:
                    checkpoint()
                    log(
                        f"stop requested: checkpoint saved at step {state['step']:,}; "
                        "resume with --resume"
                    )
                    raise Interrupted(
                        f"{run}: training stopped at step {state['step']}; resume with --resume"
                    )
                if state["step"] >= total_steps or out_of_time:
                    state["done"] = True
                    break
                if time.monotonic() - last_ckpt >= config.checkpoint_minutes * 60:
                    checkpoint()
                    last_ckpt = time.monotonic()
            else:
                state["epoch"] += 1
                state["batch_in_epoch"] = 0
                if state["last_eval_step"] != state["step"]:
                    evaluate()
                checkpoint()
                last_ckpt = time.monotonic()
                if sync.agree(state["bad_evals"] >= config.patience)[0]:
                    state["stopped_early"] = True
                    state["done"] = True
    if not sync.is_main:
        return None
    if state["last_eval_step"] != state["step"]:
        evaluate()
    checkpoint()
    final = save_bundle(run / "final", model, vocabulary, bundle_info())
    if not (run / "best").exists():
        shutil.copytree(final, run / "best")
    summary = _write_summary(run, state, bundle_info())
    log(
        f"training finished at step {state['step']:,}; best validation loss "
        f"{state['best_val_loss']:.4f} at step {state['best_step']:,}; bundles in {run}"
    )
    return TrainResult(
        run_dir=run,
        best_bundle=run / "best",
        final_bundle=final,
        steps=state["step"],
        epochs_completed=state["molecules_seen"] / len(train_tokens),
        best_val_loss=float(state["best_val_loss"]),
        stopped_early=bool(state["stopped_early"]),
        metrics=summary,
    )


def _write_summary(run: Path, state: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    from molspace.versions import versions

    summary = {
        **info,
        "state": {k: v for k, v in state.items() if k != "last_eval"},
        "versions": versions(),
    }
    tmp = run / "metrics.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    os.replace(tmp, run / "metrics.json")
    return summary


def resume_config(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The saved config of a run with run-length overrides applied (``epochs=20`` ...)."""
    from molspace.config import parse_config

    data = saved_config(run_dir).model_dump(mode="json")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in RESUMABLE_OVERRIDES:
            raise ConfigError(f"{run_dir}: '{key}' cannot change when resuming")
        data[key] = value
    return parse_config(TrainConfig, data, f"{run_dir} (resumed)")


def main(argv: list[str] | None = None) -> int:
    """``python -m molspace.model.train [CONFIG] RUN_DIR [--resume] [--set key=value ...]``."""
    import argparse

    from molspace.errors import MolspaceError
    from molspace.interrupt import EXIT_INTERRUPTED
    from molspace.model.config import load_train_config, parse_overrides

    parser = argparse.ArgumentParser(prog="python -m molspace.model.train")
    parser.add_argument("config", nargs="?", default=None)
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="override a config key, e.g. --set optim.batch_size=512",
    )
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
        if args.resume and args.config is None:
            config = resume_config(args.run_dir, overrides)
        else:
            config = load_train_config(args.config, overrides)
        train(config, args.run_dir, resume=args.resume, progress=False)
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MolspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
