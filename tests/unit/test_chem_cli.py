"""``molspace props`` / ``molspace standardize`` through the real console entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from molspace.cli import app


def _molspace(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "molspace", *args], capture_output=True, text=True, timeout=120
    )


def test_props_json_panel_rules_and_alerts() -> None:
    result = CliRunner().invoke(
        app, ["props", "CC(=O)Oc1ccccc1C(=O)O", "c1ccccc1", "--json", "-a", "pains,brenk"]
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["canonical_smiles"] for r in records] == ["CC(=O)Oc1ccccc1C(=O)O", "c1ccccc1"]
    aspirin = records[0]
    assert aspirin["inchikey"] == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
    assert aspirin["properties"]["mw"] == pytest.approx(180.159, abs=1e-3)
    assert set(aspirin["rules"]) >= {"lipinski", "veber", "leadlike"}
    assert aspirin["rules"]["lipinski"] is True
    assert aspirin["alerts"] == ["brenk:phenol_ester"]


def test_props_selection() -> None:
    result = CliRunner().invoke(app, ["props", "CCO", "--json", "-p", "qed,mw", "-r", "", "-a", ""])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert list(record["properties"]) == ["qed", "mw"]
    assert record["rules"] == {} and record["alerts"] == []


def test_props_table_keeps_brackets() -> None:
    result = CliRunner().invoke(app, ["props", "C[NH3+]", "-p", "mw"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "C[NH3+]" in result.stdout  # not eaten as rich markup
    assert "rule lipinski" in result.stdout and "alerts" in result.stdout


def test_invalid_molecule_is_one_line_exit_2() -> None:
    proc = _molspace("props", "CCO", "C1CC(")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: C1CC(: parse_error: SMILES Parse Error: syntax error while parsing: C1CC(\n"
    )
    assert proc.stdout == ""


def test_unknown_property_is_one_line_exit_2() -> None:
    proc = _molspace("props", "CCO", "-p", "logp")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown property 'logp'")
    assert proc.stderr.count("\n") == 1


def test_unknown_rule_and_family_are_config_errors() -> None:
    from molspace.errors import ConfigError

    for args in (["-r", "lipinsky"], ["-a", "painz"]):
        result = CliRunner().invoke(app, ["props", "CCO", *args])
        assert isinstance(result.exception, ConfigError), result.output


def test_standardize_command() -> None:
    result = CliRunner().invoke(
        app, ["standardize", "CC(=O)[O-].[Na+]", "Oc1ccccn1", "--tautomer", "--json"]
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["standardized"] for r in records] == ["CC(=O)O", "O=c1cccc[nH]1"]
    kept = CliRunner().invoke(
        app, ["standardize", "CC(=O)[O-].[Na+]", "--keep-fragments", "--json"]
    )
    assert kept.exit_code == 0, kept.output
    # the sodium cannot be neutralized, so the Uncharger keeps the salt balanced
    assert json.loads(kept.stdout)[0]["standardized"] == "CC(=O)[O-].[Na+]"
