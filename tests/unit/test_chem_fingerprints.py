"""Fingerprints, Tanimoto identities and SMARTS substructure search."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import DataStructs

from molspace.chem import (
    FINGERPRINT_KINDS,
    bulk_tanimoto,
    compile_smarts,
    fingerprint,
    fingerprint_numpy,
    has_substructure,
    mol_from_smiles,
    tanimoto,
)
from molspace.errors import ConfigError

SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CCOC(=O)c1ccc(N)cc1", "CCO"]


@pytest.mark.parametrize("kind", FINGERPRINT_KINDS)
def test_tanimoto_identities(kind: str) -> None:
    mols = [mol_from_smiles(s) for s in SMILES]
    fps = [fingerprint(m, kind=kind) for m in mols]
    for fp in fps:
        # RDKit defines the similarity of two empty vectors as 0 (CCO has no torsion)
        assert tanimoto(fp, fp) == (1.0 if fp.GetNumOnBits() else 0.0)
    sims = bulk_tanimoto(fps[0], fps)
    assert sims.dtype == np.float64 and sims.shape == (len(fps),)
    assert sims[0] == 1.0
    assert np.all((sims >= 0) & (sims <= 1))
    assert tanimoto(fps[0], fps[1]) == tanimoto(fps[1], fps[0]) == pytest.approx(sims[1])
    # the same molecule written differently has the same fingerprint
    same = fingerprint(mol_from_smiles("OC(=O)C1=CC=CC=C1OC(C)=O"), kind=kind)
    assert tanimoto(fps[0], same) == 1.0


@pytest.mark.parametrize("kind", FINGERPRINT_KINDS)
def test_numpy_export_matches_bit_vectors(kind: str) -> None:
    mols = [mol_from_smiles(s) for s in SMILES]
    array = fingerprint_numpy([*mols, None], kind=kind, n_bits=1024)
    width = 167 if kind == "maccs" else 1024
    assert array.shape == (len(mols) + 1, width) and array.dtype == bool
    assert not array[-1].any()  # a rejected molecule keeps its row, all False
    for row, mol in zip(array, mols, strict=False):
        fp = fingerprint(mol, kind=kind, n_bits=1024)
        assert sorted(np.flatnonzero(row)) == list(fp.GetOnBits())


def test_morgan_radius_and_size_and_fcfp_differ() -> None:
    mol = mol_from_smiles(SMILES[2])
    assert fingerprint(mol, n_bits=512).GetNumBits() == 512
    r1 = fingerprint(mol, radius=1).GetNumOnBits()
    r3 = fingerprint(mol, radius=3).GetNumOnBits()
    assert r3 > r1
    ecfp, fcfp = fingerprint(mol, "morgan"), fingerprint(mol, "fcfp")
    assert DataStructs.TanimotoSimilarity(ecfp, fcfp) < 1.0


def test_bulk_tanimoto_empty_and_bad_kind() -> None:
    fp = fingerprint(mol_from_smiles("CCO"))
    assert bulk_tanimoto(fp, []).shape == (0,)
    with pytest.raises(ConfigError, match="unknown fingerprint kind 'ecfp4'"):
        fingerprint(mol_from_smiles("C"), kind="ecfp4")
    with pytest.raises(ConfigError):
        fingerprint_numpy([], n_bits=0)


def test_smarts_compile_and_match() -> None:
    aspirin = mol_from_smiles(SMILES[0])
    acid = compile_smarts("C(=O)[OX2H1]")
    assert has_substructure(aspirin, acid)
    assert has_substructure(aspirin, "c1ccccc1")
    assert not has_substructure(mol_from_smiles("CCO"), acid)


@pytest.mark.parametrize("bad", ["C(", "", "   ", "[C;X9"])
def test_bad_smarts_is_a_config_error(bad: str, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="invalid SMARTS"):
        compile_smarts(bad)
    assert capfd.readouterr().err == ""
