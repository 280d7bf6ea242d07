"""Property panel against published reference values and RDKit's own functions."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

from molspace.chem import (
    COUNT_PROPERTIES,
    PROPERTY_NAMES,
    compute_properties,
    mol_from_smiles,
    penalized_logp,
    qed,
    sa_score,
)
from molspace.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"


def _rows(name: str, delimiter: str) -> list[dict[str, str]]:
    with (DATA / name).open() as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter=delimiter))


QED_ROWS = _rows("chem_qed_reference.csv", ",")
SA_ROWS = _rows("chem_sa_zim100.tsv", "\t")


def test_reference_files_are_complete() -> None:
    assert len(QED_ROWS) == 26
    assert len(SA_ROWS) == 100


@pytest.mark.parametrize("row", QED_ROWS, ids=lambda r: r["smiles"][:30])
def test_qed_matches_published_values(row: dict[str, str]) -> None:
    mol = mol_from_smiles(row["smiles"])
    expected = float(row["qed"])
    places = int(row["places"])
    assert qed(mol) == pytest.approx(expected, abs=10.0**-places)
    # the panel (sharing MW/logP/TPSA/rotb with QED) gives the same number
    assert compute_properties(mol, ["mw", "qed"])["qed"] == pytest.approx(QED.qed(mol), abs=1e-12)


def test_sa_score_matches_rdkit_contrib_reference() -> None:
    # rdkit/Contrib/SA_Score/data/zim.100.txt, compared to 3 decimals as RDKit's own test does
    for row in SA_ROWS:
        mol = mol_from_smiles(row["smiles"])
        assert sa_score(mol) == pytest.approx(float(row["sa_score"]), abs=5e-4), row["smiles"]


JTVAE_TOP3 = [
    # Jin et al. 2018 (JT-VAE), Table 2: best penalized logP found by Bayesian optimisation
    (
        "ClC1=CC=C2C(C=C(C(C)=O)C(C(NC3=CC(NC(NC4=CC(C5=C(C)C=CC=C5)=CC=C4)=O)=CC=C3)=O)=C2)=C1",
        5.30,
    ),
    ("ClC(C(Cl)=C1)=CC=C1NC2=CC=CC=C2C(NC(NC3=C(C(NC4=C(Cl)C=CC=C4)=S)C=CC=C3)=O)=O", 4.93),
    ("CC(NC1=CC(C2=CC=CC(NC(NC3=CC=CC(C4=CC(F)=CC=C4)=C3)=O)=C2)=CC=C1)=O", 4.49),
]


@pytest.mark.parametrize(("smiles", "expected"), JTVAE_TOP3)
def test_penalized_logp_reproduces_jtvae_paper(smiles: str, expected: float) -> None:
    mol = mol_from_smiles(smiles)
    assert round(penalized_logp(mol), 2) == expected
    assert round(compute_properties(mol, ["penalized_logp"])["penalized_logp"], 2) == expected


def test_penalized_logp_formula_and_ring_penalty() -> None:
    # cyclononane: one 9-ring -> cycle penalty 3
    mol = mol_from_smiles("C1CCCCCCCC1")
    logp, sa = Crippen.MolLogP(mol), sa_score(mol)
    expected = (
        (logp - 2.4570953396190123) / 1.434324401111988
        + (-sa + 3.0525811293166134) / 0.8335207024513095
        + (-3 + 0.0485696876403053) / 0.2860212110245455
    )
    assert penalized_logp(mol) == pytest.approx(expected, abs=1e-9)


def test_penalized_logp_ring_conventions_differ_only_on_fused_envelopes() -> None:
    # peri-fused tricycle: SSSR rings are 6-membered, networkx cycle_basis reports an 11-cycle
    mol = mol_from_smiles("CCC(=O)NCc1ccc2c3c(cccc13)C(=O)N2")
    sssr = penalized_logp(mol)
    basis = penalized_logp(mol, ring_convention="cycle_basis")
    assert sssr - basis == pytest.approx(5 / 0.2860212110245455, abs=1e-9)
    plain = mol_from_smiles("CCOc1ccccc1")
    assert penalized_logp(plain) == penalized_logp(plain, ring_convention="cycle_basis")
    with pytest.raises(ConfigError):
        penalized_logp(plain, ring_convention="johnson")  # type: ignore[arg-type]


def test_full_panel_matches_rdkit_descriptors() -> None:
    mol = mol_from_smiles("CC(=O)Nc1ccc(O)cc1")  # paracetamol
    panel = compute_properties(mol)
    assert tuple(panel) == PROPERTY_NAMES
    assert panel["mw"] == pytest.approx(Descriptors.MolWt(mol))
    assert panel["mw"] == pytest.approx(151.165, abs=1e-3)
    assert panel["clogp"] == pytest.approx(Crippen.MolLogP(mol))
    assert panel["tpsa"] == pytest.approx(49.33, abs=1e-2)
    assert panel["hbd"] == 2 and panel["hba"] == 3
    assert panel["rotb"] == 1
    assert panel["rings"] == 1 and panel["aromatic_rings"] == 1
    assert panel["fsp3"] == pytest.approx(1 / 8)
    assert panel["heavy_atoms"] == 11
    assert panel["formal_charge"] == 0
    assert panel["qed"] == pytest.approx(QED.qed(mol))
    for name in COUNT_PROPERTIES:
        assert isinstance(panel[name], int)


def test_lipinski_counts_are_the_rule_of_five_definitions() -> None:
    mol = mol_from_smiles("NC(=O)c1ccncc1")  # isoniazid-like amide
    panel = compute_properties(mol, ["hbd", "hba"])
    assert panel["hbd"] == rdMolDescriptors.CalcNumLipinskiHBD(mol) == 2
    assert panel["hba"] == rdMolDescriptors.CalcNumLipinskiHBA(mol) == 3


def test_only_requested_properties_in_requested_order() -> None:
    mol = mol_from_smiles("c1ccccc1CCN")
    assert list(compute_properties(mol, ["sa", "mw"])) == ["sa", "mw"]
    assert compute_properties(mol, []) == {}


def test_unknown_property_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown property 'logp'"):
        compute_properties(mol_from_smiles("C"), ["logp"])


def test_explicit_hydrogens_do_not_change_the_panel() -> None:
    mol = mol_from_smiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    with_h = Chem.AddHs(mol)
    plain, hydro = compute_properties(mol), compute_properties(with_h)
    for name in PROPERTY_NAMES:
        assert hydro[name] == pytest.approx(plain[name]), name


def test_charged_and_tiny_molecules_do_not_raise() -> None:
    for smiles in ("[Na+]", "C", "[NH4+]", "C[N+](C)(C)C", "[Cu]"):
        panel = compute_properties(mol_from_smiles(smiles))
        assert set(panel) == set(PROPERTY_NAMES)
        assert all(isinstance(v, int) or math.isfinite(v) or math.isnan(v) for v in panel.values())
    assert compute_properties(mol_from_smiles("C[N+](C)(C)C"))["formal_charge"] == 1


def test_fast_qed_equals_rdkit_qed_on_a_diverse_set() -> None:
    # our QED counts the 94 unwanted-group alerts through one FilterCatalog; same numbers
    smiles = [row["smiles"] for row in SA_ROWS] + [row["smiles"] for row in QED_ROWS]
    for text in smiles:
        mol = mol_from_smiles(text)
        assert qed(mol) == pytest.approx(QED.qed(mol), abs=1e-12), text
