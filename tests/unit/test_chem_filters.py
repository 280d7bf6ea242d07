"""Drug-likeness rules at their boundaries and structural alerts."""

from __future__ import annotations

import pickle

import pytest

from molspace.chem import (
    RULE_PROPERTIES,
    RULES,
    AlertCatalog,
    compute_properties,
    evaluate_rules,
    mol_from_smiles,
    rule_passes,
)
from molspace.errors import ConfigError

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
# a PAINS A hydrazone-phenol (hzone_phenol_A) from a screening deck
PAINS_HIT = "O=C(Cn1cnc2c1c(=O)n(C)c(=O)n2C)N/N=C/c1c(O)ccc2c1cccc2"


def _props(**values: float) -> dict[str, float]:
    base = {"mw": 300.0, "clogp": 2.0, "hbd": 1, "hba": 3, "rotb": 3, "tpsa": 60.0}
    base.update(values)
    return base


def test_lipinski_allows_one_violation() -> None:
    assert rule_passes("lipinski", _props(mw=500))
    assert rule_passes("lipinski", _props(mw=501))  # one violation passes
    assert not rule_passes("lipinski", _props(mw=501, clogp=5.1))
    assert not rule_passes("lipinski", _props(hbd=6, hba=11))
    assert rule_passes("lipinski", _props(hbd=5, hba=10, clogp=5.0))


def test_veber_boundaries() -> None:
    assert rule_passes("veber", _props(rotb=10, tpsa=140))
    assert not rule_passes("veber", _props(rotb=11))
    assert not rule_passes("veber", _props(tpsa=140.1))


def test_leadlike_boundaries() -> None:
    assert rule_passes("leadlike", _props(mw=250, clogp=3.5, rotb=7))
    assert rule_passes("leadlike", _props(mw=350))
    assert not rule_passes("leadlike", _props(mw=249.9))
    assert not rule_passes("leadlike", _props(mw=350.1))
    assert not rule_passes("leadlike", _props(clogp=3.6))
    assert not rule_passes("leadlike", _props(rotb=8))


def test_rule_callables_on_molecules() -> None:
    aspirin = mol_from_smiles(ASPIRIN)
    assert RULES["lipinski"](aspirin) and RULES["veber"](aspirin)
    assert not RULES["leadlike"](aspirin)  # MW 180 is below the lead-like window
    # a hexa-leucine peptide fails Lipinski (MW, HBD, HBA) and Veber (TPSA, rotb)
    big = mol_from_smiles("CC(C)C[C@H](N)C(=O)" + "N[C@@H](CC(C)C)C(=O)" * 5 + "O")
    assert not RULES["lipinski"](big)
    assert not RULES["veber"](big)
    assert set(RULES) >= {"lipinski", "veber", "leadlike"}


def test_evaluate_rules_reuses_given_properties() -> None:
    mol = mol_from_smiles(ASPIRIN)
    panel = compute_properties(mol)
    assert evaluate_rules(mol, properties=panel) == {name: f(mol) for name, f in RULES.items()}
    # a lying panel shows that the given values are used, not recomputed
    fake = dict(panel, mw=900.0, clogp=9.0)
    assert evaluate_rules(mol, ["lipinski"], fake) == {"lipinski": False}
    with pytest.raises(ConfigError, match="unknown rule"):
        evaluate_rules(mol, ["rule_of_seven"])
    assert set(RULE_PROPERTIES) == set(RULES)


def test_alert_first_match_and_matches() -> None:
    catalog = AlertCatalog(("pains", "brenk", "nih"))
    hit = mol_from_smiles(PAINS_HIT)
    assert catalog.first_match(hit) == "pains:hzone_phenol_A(479)"
    found = catalog.matches(hit)
    assert found[0] == "pains:hzone_phenol_A(479)"
    assert all(label.split(":", 1)[0] in {"pains", "brenk", "nih"} for label in found)
    assert len(found) == len(set(found))
    clean = mol_from_smiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")  # ibuprofen
    assert catalog.first_match(clean) is None
    assert catalog.matches(clean) == []
    assert not catalog.has_match(clean) and catalog.has_match(hit)


def test_family_order_decides_first_match() -> None:
    hit = mol_from_smiles(PAINS_HIT)
    assert AlertCatalog(("brenk", "pains")).first_match(hit).startswith("brenk:")
    assert AlertCatalog("pains_a").first_match(hit) == "pains_a:hzone_phenol_A(479)"
    assert AlertCatalog(("pains_b",)).first_match(hit) is None


def test_brenk_and_nih_alerts() -> None:
    catalog = AlertCatalog(("brenk", "nih"))
    assert any(a.startswith("brenk:") for a in catalog.matches(mol_from_smiles(ASPIRIN)))
    acyl_halide = mol_from_smiles("CC(=O)Cl")
    assert any(a.startswith("nih:") for a in catalog.matches(acyl_halide))


def test_unknown_family_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown alert family 'painz'"):
        AlertCatalog(("painz",))
    with pytest.raises(ConfigError):
        AlertCatalog(())


def test_catalog_pickles_by_family_names() -> None:
    catalog = AlertCatalog(("PAINS", "brenk"))
    payload = pickle.dumps(catalog)
    assert len(payload) < 200  # the RDKit catalogs are rebuilt (cached) on the other side
    clone = pickle.loads(payload)
    assert clone.families == ("pains", "brenk")
    hit = mol_from_smiles(PAINS_HIT)
    assert clone.matches(hit) == catalog.matches(hit)
