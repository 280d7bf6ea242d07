"""The property head (QED, SA, cLogP from the posterior mean) trained with the VAE: it
learns, lives in the bundle, gives exact gradients, and can be added to a run resumed
from a checkpoint without one (the shipped MOSES run) while old bundles still load."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from molspace.errors import ConfigError, VocabularyError
from molspace.latent import LatentSpace
from molspace.model.checkpoint import load_checkpoint
from molspace.model.config import load_train_config
from molspace.model.train import train
from molspace.model.vae import SelfiesVAE

ROOT = Path(__file__).resolve().parents[2]
MOSES = ROOT / "libraries" / "moses" / "train.csv.gz"
TINY = ROOT / "tests" / "data" / "tiny_vae"
HEAD = ("qed", "sa", "clogp")

CONFIG = """
[train]
seed = 5
epochs = 100
max_steps = {max_steps}
eval_every_steps = 1000
log_every_steps = 1
threads = 1
property_weight = {weight}

[train.data]
path = "{data}"
cache_dir = "{cache}"
validation_fraction = 0.1

[train.model]
embedding_dim = 8
encoder_hidden = 16
latent_dim = 6
decoder_hidden = 24
properties = {properties}

[train.optim]
batch_size = 32
learning_rate = 3e-3

[train.kl]
hold_steps = 10
warmup_steps = 20
"""


def _config(tmp: Path, max_steps: int, properties: tuple[str, ...], weight: float = 1.0):  # type: ignore[no-untyped-def]
    data = tmp / "train.csv"
    if not data.exists():
        pd.read_csv(MOSES, nrows=300).to_csv(data, index=False)
    path = tmp / f"train-{max_steps}-{len(properties)}.toml"
    path.write_text(
        CONFIG.format(
            max_steps=max_steps,
            data=data,
            cache=tmp / "cache",
            weight=weight,
            properties="[" + ", ".join(f'"{p}"' for p in properties) + "]",
        )
    )
    return load_train_config(path)


def _prop_mse(run: Path) -> list[float]:
    with (run / "steps.csv").open() as handle:
        return [float(r["prop_mse"]) for r in csv.DictReader(handle) if r["prop_mse"]]


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A run trained 20 steps without a head, then resumed to step 80 with one."""
    from safetensors.torch import load_file

    tmp = tmp_path_factory.mktemp("head")
    run = tmp / "run"
    train(_config(tmp, 20, ()), run, progress=False, log=lambda _: None)
    shutil.copytree(run / "checkpoint", tmp / "old" / "checkpoint")
    before = load_file(str(run / "checkpoint" / "state.safetensors"))
    messages: list[str] = []
    train(_config(tmp, 80, HEAD), run, resume=True, progress=False, log=messages.append)
    assert any("added a property head (qed, sa, clogp)" in m for m in messages)
    return run, before


def test_resume_without_head_loads_every_old_tensor_and_starts_the_head_fresh(
    resumed: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    run, before = resumed
    config = _config(tmp_path, 80, HEAD)
    # load the head-less checkpoint as the resumed run did: old tensors exact, head fresh
    old_run = run.parent / "old"
    vocab = LatentSpace.load(run / "final").vocabulary
    torch.manual_seed(0)
    model = SelfiesVAE(config.model, len(vocab), vocab.max_length)
    fresh_head = {k: v.clone() for k, v in model.state_dict().items() if "property" in k}
    optimizer = torch.optim.Adam(model.parameters())
    load_checkpoint(
        old_run,
        model,
        optimizer,
        torch.Generator(),
        fresh=("property_head.", "property_mean", "property_std"),
    )
    for name, value in model.state_dict().items():
        if "property" in name:
            assert torch.equal(value, fresh_head[name])
        else:
            assert torch.equal(value, before[f"model.{name}"]), name
    # without allowing fresh tensors the same load is refused (strict)
    with pytest.raises(Exception, match="does not match"):
        load_checkpoint(old_run, model, torch.optim.Adam(model.parameters()), torch.Generator())


def test_the_head_learns_and_round_trips_through_the_bundle(
    resumed: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    run, _ = resumed
    mse = _prop_mse(run)
    assert len(mse) == 60 and np.isfinite(mse).all()  # steps 21..80 trained the head
    space = LatentSpace.load(run / "final")
    assert space.property_names == HEAD
    z = space.encode(["CCOc1ccc(C(=O)N2CCCC2)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1"])
    table = space.predict_properties(z)
    assert list(table.columns) == list(HEAD) and table.shape == (2, 3)
    assert np.isfinite(table.to_numpy()).all()
    # standardization is stored with the weights: predictions are in original units
    assert 0.0 < float(table["qed"].mean()) < 1.0 and 1.0 < float(table["sa"].mean()) < 10.0
    # the gradient is exact: it matches central differences of the predictions
    grad = space.property_gradient(z, "clogp")
    eps = 1e-3
    step = np.zeros_like(z)
    step[:, 2] = eps
    numeric = (
        space.predict_properties(z + step)["clogp"] - space.predict_properties(z - step)["clogp"]
    ).to_numpy() / (2 * eps)
    np.testing.assert_allclose(grad[:, 2], numeric, rtol=2e-2, atol=1e-3)
    # explore's property direction is that gradient, normalised
    from molspace.analysis.explore import head_direction

    direction = head_direction(space, z[0], "clogp")
    assert direction.source == "property_head"
    np.testing.assert_allclose(direction.vector, grad[0] / np.linalg.norm(grad[0]), rtol=1e-5)
    ahead = space.predict_properties(z[0] + 0.1 * direction.vector)["clogp"].iloc[0]
    assert ahead > table["clogp"].iloc[0]


def test_a_head_cannot_replace_another_on_resume(
    resumed: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    run, _ = resumed
    with pytest.raises(ConfigError, match="model"):
        train(_config(tmp_path, 90, ("qed",)), run, resume=True, progress=False, log=print)


def test_old_bundles_without_a_head_still_load_and_say_so() -> None:
    space = LatentSpace.load(TINY)
    assert space.property_names == ()
    z = space.sample_latent(2, seed=0)
    with pytest.raises(VocabularyError, match="no property head"):
        space.predict_properties(z)
    with pytest.raises(VocabularyError, match="no property head for 'qed'"):
        space.property_gradient(z, "qed")


def test_the_head_learns_from_the_trained_tiny_model() -> None:
    """The tiny model's encoder plus a fresh head: the property loss falls on real molecules."""
    from safetensors.torch import load_file

    from molspace.model.batches import batch_tensors, vae_losses
    from molspace.model.data import lengths_of
    from molspace.model.properties import property_values

    bundle = LatentSpace.load(TINY).bundle
    config = bundle.config.model_copy(update={"properties": HEAD})
    torch.manual_seed(0)
    model = SelfiesVAE(config, len(bundle.vocabulary), bundle.vocabulary.max_length)
    weights = load_file(str(TINY / "model.safetensors"))
    missing = model.load_state_dict(
        {k: v for k, v in weights.items() if "property" not in k}, strict=False
    ).missing_keys
    assert missing and all("property" in k for k in missing)
    from rdkit import Chem

    smiles = pd.read_csv(MOSES, nrows=64)["SMILES"].tolist()
    tokens, _, reasons = bundle.vocabulary.encode_smiles(smiles)
    keep = [i for i, r in enumerate(reasons) if r is None]
    targets = np.stack([property_values(Chem.MolFromSmiles(smiles[i]), HEAD) for i in keep])
    mean, std = targets.mean(0), targets.std(0)
    model.property_mean.copy_(torch.from_numpy(mean))  # type: ignore[operator]
    model.property_std.copy_(torch.from_numpy(std))  # type: ignore[operator]
    props = torch.from_numpy(((targets - mean) / std).astype(np.float32))
    rows = tokens[keep]
    assert (lengths_of(rows) > 1).all()
    batch, lengths = batch_tensors(rows, np.arange(len(rows)), torch.device("cpu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    history = []
    for _ in range(40):
        losses = vae_losses(model, batch, lengths, 0.1, generator, props)
        loss = losses["recon"] + 0.1 * losses["kl_free"] + 10.0 * losses["prop_mse"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(losses["prop_mse"].detach()))
    assert history[-1] < 0.5 * history[0], history[::8]


def test_the_shipped_recipe_resumes_the_shipped_checkpoint_with_its_head() -> None:
    """``scripts/train_moses.sh`` resumes ``training/moses_vae`` with the recipe file: the
    head it names may be added; any other change to what the model learns is refused."""
    from molspace.model.train import _resolve_config

    recipe = ROOT / "workflows" / "configs" / "train_moses.toml"
    shipped = ROOT / "training" / "moses_vae"
    config = load_train_config(recipe)
    assert config.model.properties == HEAD
    assert _resolve_config(shipped, config, resume=True) is config
    with pytest.raises(ConfigError, match="optim"):
        _resolve_config(shipped, load_train_config(recipe, {"optim.batch_size": 512}), resume=True)


def test_property_labels_label_a_seeded_subset(tmp_path: Path) -> None:
    """``property_labels`` computes targets for that many training molecules (plus the
    scored validation ones) instead of all; the masked loss stays finite on batches with
    few or no labelled rows; and the setting may come with a head added on resume."""
    from molspace.model.train import _resolve_config

    run = tmp_path / "run"
    train(_config(tmp_path, 10, ()), run, progress=False, log=lambda _: None)
    config = _config(tmp_path, 40, HEAD).model_copy(update={"property_labels": 100})
    assert _resolve_config(run, config, resume=True) is config
    train(config, run, resume=True, progress=False, log=lambda _: None)
    (cached,) = (tmp_path / "cache").glob("props-*-qed-sa-clogp-*of*s5.npy")
    labelled, total = (int(x) for x in cached.stem.rsplit("-", 1)[1][:-2].split("of"))
    assert 100 < labelled < total == 300  # the subset plus the validation rows
    assert np.load(cached, allow_pickle=False).shape == (labelled, len(HEAD))
    losses = _prop_mse(run)
    assert len(losses) == 30 and np.isfinite(losses).all()
    assert LatentSpace.load(run / "final").property_names == HEAD
