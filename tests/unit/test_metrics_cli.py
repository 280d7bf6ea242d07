"""``molspace evaluate`` on the tiny committed model: the MOSES row, JSON with versions."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from molspace.cli.evaluate_cmd import register


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Root."""

    return app


@pytest.mark.slow
def test_evaluate_prints_published_rows_and_writes_json(app, tmp_path):
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            "tests/data/tiny_vae",
            "--samples",
            "120",
            "--recon",
            "40",
            "--no-scaffold-split",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "JTN-VAE" in result.output and "molspace" in result.output
    data = json.loads(out.read_text())
    metrics = data["metrics"]
    assert metrics["n_generated"] == 120
    assert 0 <= metrics["valid"] <= 1 and metrics["FCD/Test"] > 0
    assert metrics["unique@10k"] is None  # fewer than 10k samples: not measurable
    assert data["reconstruction"]["n_input"] == 40
    assert data["versions"]["rdkit"] and data["seed"] == 0


def test_evaluate_rejects_a_missing_model(app, tmp_path):
    from molspace.errors import MolspaceError

    result = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert isinstance(result.exception, MolspaceError)
