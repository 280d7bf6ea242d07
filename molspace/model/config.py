"""Validated configuration of the VAE architecture and of a training run (TOML ``[train]``).

Defaults are the shipped MOSES model's settings; every field has bounds so a typo
or an absurd value fails with the key named instead of a long wasted run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from molspace.config import StrictModel, parse_config, read_toml

__all__ = [
    "DataConfig",
    "KLConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "load_train_config",
    "parse_overrides",
]

PROPERTY_CHOICES = ("qed", "sa", "clogp", "mw", "tpsa")


class ModelConfig(StrictModel):
    """Sizes of the SELFIES VAE (vocabulary size and max length come from the data).

    ``decoder`` picks the decoder: the GRU (every bundle written before the option
    existed has no ``decoder`` key and loads as one) or a pre-norm causal Transformer,
    parallel over positions in training, whose width is ``decoder_hidden`` (d_model),
    depth ``decoder_layers``, with ``decoder_heads`` heads and a ``decoder_ff`` wide
    feed-forward layer (both used by the Transformer only).
    """

    embedding_dim: int = Field(64, ge=4, le=1024)
    encoder_hidden: int = Field(256, ge=8, le=4096)
    encoder_layers: int = Field(1, ge=1, le=6)
    encoder_bidirectional: bool = True
    latent_dim: int = Field(64, ge=2, le=1024)
    decoder: Literal["gru", "transformer"] = "gru"
    decoder_hidden: int = Field(512, ge=8, le=4096)
    decoder_layers: int = Field(1, ge=1, le=6)
    decoder_heads: int = Field(4, ge=1, le=64)
    decoder_ff: int = Field(1024, ge=8, le=16384)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    #: properties predicted from z (standardized), trained jointly so latent directions follow them
    properties: tuple[Literal["qed", "sa", "clogp", "mw", "tpsa"], ...] = ()
    property_hidden: int = Field(64, ge=4, le=1024)

    @model_validator(mode="after")
    def _check_heads(self) -> ModelConfig:
        if self.decoder == "transformer" and self.decoder_hidden % self.decoder_heads:
            raise ValueError(
                f"decoder_hidden ({self.decoder_hidden}) must be a multiple of "
                f"decoder_heads ({self.decoder_heads})"
            )
        return self


class DataConfig(StrictModel):
    """Where the training molecules come from and how they are tokenized."""

    path: str = "libraries/moses/train.csv.gz"
    smiles_column: str | None = None
    #: use a seeded random subset of this many molecules (None = all)
    max_molecules: int | None = Field(None, ge=10)
    validation_fraction: float = Field(0.01, gt=0.0, lt=0.5)
    #: at most this many validation molecules are scored at each evaluation
    max_validation: int = Field(10_000, ge=10)
    #: SELFIES symbols per molecule (None = the longest training molecule); longer ones are rejected
    max_length: int | None = Field(None, ge=4, le=1000)
    stereo: bool = False
    cache_dir: str = "runs/cache"
    #: worker processes for the one-off SELFIES encoding
    processes: int = Field(1, ge=1, le=64)
    #: fail when more than this fraction of the input cannot be encoded (a wrong column, say)
    max_reject_fraction: float = Field(0.05, ge=0.0, le=1.0)


class OptimConfig(StrictModel):
    batch_size: int = Field(256, ge=2, le=65536)
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0)
    #: cosine decay from learning_rate down to learning_rate * lr_final_ratio over the run
    lr_final_ratio: float = Field(0.1, gt=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: float = Field(5.0, gt=0.0)
    #: molecules are sorted by length within pools of this many batches (less padding)
    bucket_batches: int = Field(50, ge=1)


class KLConfig(StrictModel):
    """KL weight schedule (beta) and free bits against posterior collapse.

    beta stays at ``beta_start`` for ``hold_steps``, rises linearly to ``beta_end``
    over ``warmup_steps``, then stays. Free bits: KL per latent dimension below
    ``free_bits`` nats is not penalized, so dimensions stay informative.
    """

    beta_start: float = Field(0.0, ge=0.0)
    beta_end: float = Field(0.1, ge=0.0)
    hold_steps: int = Field(1000, ge=0)
    warmup_steps: int = Field(10_000, ge=0)
    free_bits: float = Field(0.05, ge=0.0)

    def beta(self, step: int) -> float:
        if step < self.hold_steps:
            return self.beta_start
        if self.warmup_steps == 0:
            return self.beta_end
        frac = min(1.0, (step - self.hold_steps) / self.warmup_steps)
        return self.beta_start + frac * (self.beta_end - self.beta_start)


class TrainConfig(StrictModel):
    """A training run: data, model, optimizer, KL schedule, stopping and checkpoints."""

    seed: int = 0
    epochs: int = Field(10, ge=1)
    #: stop after this many optimizer steps (None = epochs decide)
    max_steps: int | None = Field(None, ge=1)
    #: stop after this many hours of training wall time (None = no limit)
    max_hours: float | None = Field(None, gt=0.0)
    #: stop after this many minutes of this process's CPU time in training steps (evaluation
    #: excluded; None = no limit): equal-compute comparisons on a shared machine, where wall
    #: time depends on the other jobs (``scripts/decoder_compare.py``)
    max_cpu_minutes: float | None = Field(None, gt=0.0)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    kl: KLConfig = KLConfig()
    #: validate every this many steps (and at each epoch end)
    eval_every_steps: int = Field(2000, ge=1)
    #: early stopping: evaluations without improvement of the validation loss
    patience: int = Field(10, ge=1)
    min_delta: float = Field(0.0, ge=0.0)
    #: write a resumable checkpoint at least this often (minutes of wall time) and at epoch ends
    checkpoint_minutes: float = Field(10.0, gt=0.0)
    log_every_steps: int = Field(100, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: torch CPU threads (None = torch's default)
    threads: int | None = Field(None, ge=1, le=256)
    #: data-parallel training processes (torch.distributed, gloo, CPU only): each trains on
    #: its share of every batch of ``optim.batch_size`` with ``threads`` threads, gradients
    #: are summed, rank 0 writes everything. 1 = one process. May change on resume.
    processes: int = Field(1, ge=1, le=64)
    #: bf16 autocast (CUDA, or CPUs with native bf16); measured, off by default on CPU
    bf16: bool = False
    #: weight of the property head's MSE (standardized targets) in the loss
    property_weight: float = Field(1.0, ge=0.0, le=1000.0)
    #: label only a seeded random subset of this many training molecules (plus the scored
    #: validation ones) with property targets; the head's loss skips the rest. The targets
    #: cost RDKit time on every fresh machine (MOSES in full: ~80 CPU-minutes). None = all.
    property_labels: int | None = Field(None, ge=100)
    #: start a new run from this bundle's weights (same architecture; the optimizer, the
    #: learning-rate schedule and the KL warm-up start afresh): training continues a model
    #: whose optimizer state did not travel, e.g. the shipped one on a borrowed GPU
    init_from: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.kl.beta_end < self.kl.beta_start:
            raise ValueError("kl.beta_end must be >= kl.beta_start")
        return self


def load_train_config(path: str | Path | None, overrides: dict | None = None) -> TrainConfig:
    """TrainConfig from a TOML file (its ``[train]`` table, or the whole file) plus overrides."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        raw = read_toml(path)
        data = raw.get("train", raw) if isinstance(raw.get("train"), dict) else raw
        source = f"{path} [train]" if "train" in raw else str(path)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return parse_config(TrainConfig, data, source)


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set key=value`` pairs as a dict: values are JSON where they parse (numbers,
    booleans, lists), plain strings otherwise."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            parsed[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.strip()] = value
    return parsed
