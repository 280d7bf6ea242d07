"""The PyTDC <= 0.3.6 oracles (``*_prev``): values worked out by hand from the definition.

The string-based total atom count is counted token by token in each docstring; RDKit only
supplies cLogP, TPSA and the per-element counts that both definitions share.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from molspace.oracles import PMO_TASKS, TARGETS, get_oracle
from molspace.oracles.pmo_prev import CHANGED_TASKS, PREV_TASKS, smiles_string_atom_total

NITROANILINE = "Cc1cc([N+](=O)[O-])ccc1N"  # 2-methyl-4-nitroaniline, C7H8N2O2
SITAGLIPTIN_CANONICAL = "NC(CC(=O)N1CCn2c(nnc2C(F)(F)F)C1)Cc1cc(F)c(F)cc1F"


def _gauss(x: float, mu: float, sigma: float) -> float:
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2)


@pytest.mark.parametrize(
    ("text", "total"),
    [
        # Cc1 (1), N (1), O (1), O (1), N (1): aromatic c and hydrogens unseen
        (NITROANILINE, 5),
        # C12 reads as 12 atoms, then C C C, C C1, C C2 (the 2 is a count): 12+3+2+3
        ("C12CCC(CC1)CC2", 20),
        ("ClCCl", 3),  # Cl is one token
        ("[nH]1cccc1", 1),  # only the H of [nH]
        # N C C C O (5), N1 (6), C (7), Cn2 (2: 9), C F F F (13), C1 (14), Cc1 (15), F F F
        (SITAGLIPTIN_CANONICAL, 18),
        # F F F, C C N, C C O, N3 (3), Cc2 (2), C C3 (1+3), C F F F
        (TARGETS["sitagliptin"], 22),
    ],
)
def test_string_total_atom_count(text: str, total: int) -> None:
    assert smiles_string_atom_total(text) == total


def test_true_isomer_scores_one_new_and_almost_zero_old() -> None:
    """Per-element counts are exact (four Gaussians at 1); the string total is 5 against
    19: Gaussian = exp(-0.5 * (14/2)^2) = exp(-24.5), geometric mean of 5 -> exp(-4.9)."""
    assert Chem.MolToSmiles(Chem.MolFromSmiles(NITROANILINE)) == NITROANILINE
    assert get_oracle("isomers_c7h8n2o2")(NITROANILINE) == pytest.approx(1.0)
    old = get_oracle("isomers_c7h8n2o2_prev")(NITROANILINE)
    assert old == pytest.approx(math.exp(-4.9), rel=1e-12)
    assert old == pytest.approx(0.0074466, abs=1e-7)


def test_old_isomer_score_depends_on_the_writing() -> None:
    """The Kekulé writing reads 11 atoms: exp(-0.5 * (8/2)^2 / 5) = exp(-1.6), 27x the
    canonical form; calling the oracle scores the canonical form whatever it is given."""
    kekule = "NC1=CC=C([N+](=O)[O-])C=C1C"
    oracle = get_oracle("isomers_c7h8n2o2_prev")
    assert oracle.score_as_written(kekule) == pytest.approx(math.exp(-1.6), rel=1e-12)
    assert oracle(kekule) == pytest.approx(math.exp(-4.9), rel=1e-12)


def _isomer_prev_c16(total: int) -> float:
    """C16H15F6N5O for sitagliptin itself: five exact elements, string total vs 43."""
    return _gauss(total, 43, 2) ** (1 / 6)


def test_sitagliptin_pytdc036_raw_values_canonical_vs_written() -> None:
    """PyTDC 0.3.6 sitagliptin_mpo: gmean(raw similarity 1, raw cLogP, raw TPSA, isomer).
    Canonical SMILES (18 atoms read): 0.136; as written in TDC (22 read): 0.355."""
    mol = Chem.MolFromSmiles(TARGETS["sitagliptin"])
    logp, tpsa = Descriptors.MolLogP(mol), Descriptors.TPSA(mol)
    oracle = get_oracle("sitagliptin_mpo_pytdc036")
    canonical = (logp * tpsa * _isomer_prev_c16(18)) ** 0.25
    written = (logp * tpsa * _isomer_prev_c16(22)) ** 0.25
    assert oracle(TARGETS["sitagliptin"]) == pytest.approx(canonical, rel=1e-12)
    assert oracle(SITAGLIPTIN_CANONICAL) == pytest.approx(canonical, rel=1e-12)
    assert oracle.score_as_written(TARGETS["sitagliptin"]) == pytest.approx(written, rel=1e-12)
    assert round(canonical, 3) == 0.136 and round(written, 3) == 0.355


def test_sitagliptin_pytdc036_can_exceed_one_and_negative_logp_scores_zero() -> None:
    """Sitagliptin written with ring-closure digits 9 and 8 reads N9 (9) Cc8 (8) C9 (9)
    instead of 3, 2 and 3: 40 atoms, so the isomer term is near 1 and the raw TPSA (77)
    lifts the mean to about 3.4. Glycerol's negative cLogP scores 0.0."""
    mol = Chem.MolFromSmiles(TARGETS["sitagliptin"])
    logp, tpsa = Descriptors.MolLogP(mol), Descriptors.TPSA(mol)
    oracle = get_oracle("sitagliptin_mpo_pytdc036")
    digits = "Fc1cc(c(F)cc1F)CC(N)CC(=O)N9Cc8nnc(n8CC9)C(F)(F)F"
    assert smiles_string_atom_total(digits) == 40
    expected = (logp * tpsa * _isomer_prev_c16(40)) ** 0.25
    assert oracle.score_as_written(digits) == pytest.approx(expected, rel=1e-12)
    assert expected > 3.0
    details = oracle.evaluate(Chem.MolFromSmiles("OCC(O)CO"))
    assert details["logp"] < 0 and details["logp_score"] == 0.0 and details["score"] == 0.0


def test_sitagliptin_prev_applies_the_modifiers() -> None:
    """TDC's sitagliptin_mpo_prev on sitagliptin: similarity 1 -> Gaussian(0, 0.1) =
    exp(-50), cLogP and TPSA exact -> 1, string isomer (canonical, 18 read)."""
    expected = (math.exp(-50) * _isomer_prev_c16(18)) ** 0.25
    assert get_oracle("sitagliptin_mpo_prev")(TARGETS["sitagliptin"]) == pytest.approx(
        expected, rel=1e-12
    )


def test_zaleplon_prev_on_zaleplon() -> None:
    """Zaleplon (C17H15N5O) against the formula C19H17N3O2: similarity 1; C, H and N off
    by 2 (exp(-2) each), O off by 1 (exp(-0.5)); the target as written reads O C C N C C
    C1 (7), C C C C (11), C2 (13), C C N (16), C3 (19), C (20), C N (22), N23 (45), C N
    (47), C1 (48) atoms against 41: exp(-0.5 * 3.5^2). 0.28294577711413 is what PyTDC
    0.3.6's zaleplon_mpo returns on this string."""
    written = TARGETS["zaleplon"]
    total = smiles_string_atom_total(written)
    assert total == 48
    iso = (math.exp(-2) ** 3 * math.exp(-0.5) * _gauss(total, 41, 2)) ** (1 / 5)
    oracle = get_oracle("zaleplon_mpo_prev")
    assert oracle.score_as_written(written) == pytest.approx(math.sqrt(iso), rel=1e-12)
    assert oracle.score_as_written(written) == pytest.approx(0.28294577711413, abs=1e-12)


def test_defaults_stay_the_correct_oracles() -> None:
    assert len(PMO_TASKS) == 20 and not set(PREV_TASKS) & set(PMO_TASKS)
    assert set(CHANGED_TASKS) <= set(PMO_TASKS)
    for task, prev in CHANGED_TASKS.items():
        assert get_oracle(task).name == task
        assert get_oracle(prev).name == prev
        assert f": {prev}" in get_oracle(prev).source


def test_prev_oracles_score_invalid_smiles_zero() -> None:
    for name in (*PREV_TASKS, "sitagliptin_mpo_pytdc036"):
        oracle = get_oracle(name)
        assert oracle("") == 0.0 and oracle("C1CC") == 0.0
        assert np.all(oracle.score_smiles(["CCO", "bad"]) >= 0.0)
