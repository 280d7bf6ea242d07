"""The prefilter: structure sanity and alerts applied before scoring (optimizer) and as a
screen filter, with the counts a run records."""

from __future__ import annotations

import pandas as pd
import pytest
from rdkit import Chem

from molspace.config import parse_config
from molspace.errors import ConfigError
from molspace.optimization import OptimizeConfig
from molspace.optimization.decoding import prepare_rows
from molspace.optimization.scoring import Constraints, ConstraintSpec, rejection_counts
from molspace.screening import ScreenSpec, screen_partition

CYCLOHEPTATRIENE = "Cn1nc(C(F)(F)F)cc1C(=O)NC1=CC=CCC=C1"
DIAZOCINE = "NS(=O)(=O)c1cccc(NC(=O)N2C=CC=CCN=C2)c1"
METHYLENECYCLOBUTENE = "C=C1C=C(NC(=O)c2ccccc2)C1"
ALDEHYDE = "O=Cc1ccc(NC(=O)c2ccccc2)cc1"  # MCF7
HALOPERIDOL = "O=C(CCCN1CCC(O)(c2ccc(Cl)cc2)CC1)c1ccc(F)cc1"
LORLATINIB = "C[C@@H]1Oc2cc(cnc2N)-c2c(C#N)n(C)nc2CN(C)C(=O)c2ccc(F)cc21"
LORLATINIB_ETHYL = "CC[C@@H]1Oc2cc(cnc2N)-c2c(C#N)n(C)nc2CN(C)C(=O)c2ccc(F)cc21"


def gate(spec: ConstraintSpec, smiles: str, references: tuple[str, ...] = ()) -> str | None:
    return Constraints(spec, references=references).degenerate(Chem.MolFromSmiles(smiles))


def test_the_gate_rejects_before_scoring_with_a_reason() -> None:
    spec = ConstraintSpec()
    assert gate(spec, CYCLOHEPTATRIENE).startswith("ring_polyene:")
    assert gate(spec, DIAZOCINE).startswith("ring_size: 8-membered")
    assert gate(spec, METHYLENECYCLOBUTENE).startswith("strained_ring:")
    assert gate(spec, ALDEHYDE) == "mcf:MCF7"
    assert gate(spec, "CP(=O)(O)c1ccc(NC(=O)c2ccccc2)cc1") == "element: P not allowed"
    assert gate(spec, HALOPERIDOL) is None
    assert gate(spec, "CCO") is not None and gate(spec, "CCO").startswith("too_small")
    assert Constraints(spec).degenerate(None) == "invalid"
    # families and elements are settings; the gate can be switched off
    assert gate(ConstraintSpec(prefilter_alerts=()), ALDEHYDE) is None
    assert gate(ConstraintSpec(allowed_elements=()), "CP(=O)(O)c1ccc(NC(=O)c2ccccc2)cc1") is None
    off = ConstraintSpec(prefilter=False)
    assert all(gate(off, s) is None for s in (CYCLOHEPTATRIENE, DIAZOCINE, ALDEHYDE))
    # without degenerate rejection the prefilter still runs
    assert gate(ConstraintSpec(reject_degenerate=False), DIAZOCINE).startswith("ring_size")


def test_seeds_and_leads_allow_their_ring_sizes() -> None:
    spec = ConstraintSpec()
    assert gate(spec, LORLATINIB_ETHYL).startswith("ring_size: 12-membered")
    assert gate(spec, LORLATINIB_ETHYL, references=(LORLATINIB,)) is None
    assert gate(ConstraintSpec(leads=[LORLATINIB]), LORLATINIB_ETHYL) is None


def test_prefilter_is_on_for_design_runs_and_off_for_pmo_tasks() -> None:
    assert OptimizeConfig().constraints.prefilter is True
    assert OptimizeConfig(plugin="m:f").constraints.prefilter is True
    assert OptimizeConfig(pmo="qed").constraints.prefilter is False
    assert OptimizeConfig(pmo="qed", constraints={"prefilter": True}).constraints.prefilter
    assert not OptimizeConfig(constraints={"prefilter": False}).constraints.prefilter


def test_prefilter_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown alert family 'mfc'"):
        ConstraintSpec(prefilter_alerts=("mfc",))
    with pytest.raises(ValueError, match="unknown element 'cl'"):
        ConstraintSpec(allowed_elements=("C", "cl"))
    with pytest.raises(ValueError, match="ring sizes start at 3"):
        ConstraintSpec(ring_sizes=(2, 5, 6))


def test_decoded_rows_carry_the_reason_and_counts_add_up() -> None:
    gate_of = Constraints(ConstraintSpec()).degenerate
    decoded = [CYCLOHEPTATRIENE, CYCLOHEPTATRIENE, DIAZOCINE, ALDEHYDE, HALOPERIDOL, "C1CC", ""]
    rows = prepare_rows(decoded, gate_of)
    reasons = [None if r.reason is None else r.reason.split(":")[0] for r in rows]
    expected = ["ring_polyene", "ring_polyene", "ring_size", "mcf", None, "invalid", "invalid"]
    assert reasons == expected
    records = [
        {
            "smiles": r.smiles,
            "status": "degenerate" if r.reason not in (None, "invalid") else "scored",
            "reason": r.reason,
        }
        for r in rows
    ]
    # distinct molecules per rule; invalid decodings and scored molecules are not counted
    assert rejection_counts(records) == {"mcf": 1, "ring_polyene": 1, "ring_size": 1}
    assert rejection_counts([]) == {}


def test_screen_sanity_filter() -> None:
    smiles = [HALOPERIDOL, CYCLOHEPTATRIENE, "CP(=O)(O)c1ccccc1", ALDEHYDE, DIAZOCINE]
    table = pd.DataFrame({"id": [f"m{i}" for i in range(5)], "smiles": smiles})
    spec = parse_config(
        ScreenSpec,
        {
            "screen": {"descriptors": ["mw"]},
            "filters": {
                "alerts": ["mcf"],
                "ring_sanity": True,
                "allowed_elements": ["H", "C", "N", "O", "F", "S", "Cl", "Br"],
            },
        },
        "test.toml",
    )
    out = screen_partition(table, spec)
    failed = out["failed_filter"].fillna("").tolist()
    assert failed == ["", "sanity", "sanity", "alerts", "sanity"]
    assert pd.isna(out["sanity"][0])
    assert out["sanity"][1].startswith("ring_polyene")
    assert out["sanity"][2] == "element: P not allowed"
    assert out["alert"][3] == "mcf:MCF7"
    assert out["passed"].tolist() == [True, False, False, False, False]
    # off by default: a screen keeps its old behaviour
    plain = screen_partition(table, parse_config(ScreenSpec, {}, "test.toml"))
    assert "sanity" not in plain and plain["passed"].all()
    with pytest.raises(ConfigError, match="unknown element"):
        parse_config(ScreenSpec, {"filters": {"allowed_elements": ["Xx"]}}, "test.toml")


def test_an_expensive_objective_rejects_infeasible_molecules_before_scoring() -> None:
    """Docking costs seconds: a molecule that breaks a constraint is rejected before it
    is scored (rule ``infeasible``), unless the config says otherwise."""
    spec = ConstraintSpec(properties={"qed": (0.5, None), "mw": (None, 400.0)})
    low_qed = "O=C(O)CCC(=O)NC(CC(=O)O)C(=O)NC(Cc1ccccc1)C(=O)O"  # QED 0.35
    mol = Chem.MolFromSmiles(low_qed)
    assert Constraints(spec).degenerate(mol) is None  # a cheap objective scores it
    assert Constraints(spec, expensive=True).degenerate(mol) == "infeasible: qed_min"
    assert Constraints(spec, expensive=True).degenerate(Chem.MolFromSmiles(HALOPERIDOL)) is None
    off = ConstraintSpec(properties={"qed": (0.5, None)}, prefilter_infeasible=False)
    assert Constraints(off, expensive=True).degenerate(mol) is None
    on = ConstraintSpec(properties={"qed": (0.5, None)}, prefilter_infeasible=True)
    assert Constraints(on).degenerate(mol) == "infeasible: qed_min"
    # nothing to break, nothing rejected
    assert Constraints(ConstraintSpec(), expensive=True).degenerate(mol) is None
    counts = rejection_counts(
        [{"status": "degenerate", "reason": "infeasible: qed_min", "smiles": low_qed}]
    )
    assert counts == {"infeasible": 1}
