"""The Transformer decoder option: it trains (bf16 autocast included), step-by-step
generation with its KV cache agrees with the teacher-forced logits, it is causal, its
bundle round-trips, and GRU bundles (the shipped one has no ``decoder`` key) load and
decode exactly as before the option existed."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from molspace.model.bundle import DEFAULT_BUNDLE, load_bundle, save_bundle
from molspace.model.config import ModelConfig, load_train_config
from molspace.model.train import TrainResult, train
from molspace.model.vae import SelfiesVAE
from molspace.model.vocabulary import BOS, EOS, PAD

ROOT = Path(__file__).resolve().parents[2]
MOSES = ROOT / "libraries" / "moses" / "train.csv.gz"

CONFIG = """
[train]
seed = 3
epochs = 50
max_steps = 40
eval_every_steps = 1000
log_every_steps = 1
threads = 1
bf16 = true

[train.data]
path = "{data}"
cache_dir = "{cache}"
validation_fraction = 0.1

[train.model]
embedding_dim = 8
encoder_hidden = 16
latent_dim = 4
decoder = "transformer"
decoder_hidden = 32
decoder_layers = 2
decoder_heads = 4
decoder_ff = 64

[train.optim]
batch_size = 32
learning_rate = 3e-3

[train.kl]
hold_steps = 5
warmup_steps = 20
"""


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainResult:
    """A tiny Transformer-decoder VAE trained 40 steps with bf16 autocast."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("tdec")
    data = tmp / "train.csv"
    pd.read_csv(MOSES, nrows=400).to_csv(data, index=False)
    toml = tmp / "train.toml"
    toml.write_text(CONFIG.format(data=data, cache=tmp / "cache"))
    config = load_train_config(toml)
    return train(config, tmp / "run", progress=False, log=lambda _: None)


def _steps(run: Path) -> list[float]:
    with (run / "steps.csv").open() as handle:
        return [float(row["recon"]) for row in csv.DictReader(handle)]


def test_transformer_trains_with_bf16_and_the_loss_drops(trained: TrainResult) -> None:
    recon = _steps(trained.run_dir)
    assert len(recon) == 40
    assert np.mean(recon[-5:]) < 0.8 * np.mean(recon[:5])
    meta = json.loads((trained.final_bundle / "model.json").read_text())  # type: ignore[operator]
    assert meta["architecture"]["config"]["decoder"] == "transformer"
    assert meta["architecture"]["name"] == "selfies-gru-transformer-vae"
    assert meta["training"]["config"]["bf16"] is True


def _greedy_inputs(rows: torch.Tensor) -> torch.Tensor:
    """Decoder inputs ``<start> s_1 ...`` of generated rows, as ``forward`` builds them."""
    inputs = torch.full_like(rows, PAD)
    inputs[:, 0] = BOS
    inputs[:, 1:] = rows[:, :-1]
    return inputs.masked_fill(inputs == EOS, PAD)


def test_step_by_step_generation_matches_teacher_forcing(trained: TrainResult) -> None:
    """Greedy tokens from the KV-cached loop are the argmax of the teacher-forced logits
    fed with the generated prefix, and the cached step logits equal those logits."""
    bundle = load_bundle(trained.best_bundle)
    model: SelfiesVAE = bundle.model
    start_mask = torch.from_numpy(bundle.vocabulary.start_mask())
    z = torch.randn(24, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rows = model.generate(z, start_mask)
        logits = model.decode_logits(z, _greedy_inputs(rows)).float()
        forbid = torch.zeros(model.vocab_size, dtype=torch.bool)
        forbid[[PAD, BOS]] = True
        masked = logits.masked_fill(forbid, float("-inf"))
        masked[:, 0] = logits[:, 0].masked_fill(~start_mask, float("-inf"))
        # compare up to and including each row's <end> (after it, generate writes padding)
        ends = (rows == EOS).int().argmax(1)
        live = torch.arange(rows.shape[1]) <= ends[:, None]
        live[:, -1] = False  # the last step is a forced <end>, not an argmax
        assert bool((masked.argmax(-1) == rows)[live].all())
        # the cached steps give the same logits as the parallel pass (no row dropping here)
        emb = model.embedding(_greedy_inputs(rows))
        cache = None
        for t in range(rows.shape[1]):
            assert model.transformer is not None
            step, cache = model.transformer(emb[:, t : t + 1], z, start=t, cache=cache)
            torch.testing.assert_close(step[:, 0].float(), logits[:, t], atol=2e-4, rtol=1e-4)


def test_decoder_is_causal(trained: TrainResult) -> None:
    """Changing input t changes no logits before position t."""
    model = load_bundle(trained.best_bundle).model
    z = torch.randn(4, model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    inputs = torch.randint(4, model.vocab_size, (4, 20), generator=torch.Generator().manual_seed(2))
    inputs[:, 0] = BOS
    changed = inputs.clone()
    changed[:, 12] = (changed[:, 12] + 1 - 4) % (model.vocab_size - 4) + 4
    with torch.no_grad():
        a = model.decode_logits(z, inputs)
        b = model.decode_logits(z, changed)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_transformer_bundle_round_trip(trained: TrainResult, tmp_path: Path) -> None:
    bundle = load_bundle(trained.best_bundle)
    again = load_bundle(save_bundle(tmp_path / "copy", bundle.model, bundle.vocabulary))
    for key, value in bundle.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    start_mask = torch.from_numpy(bundle.vocabulary.start_mask())
    z = torch.randn(32, bundle.latent_dim, generator=torch.Generator().manual_seed(3))
    for model in (bundle.model, again.model):
        assert model.config.decoder == "transformer"
    assert torch.equal(bundle.model.generate(z, start_mask), again.model.generate(z, start_mask))
    sampled = [
        m.generate(z, start_mask, temperature=1.0, generator=torch.Generator().manual_seed(4))
        for m in (bundle.model, again.model)
    ]
    assert torch.equal(sampled[0], sampled[1])


def _gru_generate_before_the_option(
    model: SelfiesVAE,
    z: torch.Tensor,
    start_mask: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``SelfiesVAE.generate`` as it was before the Transformer option (verbatim loop)."""
    batch = z.shape[0]
    out = torch.full((batch, model.max_length + 1), PAD, dtype=torch.long)
    h = model.initial_hidden(z)
    active = torch.arange(batch)
    z_act = z
    token = torch.full((batch,), BOS, dtype=torch.long)
    forbid = torch.zeros(model.vocab_size, dtype=torch.bool)
    forbid[PAD] = True
    forbid[BOS] = True
    first_forbid = ~start_mask
    for step in range(model.max_length + 1):
        x = torch.cat([model.embedding(token), z_act], dim=-1).unsqueeze(1)
        o, h = model.decoder_rnn(x, h)
        logits = model.output(o[:, 0]).float()
        mask = first_forbid if step == 0 else forbid
        logits = logits.masked_fill(mask, float("-inf"))
        if step == model.max_length:
            token = torch.full_like(token, EOS)
        elif temperature <= 0.0:
            token = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        out[active, step] = token
        running = token != EOS
        if not bool(running.any()):
            break
        if not bool(running.all()):
            active = active[running]
            token = token[running]
            z_act = z_act[running]
            h = h[:, running].contiguous()
    return out


def test_shipped_gru_bundle_loads_and_decodes_as_before(tmp_path: Path) -> None:
    """A bundle written before the decoder option (no ``decoder`` keys: the shipped
    weights with those keys taken out of ``model.json``) is a GRU and decodes
    byte-identically."""
    torch.set_num_threads(1)
    old_format = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, old_format)
    meta = json.loads((old_format / "model.json").read_text())
    config = meta["architecture"]["config"]
    for key in ("decoder", "decoder_heads", "decoder_ff"):
        config.pop(key, None)
    (old_format / "model.json").write_text(json.dumps(meta, indent=2))
    bundle = load_bundle(old_format)
    model = bundle.model
    assert model.config.decoder == "gru" and model.transformer is None
    start_mask = torch.from_numpy(bundle.vocabulary.start_mask())
    z = torch.from_numpy(np.random.default_rng(4).standard_normal((64, 64)).astype(np.float32))
    with torch.inference_mode():
        for temperature in (0.0, 1.0):
            new = model.generate(
                z, start_mask, temperature=temperature, generator=torch.Generator().manual_seed(1)
            )
            old = _gru_generate_before_the_option(
                model, z, start_mask, temperature, torch.Generator().manual_seed(1)
            )
            assert torch.equal(new, old)


def test_transformer_config_checks_heads() -> None:
    with pytest.raises(ValueError, match="multiple of decoder_heads"):
        ModelConfig(decoder="transformer", decoder_hidden=30, decoder_heads=4)
    ModelConfig(decoder="gru", decoder_hidden=30, decoder_heads=4)  # heads unused by the GRU


def test_max_cpu_minutes_stops_a_run_with_its_bundle(tmp_path: Path) -> None:
    """``max_cpu_minutes`` ends training once the steps used that much CPU time."""
    torch.set_num_threads(1)
    data = tmp_path / "train.csv"
    pd.read_csv(MOSES, nrows=200).to_csv(data, index=False)
    toml = tmp_path / "train.toml"
    toml.write_text(CONFIG.format(data=data, cache=tmp_path / "cache"))
    config = load_train_config(toml, {"max_steps": 10_000, "max_cpu_minutes": 0.02})
    result = train(config, tmp_path / "run", progress=False, log=lambda _: None)
    state = json.loads((tmp_path / "run" / "metrics.json").read_text())["state"]
    assert 1 <= result.steps < 10_000
    assert 1.2 <= state["cpu_s"] < 1.2 + 1.0  # stops at the first step past the budget
    assert (result.final_bundle / "model.json").is_file()  # type: ignore[operator]


def test_weighted_retraining_fine_tunes_a_transformer(trained: TrainResult) -> None:
    """The optimizer's fine-tuning (``retrain.fine_tune``) runs on the Transformer decoder."""
    from molspace.optimization.retrain import fine_tune

    bundle = load_bundle(trained.best_bundle)
    before = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    smiles = pd.read_csv(MOSES, nrows=12)["SMILES"].tolist()
    stats = fine_tune(
        bundle.model,
        bundle.vocabulary,
        smiles,
        np.linspace(0.0, 1.0, len(smiles)),
        steps=3,
        batch_size=8,
        learning_rate=1e-3,
        k=1e-2,
        beta=0.1,
        free_bits=0.05,
        seed=0,
    )
    assert stats.steps == 3 and np.isfinite(stats.loss)
    assert not torch.equal(
        before["transformer.output.weight"], bundle.model.transformer.output.weight
    )
