"""Objectives: desirability transforms, components, aggregation, TOML validation."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
from rdkit import Chem

from molspace.chem import qed, sa_score
from molspace.config import parse_config
from molspace.errors import ConfigError
from molspace.scoring import Objective, ObjectiveSpec, load_objective
from molspace.scoring.desirability import DoubleSigmoid, Linear, Range, Sigmoid, Step

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1cnc2c1c(=O)n(C)c(=O)n2C"


def build(components: list[dict], aggregation: str = "geometric") -> Objective:
    spec = parse_config(
        ObjectiveSpec, {"components": components, "aggregation": aggregation}, "test.toml"
    )
    return Objective.from_spec(spec)


# -- transforms --------------------------------------------------------------------------


def test_sigmoid_hits_its_documented_anchor_points() -> None:
    up = Sigmoid(low=2, high=4)
    down = Sigmoid(kind="reverse_sigmoid", low=2, high=4)
    np.testing.assert_allclose(up.apply(np.array([2.0, 3.0, 4.0])), [0.01, 0.5, 0.99], atol=1e-9)
    np.testing.assert_allclose(down.apply(np.array([2.0, 3.0, 4.0])), [0.99, 0.5, 0.01], atol=1e-9)
    steep = Sigmoid(low=2, high=4, k=3).apply(np.array([3.5]))[0]
    assert steep > up.apply(np.array([3.5]))[0]


def test_double_sigmoid_is_a_soft_plateau() -> None:
    t = DoubleSigmoid(low=200, high=400, width=40)
    low_edge, middle, high_edge, outside = t.apply(np.array([200.0, 300.0, 400.0, 440.0]))
    assert low_edge == pytest.approx(0.5, abs=1e-3)
    assert high_edge == pytest.approx(0.5, abs=1e-3)
    assert middle > 0.999
    assert outside < 0.01


def test_step_range_linear_and_missing_values() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, np.nan])
    assert Step(threshold=1).apply(x).tolist() == [0, 1, 1, 1, 0]
    assert Step(threshold=1, reverse=True).apply(x).tolist() == [1, 1, 0, 0, 0]
    assert Range(low=1, high=2).apply(x).tolist() == [0, 1, 1, 0, 0]
    np.testing.assert_allclose(Range(low=1, high=2, tolerance=2).apply(x), [0.5, 1, 1, 0.5, 0])
    np.testing.assert_allclose(Linear(low=1, high=3).apply(x), [0, 0, 0.5, 1, 0])
    np.testing.assert_allclose(Linear(low=1, high=3, reverse=True).apply(x), [1, 1, 0.5, 0, 0])


def test_transform_bounds_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"test.toml: components.0.mw.transform.sigmoid"):
        build([{"type": "mw", "transform": {"kind": "sigmoid", "low": 5, "high": 1}}])


# -- validation ----------------------------------------------------------------------------


def test_unknown_key_names_the_key_and_the_file(tmp_path) -> None:
    path = tmp_path / "obj.toml"
    path.write_text(
        textwrap.dedent(
            """
            [objective]
            [[objective.components]]
            type = "qed"
            wieght = 2
            """
        )
    )
    with pytest.raises(ConfigError) as info:
        load_objective(path)
    assert str(path) in str(info.value)
    assert "components.0.qed.wieght: unknown key" in str(info.value)


def test_unbounded_property_needs_a_transform_and_names_are_unique() -> None:
    with pytest.raises(ConfigError, match="transform is required for 'mw'"):
        build([{"type": "mw"}])
    with pytest.raises(ConfigError, match="two components are named 'qed'"):
        build([{"type": "qed"}, {"type": "qed"}])
    with pytest.raises(ConfigError, match="does not match any of the expected tags"):
        build([{"type": "qde"}])


def test_bad_reference_smarts_and_plugin_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="reference"):
        build([{"type": "similarity", "smiles": ["C1CC"]}])
    with pytest.raises(ConfigError, match="invalid SMARTS"):
        build([{"type": "substructure", "smarts": ["[C"]}])
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'"):
        build([{"type": "custom", "function": "no_such_module_xyz:f"}])
    with pytest.raises(ConfigError, match="function"):
        build([{"type": "custom", "function": "os.path"}])


# -- scoring --------------------------------------------------------------------------------


def test_components_report_raw_values_desirabilities_and_score() -> None:
    objective = build(
        [
            {"type": "qed", "weight": 2},
            {"type": "sa", "transform": {"kind": "reverse_sigmoid", "low": 2, "high": 6}},
            {"type": "similarity", "name": "sim", "smiles": [ASPIRIN, CAFFEINE]},
            {"type": "substructure", "name": "no_ester", "smarts": "C(=O)O[#6]", "mode": "exclude"},
            {"type": "alerts", "families": ["brenk"]},
            {"type": "ring_size", "transform": {"kind": "step", "threshold": 6, "reverse": True}},
        ]
    )
    mols = [Chem.MolFromSmiles(s) for s in (ASPIRIN, CAFFEINE, "C1CCCCCCC1")]
    table = objective.score_mols(mols)
    assert list(table.columns) == list(objective.columns)
    assert table["qed"].tolist() == pytest.approx([qed(m) for m in mols])
    assert table["sa"].tolist() == pytest.approx([sa_score(m) for m in mols])
    assert table["sim"].tolist()[:2] == [1.0, 1.0]  # max over references
    assert table["no_ester"].tolist() == [0.0, 1.0, 1.0]
    assert table["ring_size"].tolist() == [6.0, 6.0, 8.0]
    assert table["ring_size_desirability"].tolist() == [1.0, 1.0, 0.0]
    # geometric mean: the ester and the 8-ring veto their molecules
    assert table["score"].iloc[0] == 0.0
    assert table["score"].iloc[2] == 0.0
    d = table.loc[1, list(objective.desirability_columns)].to_numpy(dtype=float)
    weights = np.array([2, 1, 1, 1, 1, 1], dtype=float)
    expected = math.exp((np.log(d) * weights).sum() / weights.sum())
    assert table["score"].iloc[1] == pytest.approx(expected)
    assert objective.score(mols[1]) == pytest.approx(expected)


def test_arithmetic_mean_and_mean_similarity() -> None:
    objective = build(
        [
            {"type": "qed", "weight": 3},
            {"type": "similarity", "smiles": [ASPIRIN, CAFFEINE], "reduce": "mean"},
        ],
        aggregation="arithmetic",
    )
    mol = Chem.MolFromSmiles(ASPIRIN)
    row = objective.score_mols([mol]).iloc[0]
    assert 0.5 < row["similarity"] < 1.0  # mean of 1.0 and a low similarity
    assert row["score"] == pytest.approx((3 * row["qed"] + row["similarity"]) / 4)


def test_none_molecule_scores_nan_and_failing_component_scores_zero(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_scores.py").write_text(
        "def heavy_or_fail(mol, limit):\n"
        "    if mol.GetNumAtoms() > limit:\n"
        "        raise ValueError('too big for this scorer')\n"
        "    return mol.GetNumAtoms() / limit\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    objective = build(
        [
            {"type": "qed"},
            {"type": "custom", "function": "my_scores:heavy_or_fail", "params": {"limit": 10}},
        ]
    )
    assert objective.component_names == ("qed", "heavy_or_fail")
    table = objective.score_mols([None, Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles(ASPIRIN)])
    assert math.isnan(table["score"].iloc[0])
    assert table["heavy_or_fail"].iloc[1] == pytest.approx(0.3)
    assert math.isnan(table["heavy_or_fail"].iloc[2])
    assert table["heavy_or_fail_desirability"].iloc[2] == 0.0
    assert table["score"].iloc[2] == 0.0
    with pytest.raises(ValueError, match="too big"):
        objective.raw_values(Chem.MolFromSmiles(ASPIRIN))


def test_property_values_passed_in_are_reused() -> None:
    objective = build([{"type": "mw", "transform": {"kind": "linear", "low": 0, "high": 1000}}])
    assert objective.property_names == ("mw",)
    raw = objective.raw_values(Chem.MolFromSmiles("CCO"), {"mw": 500.0})
    assert raw == {"mw": 500.0}


EXPENSIVE_PLUGIN = (
    "calls = []\n"
    "def slow_size(mol):\n"
    "    calls.append(mol.GetNumAtoms())\n"
    "    return mol.GetNumAtoms() / 20\n"
)


def test_expensive_component_is_skipped_when_a_cheap_one_vetoes(tmp_path, monkeypatch) -> None:
    """A geometric mean is 0 once a cheap desirability is 0: the expensive component
    (docking, or a plugin marked so) is not run for that molecule and says why."""
    (tmp_path / "slow_scores.py").write_text(EXPENSIVE_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import slow_scores

    veto = {"kind": "step", "threshold": 0.5}  # QED >= 0.5, else 0
    components = [
        {"type": "custom", "function": "slow_scores:slow_size", "expensive": True},
        {"type": "qed", "transform": veto},
    ]
    objective = build(components)
    assert objective.expensive_names == ("slow_size",)
    assert objective.reason_columns == ("slow_size_reason",)
    low_qed = "O=C(O)CCC(=O)NC(CC(=O)O)C(=O)NC(Cc1ccccc1)C(=O)O"  # QED 0.35
    assert qed(Chem.MolFromSmiles(low_qed)) < 0.5 <= qed(Chem.MolFromSmiles(ASPIRIN))
    table = objective.score_mols([Chem.MolFromSmiles(ASPIRIN), Chem.MolFromSmiles(low_qed)])
    assert slow_scores.calls == [13]  # aspirin only
    assert list(table.columns[:2]) == ["slow_size", "qed"]  # declared order kept
    assert table["slow_size"].iloc[0] == pytest.approx(13 / 20)
    assert table["slow_size_reason"].iloc[0] is None
    assert math.isnan(table["slow_size"].iloc[1])
    assert (
        table["slow_size_reason"].iloc[1] == "skipped: qed desirability 0 (the geometric mean is 0)"
    )
    assert table["score"].iloc[1] == 0.0
    # an arithmetic mean is not zeroed by one component: every molecule is valued
    slow_scores.calls.clear()
    build(components, aggregation="arithmetic").score_mols([Chem.MolFromSmiles(low_qed)])
    n_atoms = Chem.MolFromSmiles(low_qed).GetNumAtoms()
    assert slow_scores.calls == [n_atoms]
    # a plugin not marked expensive runs in declared order, like any other component
    slow_scores.calls.clear()
    plain = build([{"type": "custom", "function": "slow_scores:slow_size"}, components[1]])
    assert plain.expensive_names == () and plain.reason_columns == ()
    plain.score_mols([Chem.MolFromSmiles(low_qed)])
    assert len(slow_scores.calls) == 1
