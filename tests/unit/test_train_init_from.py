"""`init_from`: a new run starts from a bundle's weights (the optimizer state did not travel)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from molspace.errors import ConfigError
from molspace.model.bundle import load_bundle
from molspace.model.config import load_train_config
from molspace.model.train import init_from_bundle, train
from molspace.model.vae import SelfiesVAE

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_vae"


def _fresh(**changes: object) -> SelfiesVAE:
    source = load_bundle(TINY)
    cfg = source.model.config.model_copy(update=changes)
    return SelfiesVAE(cfg, vocab_size=source.model.vocab_size, max_length=source.model.max_length)


def test_every_tensor_but_the_head_comes_from_the_bundle() -> None:
    source = load_bundle(TINY)
    model = _fresh(properties=("qed", "sa"), property_hidden=8)
    message = init_from_bundle(model, str(TINY))
    assert "initialized from" in message and "property_head" in message
    own = model.state_dict()
    for key, value in source.model.state_dict().items():
        if not key.startswith("property"):
            assert torch.equal(own[key], value), key


def test_another_architecture_is_refused() -> None:
    model = _fresh(decoder_hidden=48)
    with pytest.raises(ConfigError, match="architecture differs"):
        init_from_bundle(model, str(TINY))


def test_a_run_initialized_from_a_trained_bundle_starts_where_it_ended(
    tmp_path: Path, tiny_train_toml
) -> None:
    """Its first validation loss is the source's last, far below a fresh start's."""
    logs: list[str] = []
    config = load_train_config(tiny_train_toml(max_steps=60))
    first = train(config, tmp_path / "first", progress=False, log=logs.append)
    source_loss = first.best_val_loss
    fresh = train(
        config.model_copy(update={"max_steps": 1}),
        tmp_path / "fresh",
        progress=False,
        log=lambda m: None,
    )
    continued = train(
        config.model_copy(update={"max_steps": 1, "init_from": str(tmp_path / "first" / "best")}),
        tmp_path / "continued",
        progress=False,
        log=logs.append,
    )
    assert any(line.startswith("initialized from") for line in logs)
    assert continued.best_val_loss < fresh.best_val_loss
    assert continued.best_val_loss == pytest.approx(source_loss, rel=0.25)


def test_the_gpu_continue_recipe_fits_the_shipped_bundle() -> None:
    """`train_moses_gpu_continue.toml` (training/GPU.md) builds the shipped model's
    architecture, so its `init_from` loads every tensor; its head is trained jointly."""
    root = Path(__file__).resolve().parents[2]
    config = load_train_config(root / "workflows" / "configs" / "train_moses_gpu_continue.toml")
    shipped = load_bundle(None)
    assert (
        config.init_from is not None
        and (root / config.init_from).resolve() == shipped.path.resolve()
    )
    assert config.kl.beta_start == config.kl.beta_end  # no second KL warm-up
    assert config.model.properties and config.property_labels
    model = SelfiesVAE(
        config.model, vocab_size=shipped.model.vocab_size, max_length=shipped.model.max_length
    )
    message = init_from_bundle(model, str(root / config.init_from))
    assert "fresh" not in message  # the shipped head has the recipe's shape too
