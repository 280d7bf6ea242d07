"""Export a training run as a shipped bundle, with a model card generated from its metrics.

``export_run(run_dir, dest)`` takes the run's best bundle (or a bundle built from
its latest checkpoint), verifies it loads, runs a quick evaluation (prior samples
and reconstruction of held-out molecules) and writes ``MODEL_CARD.md`` beside it.
It can run while training goes on: every file it reads is written atomically.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from molspace.errors import BundleError, InputError
from molspace.latent.curve import read_curve, update_card_curve, write_curve
from molspace.model.bundle import DEFAULT_BUNDLE, load_bundle, save_bundle

__all__ = ["bundle_from_checkpoint", "export_run", "write_model_card"]


def bundle_from_checkpoint(run_dir: str | Path, dest: str | Path) -> Path:
    """A bundle of the model weights in ``run_dir/checkpoint`` (the latest state of a run)."""
    from safetensors.torch import load_file

    from molspace.model.checkpoint import CHECKPOINT_DIR, read_checkpoint_state
    from molspace.model.config import TrainConfig
    from molspace.model.vae import SelfiesVAE
    from molspace.model.vocabulary import Vocabulary

    run = Path(run_dir)
    state = read_checkpoint_state(run)
    config = TrainConfig.model_validate(state["config"])
    vocabulary = Vocabulary.from_dict(state["vocabulary"])
    model = SelfiesVAE(config.model, len(vocabulary), vocabulary.max_length)
    tensors = load_file(str(run / CHECKPOINT_DIR / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    summary = _read_json(run / "metrics.json")
    info = {k: v for k, v in summary.items() if k not in ("state", "versions")}
    info.update(
        steps=state["step"],
        train_hours=round(state["elapsed_s"] / 3600, 4),
        epochs=round(state["molecules_seen"] / max(1, info.get("n_train", 1)), 4),
        validation=state.get("last_eval"),
        source="checkpoint",
    )
    return save_bundle(dest, model.eval(), vocabulary, info)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def quick_evaluation(
    bundle_dir: Path,
    *,
    n_samples: int,
    n_reconstruct: int,
    test_path: Path | None,
    train_path: Path | None,
    seed: int = 0,
) -> dict[str, Any]:
    """Prior-sample statistics and test-set reconstruction of a bundle, with throughputs."""
    from molspace.latent import LatentSpace
    from molspace.latent.evaluation import prior_sample_statistics, reconstruction_accuracy

    space = LatentSpace.load(bundle_dir)
    test = None
    if test_path is not None and test_path.is_file():
        test = pd.read_csv(test_path)["SMILES"].astype(str).tolist()
    training = None
    if train_path is not None and train_path.is_file():
        training = set(pd.read_csv(train_path)["SMILES"].astype(str))
    result: dict[str, Any] = {"n_samples": n_samples, "seed": seed}
    stats = prior_sample_statistics(
        space, n_samples, seed, reference_smiles=test, training_smiles=training
    )
    timing_z = space.sample_latent(min(n_samples, 2000), seed + 1)
    start, cpu = time.perf_counter(), time.process_time()
    space.decode(timing_z)
    result["decode_per_s"] = round(len(timing_z) / (time.perf_counter() - start), 1)
    result["decode_per_cpu_s"] = round(len(timing_z) / max(1e-9, time.process_time() - cpu), 1)
    result["prior"] = stats.summary()
    if test is not None and n_reconstruct > 0:
        import numpy as np

        rng = np.random.default_rng(seed)
        subset = [
            test[i] for i in rng.choice(len(test), min(n_reconstruct, len(test)), replace=False)
        ]
        start, cpu = time.perf_counter(), time.process_time()
        space.encode_table(pd.DataFrame({"smiles": subset}))
        result["encode_per_s"] = round(len(subset) / (time.perf_counter() - start), 1)
        result["encode_per_cpu_s"] = round(len(subset) / max(1e-9, time.process_time() - cpu), 1)
        recon = reconstruction_accuracy(space, subset)
        result["reconstruction"] = recon.summary()
    return result


def export_run(
    run_dir: str | Path,
    dest: str | Path = DEFAULT_BUNDLE,
    *,
    which: Literal["best", "checkpoint", "final"] = "best",
    n_samples: int = 2000,
    n_reconstruct: int = 1000,
    test_path: str | Path | None = "libraries/moses/test.csv.gz",
    train_path: str | Path | None = "libraries/moses/train.csv.gz",
) -> Path:
    """Install a run's model at ``dest`` (default: the shipped model) with a model card."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(f"{run}: run directory not found")
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "bundle"
        if which == "checkpoint":
            bundle_from_checkpoint(run, staged)
        else:
            source = run / which
            load_bundle(source)  # verify before installing
            shutil.copytree(source, staged)
        load_bundle(staged)
        evaluation = (
            quick_evaluation(
                staged,
                n_samples=n_samples,
                n_reconstruct=n_reconstruct,
                test_path=Path(test_path) if test_path else None,
                train_path=Path(train_path) if train_path else None,
            )
            if n_samples > 0
            else {}
        )
        bundle = load_bundle(staged)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        curve = read_curve(target)  # the figures of earlier exports stay with the model
        save_bundle(target, bundle.model, bundle.vocabulary, bundle.metadata["training"])
    if curve:
        write_curve(target, curve)
    write_model_card(target, run, evaluation)
    update_card_curve(target)
    (target / "evaluation.json").write_text(json.dumps(evaluation, indent=1) + "\n")
    load_bundle(target)
    return target


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _decoder_text(model_cfg: dict[str, Any]) -> str:
    """The model card's words for the decoder (bundles without ``decoder`` are GRUs)."""
    if model_cfg.get("decoder") == "transformer":
        return (
            f"Transformer decoder {model_cfg['decoder_layers']}x{model_cfg['decoder_hidden']} "
            f"({model_cfg['decoder_heads']} heads, FF {model_cfg['decoder_ff']}, pre-norm, "
            "causal) conditioned on z (added to every input)"
        )
    return (
        f"GRU decoder {model_cfg['decoder_layers']}x{model_cfg['decoder_hidden']} "
        "conditioned on z (initial state + every input)"
    )


def _head_text(model_cfg: dict[str, Any], head: dict[str, Any] | None) -> str:
    names = ", ".join(model_cfg.get("properties") or [])
    if not names:
        return "none"
    if not head:
        return f"{names} (trained with the model, from the latent mean)"
    r2 = ", ".join(f"{k} {v:.3f}" for k, v in head.get("validation_r2", {}).items())
    return (
        f"{names}, {model_cfg.get('property_hidden')} hidden units, fitted {head.get('fitted')} "
        f"on {head.get('n_train', 0):,} labelled molecules; validation R^2 {r2} "
        f"({head.get('n_validation', 0):,} molecules)"
    )


def _reproduce_lines(device: str, head: dict[str, Any] | None) -> list[str]:
    if device.startswith("cuda"):  # trained on a borrowed GPU (training/GPU.md)
        lines = [
            "# training/GPU.md: pack here, train on the GPU machine, collect here",
            ".venv/bin/python scripts/device_train.py pack",
            "python3 scripts/device_train.py train --minutes 7   # on the GPU machine",
            ".venv/bin/python scripts/device_train.py collect FILES_AT --run runs/gpu_vae",
        ]
        if head:
            lines += [
                "mv runs/gpu_vae/best runs/gpu_vae/best_nohead",
                ".venv/bin/python scripts/fit_property_head.py runs/gpu_vae/best_nohead "
                "runs/gpu_vae/best",
            ]
        return [*lines, ".venv/bin/python scripts/export_bundle.py runs/gpu_vae   # export"]
    return [
        "scripts/train_moses.sh                # start, or resume (from training/moses_vae)",
        "kill -TERM $(cat runs/moses_vae/train.pid)   # stop: checkpoint saved, exit code 75",
        "python scripts/export_bundle.py runs/moses_vae                                # export",
    ]


def write_model_card(
    bundle_dir: str | Path, run_dir: str | Path, evaluation: dict[str, Any]
) -> Path:
    """``MODEL_CARD.md`` of a bundle: data, architecture, training, metrics (from the run)."""
    root = Path(bundle_dir)
    try:
        meta = json.loads((root / "model.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise BundleError(f"{root}: cannot read model.json ({exc})") from None
    training = meta.get("training", {})
    arch = meta["architecture"]
    cfg = training.get("config", {})
    model_cfg = arch["config"]
    kl = cfg.get("kl", {})
    optim = cfg.get("optim", {})
    val = training.get("validation") or {}
    run = Path(run_dir)
    state = _read_json(run / "metrics.json").get("state", {})
    status = "finished" if state.get("done") else "in progress (exported from a running training)"
    prior = evaluation.get("prior", {})
    recon = evaluation.get("reconstruction", {})
    steps_csv = run / "steps.csv"
    rate = None
    if steps_csv.is_file():
        steps = pd.read_csv(steps_csv)
        if len(steps):
            rate = float(steps["mol_per_s"].tail(50).median())
    lines = [
        "# molspace default model: SELFIES VAE trained on MOSES",
        "",
        "The default model of every molspace command (`load_bundle(None)`, `LatentSpace.load()`).",
        "Generated by `scripts/export_bundle.py` from the training run's own metrics.",
        "",
        "## Model",
        f"- Architecture: {arch['name']}: embedding {model_cfg['embedding_dim']}, "
        f"{'bidirectional ' if model_cfg['encoder_bidirectional'] else ''}GRU encoder "
        f"{model_cfg['encoder_layers']}x{model_cfg['encoder_hidden']}, Gaussian latent "
        f"{model_cfg['latent_dim']}, {_decoder_text(model_cfg)}",
        f"- Parameters: {arch['num_parameters']:,}; weights file "
        f"{meta['weights']['bytes']:,} bytes "
        f"(sha256 `{meta['weights']['sha256'][:16]}...`)",
        f"- Vocabulary: {arch['vocab_size']} SELFIES symbols (incl. `[nop]`, `<start>`, `<end>`), "
        f"max length {arch['max_length']} symbols; stereo "
        f"{'kept' if meta['vocabulary'].get('stereo') else 'removed before encoding'}",
        f"- Property head: {_head_text(model_cfg, training.get('property_head'))}",
        "",
        "## Data",
        f"- Training set: `{training.get('data', 'n/a')}` (MOSES train split), "
        f"sha256 `{str(training.get('data_hash', 'n/a'))[:16]}...`",
        f"- {_fmt(training.get('n_input'))} input molecules, {_fmt(training.get('n_rejected'))} "
        f"rejected (not strictly SELFIES-encodable or over the length), "
        f"{_fmt(training.get('n_train'))} train / {_fmt(training.get('n_validation'))} validation "
        f"(seeded split, seed {training.get('seed')})",
        "",
        "## Training",
        f"- Status: {status}",
        f"- Steps {_fmt(training.get('steps'))}, epochs {_fmt(training.get('epochs'), 2)}, "
        f"training time {_fmt(training.get('train_hours'), 2)} h",
        f"- Hardware: {training.get('hardware', 'n/a')}; bf16 autocast: {cfg.get('bf16')}; "
        f"recent throughput {_fmt(rate, 0)} molecules/s",
        f"- Optimizer: Adam, batch {optim.get('batch_size')}, lr {optim.get('learning_rate')} "
        f"(cosine to x{optim.get('lr_final_ratio')}), grad clip {optim.get('grad_clip')}, "
        f"length-bucketed batches",
        f"- KL schedule: beta {kl.get('beta_start')} for {kl.get('hold_steps')} steps, linear to "
        f"{kl.get('beta_end')} over {kl.get('warmup_steps')} steps; free bits "
        f"{kl.get('free_bits')} nats per dimension. Reconstruction is summed over tokens, so "
        "beta < 1 keeps the latent informative (reconstruction) while the KL term keeps the "
        "aggregate posterior close to N(0, I) (prior samples).",
        "",
        "## Validation (held-out MOSES train molecules, at the exported step)",
        f"- loss {_fmt(val.get('loss'))} = reconstruction {_fmt(val.get('recon'))} nats + "
        f"{kl.get('beta_end')} x KL {_fmt(val.get('kl'))} nats",
        f"- token accuracy (teacher forcing) {_fmt(val.get('token_acc'))}; exact greedy "
        f"reconstruction {_fmt(val.get('exact'))}; active latent units "
        f"{_fmt(val.get('active_units'))}/{model_cfg['latent_dim']}",
    ]
    if evaluation:
        lines += [
            "",
            f"## Quick evaluation at export (seed {evaluation.get('seed')})",
            f"- {evaluation.get('n_samples'):,} prior samples (greedy): validity "
            f"{_fmt(prior.get('validity'))}, uniqueness {_fmt(prior.get('uniqueness'))}, novelty "
            f"{_fmt(prior.get('novelty'))}, mean heavy atoms "
            f"{_fmt(prior.get('mean_heavy_atoms'), 2)}"
            f" vs test {_fmt(prior.get('reference_mean_heavy_atoms'), 2)} (ratio "
            f"{_fmt(prior.get('heavy_atoms_ratio'))}), fraction < 10 heavy atoms "
            f"{_fmt(prior.get('fraction_tiny'))}",
        ]
        if recon:
            lines.append(
                f"- Reconstruction of {recon['n_input']:,} MOSES test molecules (greedy, exact "
                f"canonical match): {_fmt(recon['accuracy'])} ({recon['n_encodable']:,} encodable)"
            )
        lines.append(
            f"- Throughput at export (molecules per wall-clock second / per CPU-second; the "
            f"machine may be shared): encode {_fmt(evaluation.get('encode_per_s'), 0)} / "
            f"{_fmt(evaluation.get('encode_per_cpu_s'), 0)}, greedy decode incl. SELFIES and "
            f"RDKit {_fmt(evaluation.get('decode_per_s'), 0)} / "
            f"{_fmt(evaluation.get('decode_per_cpu_s'), 0)}"
        )
    lines += [
        "",
        "The full MOSES metric set (FCD, SNN, Frag, Scaf, IntDiv, Filters on 30,000 samples) is "
        "printed by `benchmarks/vae.py` / `molspace evaluate`.",
        "",
        "## Reproduce / continue",
        "```",
        *_reproduce_lines(str(cfg.get("device", "cpu")), training.get("property_head")),
        "```",
        "",
        f"molspace {meta.get('molspace_version')}; torch {meta.get('versions', {}).get('torch')}; "
        f"rdkit {meta.get('versions', {}).get('rdkit')}; selfies "
        f"{meta.get('versions', {}).get('selfies')}; exported {meta.get('created')}.",
        "",
    ]
    card = root / "MODEL_CARD.md"
    card.write_text("\n".join(lines))
    return card
