"""``screen_partition`` and the screening config: rejects, dedup, filters, errors."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from molspace.config import parse_config
from molspace.errors import ConfigError
from molspace.screening import ScreenSpec, load_screen_spec, screen_partition

SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "C1CC",  # unclosed ring
    "OC(=O)c1ccccc1OC(C)=O",  # aspirin again, written differently
    "",  # empty
    "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)O",  # fails lipinski (logP)
    "C(C)(C)(C)(C)C",  # pentavalent carbon
    "O=[N+]([O-])c1ccccc1",  # nitro
    "[Na+].[O-]C(=O)c1ccccc1",  # benzoate salt -> benzoic acid parent
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",  # caffeine
]


def table(smiles: list[str] = SMILES) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": "lib.smi",
            "row": range(1, len(smiles) + 1),
            "id": [f"m{i}" for i in range(1, len(smiles) + 1)],
            "smiles": smiles,
            "vendor": "acme",
        }
    )


def spec(**sections) -> ScreenSpec:
    base = {"screen": {"descriptors": ["mw", "clogp"]}}
    base.update(sections)
    return parse_config(ScreenSpec, base, "test.toml")


def test_rows_are_kept_in_order_with_status_and_reason() -> None:
    out = screen_partition(table(), spec())
    assert out["row"].tolist() == list(range(1, 10))
    assert out["vendor"].tolist() == ["acme"] * 9  # extra input columns survive
    rejected = out[out["status"] == "rejected"]
    assert rejected["row"].tolist() == [2, 4, 6]
    reasons = rejected["reason"].tolist()
    assert reasons[0].startswith("parse_error")
    assert reasons[1] == "empty"
    assert reasons[2].startswith("sanitize_error")
    ok = out[out["status"] == "ok"]
    assert ok["reason"].isna().all()
    assert not rejected["passed"].any()
    salt = out.loc[out["row"] == 8].iloc[0]
    assert salt["canonical_smiles"] == "O=C(O)c1ccccc1"  # standardized parent


def test_within_partition_duplicates_keep_the_first_row() -> None:
    out = screen_partition(table(), spec())
    assert out.loc[2, "failed_filter"] == "duplicate"
    assert out.loc[0, "failed_filter"] is pd.NA or pd.isna(out.loc[0, "failed_filter"])
    assert out.loc[0, "inchikey"] == out.loc[2, "inchikey"]
    by_smiles = screen_partition(table(), spec(screen={"dedup": "smiles", "descriptors": []}))
    assert by_smiles.loc[2, "failed_filter"] == "duplicate"
    assert "inchikey" not in by_smiles.columns
    no_dedup = screen_partition(table(), spec(screen={"dedup": "none", "descriptors": []}))
    assert (no_dedup["failed_filter"] != "duplicate").all()


def test_filters_report_the_first_failure_and_each_verdict() -> None:
    s = spec(
        filters={
            "rules": ["lipinski", "veber"],
            "properties": {"mw": {"max": 170}},
            "exclude_smarts": ["[N+](=O)[O-]"],
            "alerts": ["brenk"],
        }
    )
    out = screen_partition(table(), s).set_index("row")
    assert out.loc[5, "failed_filter"] == "lipinski"  # long chain: logP
    assert out.loc[7, "failed_filter"] == "exclude_smarts"  # nitro (mw 123 passes)
    assert out.loc[7, "pass_mw"]
    assert out.loc[1, "failed_filter"] == "mw"  # aspirin 180 Da
    assert bool(out.loc[8, "passed"])  # benzoic acid
    assert pd.isna(out.loc[8, "alert"])
    assert not out.loc[7, "pass_alerts"] and out.loc[7, "alert"].startswith("brenk:")
    # every filter was evaluated (short_circuit is off)
    assert out.loc[5, ["pass_veber", "pass_mw", "pass_alerts"]].notna().all()
    fast = screen_partition(
        table(),
        spec(
            filters={"rules": ["lipinski", "veber"]},
            screen={"short_circuit": True, "descriptors": []},
        ),
    )
    assert pd.isna(fast.set_index("row").loc[5, "pass_veber"])


def test_objective_similarity_and_thresholds() -> None:
    s = spec(
        objective={"components": [{"type": "qed"}]},
        similarity={
            "queries": ["CC(=O)Oc1ccccc1C(=O)O", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"],
            "query_ids": ["aspirin", "caffeine"],
        },
        filters={"min_similarity": 0.99, "min_score": 0.1},
    )
    out = screen_partition(table(), s).set_index("row")
    assert out.loc[1, "query_id"] == "aspirin" and out.loc[1, "query_similarity"] == 1.0
    assert out.loc[9, "query_id"] == "caffeine"
    assert out.loc[8, "failed_filter"] == "min_similarity"
    assert bool(out.loc[1, "passed"]) and bool(out.loc[9, "passed"])
    assert out.loc[1, "score"] == pytest.approx(out.loc[1, "qed_desirability"])


def test_a_molecule_that_raises_is_rejected_not_the_partition(tmp_path, monkeypatch) -> None:
    (tmp_path / "fragile_scorer.py").write_text(
        "def fragile(mol):\n"
        "    if mol.GetNumAtoms() == 9:\n"
        "        raise RuntimeError('Pre-condition Violation\\n  RingInfo not initialized')\n"
        "    return 1.0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    s = spec(objective={"components": [{"type": "custom", "function": "fragile_scorer:fragile"}]})
    out = screen_partition(table(), s).set_index("row")
    assert out.loc[8, "status"] == "rejected"  # benzoic acid parent has 9 atoms
    assert out.loc[8, "reason"] == (
        "error: RuntimeError: Pre-condition Violation RingInfo not initialized"
    )
    assert (out.loc[[1, 9], "status"] == "ok").all()


def test_config_errors_name_key_and_file(tmp_path) -> None:
    path = tmp_path / "screen.toml"
    path.write_text(
        textwrap.dedent("""
        [filters]
        rules = ["lipinski"]
        alert = ["pains"]
    """)
    )
    with pytest.raises(ConfigError, match=rf"{path}: filters.alert: unknown key"):
        load_screen_spec(path)
    path.write_text("[screen]\ndescriptors = ['mw', 'qde']\n")
    with pytest.raises(ConfigError, match=r"screen.descriptors: .*unknown property 'qde'"):
        load_screen_spec(path)
    path.write_text("[filters]\nmin_score = 0.5\n")
    with pytest.raises(ConfigError, match="min_score needs an \\[objective\\]"):
        load_screen_spec(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_screen_spec(tmp_path / "missing.toml")


def test_query_file_is_read_relative_to_the_config(tmp_path) -> None:
    (tmp_path / "q.smi").write_text("c1ccccc1O phenol\nC1CC broken\n")
    path = tmp_path / "screen.toml"
    path.write_text('[similarity]\nqueries_file = "q.smi"\n')
    with pytest.raises(ConfigError, match=r"q.smi: row 2: query C1CC: parse_error"):
        load_screen_spec(path)
    (tmp_path / "q.smi").write_text("c1ccccc1O phenol\nCCO ethanol\n")
    resolved = load_screen_spec(path)
    assert resolved.similarity.queries == ["c1ccccc1O", "CCO"]
    assert resolved.similarity.ids() == ["phenol", "ethanol"]
    assert resolved.similarity.queries_file is None


def test_shipped_workflow_config_is_valid() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    s = load_screen_spec(root / "workflows" / "configs" / "screen_druglike.toml")
    assert s.objective is not None and len(s.similarity.queries) > 1000
