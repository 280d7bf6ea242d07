"""``molspace train`` end to end on a tiny real data set, then export with a model card."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from molspace.cli import app
from molspace.errors import ConfigError, InputError
from molspace.latent.export import export_run
from molspace.model.bundle import load_bundle

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[train]
seed = 1
epochs = 2
eval_every_steps = 10
log_every_steps = 5
threads = 1

[train.data]
path = "{data}"
cache_dir = "{cache}"
validation_fraction = 0.1
max_length = 48

[train.model]
embedding_dim = 8
encoder_hidden = 16
latent_dim = 4
decoder_hidden = 32
properties = ["qed", "clogp"]

[train.optim]
batch_size = 32

[train.kl]
hold_steps = 2
warmup_steps = 10
"""


@pytest.mark.slow
def test_train_cli_then_export(tmp_path: Path) -> None:
    data = tmp_path / "mols.csv"
    smiles = pd.read_csv(ROOT / "libraries" / "moses" / "train.csv.gz", nrows=300)
    # one bad row and one over max_length: rejected with reasons (never truncated), training goes on
    smiles = pd.concat([smiles, pd.DataFrame({"SMILES": ["not_smiles", "C" * 55]})])
    smiles.to_csv(data, index=False)
    config = tmp_path / "train.toml"
    config.write_text(CONFIG.format(data=data, cache=tmp_path / "cache"))
    run = tmp_path / "run"

    result = CliRunner().invoke(app, ["train", str(config), "--out", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "best bundle" in result.stdout
    rejects = pd.read_csv(run / "rejects.csv")
    assert len(rejects) == 2 and set(rejects["input"]) == {"not_smiles", "C" * 55}
    assert rejects["reason"].str.startswith("too_long_for_model").sum() == 1
    metrics = pd.read_csv(run / "metrics.csv")
    assert len(metrics) >= 2 and metrics["val_prop_mse"].notna().all()
    bundle = load_bundle(run / "best")
    assert bundle.property_names == ("qed", "clogp")
    assert bundle.metadata["training"]["n_rejected"] == 2

    # resuming with another architecture is refused, naming the key
    other = tmp_path / "other.toml"
    other.write_text(
        CONFIG.format(data=data, cache=tmp_path / "cache").replace(
            "latent_dim = 4", "latent_dim = 5"
        )
    )
    result = CliRunner().invoke(app, ["train", str(other), "--out", str(run), "--resume"])
    assert isinstance(result.exception, ConfigError) and "model" in str(result.exception)
    result = CliRunner().invoke(app, ["train", str(config), "--out", str(run)])
    assert isinstance(result.exception, InputError)

    dest = tmp_path / "shipped"
    export_run(
        run,
        dest,
        which="checkpoint",
        n_samples=30,
        n_reconstruct=20,
        test_path=data,
        train_path=data,
    )
    card = (dest / "MODEL_CARD.md").read_text()
    assert "Parameters:" in card and "validity" in card and "Reconstruction of" in card
    assert load_bundle(dest).metadata["training"]["steps"] > 0

    # the learning curve recorded at earlier exports stays with the model and its card
    from molspace.latent.curve import read_curve, record_figures, update_card_curve

    record_figures(dest, {"step": 7, "epochs": 0.5, "metrics": {"FCD/Test": 9.5}, "samples": 30})
    record_figures(dest, {"step": 3, "epochs": 0.2, "metrics": {"FCD/Test": 12.0}, "samples": 30})
    record_figures(dest, {"step": 7, "epochs": 0.5, "metrics": {"FCD/Test": 9.25}, "samples": 30})
    update_card_curve(dest)
    assert [(r["step"], r["metrics"]["FCD/Test"]) for r in read_curve(dest)] == [
        (3, 12.0),
        (7, 9.25),
    ]
    export_run(run, dest, which="checkpoint", n_samples=0)
    assert [r["step"] for r in read_curve(dest)] == [3, 7]
    card = (dest / "MODEL_CARD.md").read_text()
    assert card.count("## Curve: MOSES figures at each export") == 1
    assert "| 7 | 0.50 |" in card and "| 9.25 |" in card
    assert card.index("## Curve") < card.index("## Reproduce")
    update_card_curve(dest)  # rewriting replaces the section, never adds a second one
    assert (dest / "MODEL_CARD.md").read_text() == card
