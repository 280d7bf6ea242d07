"""The frozen PMO preset: ``molspace optimize --pmo TASK`` runs it when no config file is
given, and ``benchmarks/pmo.py`` takes its defaults from it (tiny trained VAE, real
Optuna storage)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from molspace.cli import app
from molspace.config import read_toml
from molspace.optimization import OptimizeConfig
from molspace.optimization.presets import PMO_PRESET, preset_optimize_table

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "data" / "tiny_vae")


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _run(tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "run"
    args = ["optimize", *extra, "--pmo", "qed", "--model", TINY, "--out", str(out)]
    args += ["--budget", "16", "--batch-size", "8", "--space", "box"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())["config"]


def test_the_preset_is_a_valid_optimize_table() -> None:
    table = read_toml(PMO_PRESET)["optimize"]
    assert table == preset_optimize_table()
    config = OptimizeConfig(**{**table, "pmo": "qed"})
    assert config.constraints.reject_degenerate is False  # as in PMO
    assert config.budget == 10_000


def test_optimize_pmo_without_a_config_runs_the_preset(tmp_path: Path) -> None:
    used = _flat(_run(tmp_path))
    preset = _flat(preset_optimize_table())
    overridden = {"budget", "batch_size", "space.kind"}  # given on the command line
    differing = {k: (v, used[k]) for k, v in preset.items() if k not in overridden and used[k] != v}
    assert not differing
    assert (used["budget"], used["batch_size"], used["space.kind"]) == (16, 8, "box")


def test_a_config_file_replaces_the_preset(tmp_path: Path) -> None:
    toml = tmp_path / "opt.toml"
    toml.write_text('[optimize]\nnovelty_reference = ""\n')
    used = _flat(_run(tmp_path, str(toml)))
    defaults = _flat(OptimizeConfig(pmo="qed").model_dump(mode="json"))
    preset = _flat(preset_optimize_table())
    given = {"budget", "batch_size", "space.kind", "novelty_reference"}  # command line, TOML
    changed = [k for k, v in preset.items() if defaults[k] != v and k not in given]
    assert changed  # the preset differs from the defaults somewhere
    assert all(used[k] == defaults[k] for k in changed)


def test_the_benchmark_script_defaults_to_the_preset() -> None:
    spec = importlib.util.spec_from_file_location("pmo_bench", ROOT / "benchmarks" / "pmo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module._parser().parse_args([])
    config = module.optimize_config("qed", 0, 10_000, args)
    used = _flat(config.model_dump(mode="json"))
    preset = _flat(preset_optimize_table())
    differing = {k: (v, used[k]) for k, v in preset.items() if used[k] != v}
    assert not differing
    # and a command-line option still wins over the preset
    assert module._parser().parse_args(["--local-screen", "3"]).local_screen == 3
