"""Standardization: salts, charges, normalization, tautomers, stereo."""

from __future__ import annotations

import pytest

from molspace.chem import (
    StandardizeOptions,
    canonical_smiles,
    inchikey,
    mol_from_smiles,
    standardize,
)


def _std(smiles: str, **options: bool) -> str:
    result = standardize(mol_from_smiles(smiles), StandardizeOptions(**options))
    assert result.ok, result.reason
    return canonical_smiles(result.mol)


@pytest.mark.parametrize(
    ("smiles", "expected"),
    [
        ("CC(=O)[O-].[Na+]", "CC(=O)O"),  # salt stripped, acid neutralized
        ("CC(=O)O[Na]", "CC(=O)O"),  # covalently drawn salt: metal disconnected first
        ("C[NH3+].[Cl-]", "CN"),
        ("[NH3+]CC([O-])=O", "NCC(=O)O"),  # zwitterion neutralized
        ("C[N+](C)(C)C.[Cl-]", "C[N+](C)(C)C"),  # quaternary ammonium keeps its charge
        ("CN(=O)=O", "C[N+](=O)[O-]"),  # nitro normalized to the charge-separated form
        ("OCCO.c1ccccc1CCCC", "CCCCc1ccccc1"),  # largest fragment wins
    ],
)
def test_default_standardization(smiles: str, expected: str) -> None:
    assert _std(smiles) == expected


def test_steps_can_be_switched_off() -> None:
    assert _std("CC(=O)[O-].[Na+]", largest_fragment=False, neutralize=False) == (
        "CC(=O)[O-].[Na+]"
    )
    assert _std("CC(=O)[O-].[Na+]", neutralize=False) == "CC(=O)[O-]"


def test_tautomer_option() -> None:
    assert _std("Oc1ccccn1") == "Oc1ccccn1"
    assert _std("Oc1ccccn1", canonical_tautomer=True) == "O=c1cccc[nH]1"
    # both tautomers meet at the same parent
    assert _std("O=c1cccc[nH]1", canonical_tautomer=True) == "O=c1cccc[nH]1"


def test_stereo_removal() -> None:
    assert _std("C[C@H](N)C(=O)O") == "C[C@H](N)C(=O)O"
    assert _std("C[C@H](N)C(=O)O", remove_stereo=True) == "CC(N)C(=O)O"
    assert _std("C/C=C/C", remove_stereo=True) == "CC=CC"


def test_input_is_not_modified_and_inchikey_of_parent() -> None:
    mol = mol_from_smiles("CC(=O)[O-].[Na+]")
    before = canonical_smiles(mol)
    parent = standardize(mol).mol
    assert canonical_smiles(mol) == before
    assert inchikey(parent) == inchikey(mol_from_smiles("CC(=O)O"))


def test_default_options() -> None:
    options = StandardizeOptions()
    assert (options.largest_fragment, options.neutralize, options.normalize) == (True, True, True)
    assert (options.canonical_tautomer, options.remove_stereo) == (False, False)
    assert standardize(mol_from_smiles("CCO"), None).ok


def test_failure_is_a_reason_not_an_exception() -> None:
    from rdkit import Chem

    result = standardize(Chem.Mol())
    assert result.mol is None
    assert result.reason is not None and result.reason.startswith("standardize_error: ")
