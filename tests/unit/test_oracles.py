"""PMO/GuacaMol oracles: known molecules, definitions checked against the legacy RDKit calls."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import QED, AllChem, Descriptors

from molspace.errors import ConfigError
from molspace.oracles import (
    PMO_TASKS,
    TARGETS,
    ClippedScoreModifier,
    GaussianModifier,
    MaxGaussianModifier,
    MinGaussianModifier,
    ThresholdedLinearModifier,
    geometric_mean,
    get_oracle,
    guacamol_fingerprint,
    parse_molecular_formula,
)

DRUGS = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1CCC[C@H]1c1cccnc1",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "O=C(O)c1ccccc1O",
    *TARGETS.values(),
]


def test_twenty_tasks_with_pmo_names() -> None:
    assert len(PMO_TASKS) == 20
    assert {"albuterol_similarity", "isomers_c9h10n2o2pf2cl", "valsartan_smarts", "qed"} <= set(
        PMO_TASKS
    )
    for name in PMO_TASKS:
        oracle = get_oracle(name)
        assert oracle.name == name
        assert oracle.source  # every definition cites where it comes from


def test_unknown_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown PMO task 'nope'"):
        get_oracle("nope")


@pytest.mark.parametrize(
    ("task", "target"),
    [
        ("celecoxib_rediscovery", "celecoxib"),
        ("troglitazone_rediscovery", "troglitazone"),
        ("thiothixene_rediscovery", "thiothixene"),
        ("albuterol_similarity", "albuterol"),
        ("mestranol_similarity", "mestranol"),
    ],
)
def test_target_scores_one(task: str, target: str) -> None:
    assert get_oracle(task)(TARGETS[target]) == pytest.approx(1.0)


def test_rediscovery_of_another_writing_of_the_target_is_one() -> None:
    celecoxib = Chem.MolToSmiles(Chem.MolFromSmiles(TARGETS["celecoxib"]))
    assert get_oracle("celecoxib_rediscovery")(celecoxib) == pytest.approx(1.0)


def test_invalid_smiles_scores_zero_like_mol_opt() -> None:
    for name in PMO_TASKS:
        oracle = get_oracle(name)
        assert oracle("") == 0.0
        assert oracle("C1CC") == 0.0
        assert oracle("not a molecule") == 0.0


def test_all_scores_in_unit_interval() -> None:
    for name in PMO_TASKS:
        scores = get_oracle(name).score_smiles(DRUGS)
        assert np.all((scores >= 0) & (scores <= 1)), name


def test_fingerprints_match_the_legacy_guacamol_calls() -> None:
    """Our generator fingerprints give the Tanimoto values of the calls GuacaMol/TDC make."""
    legacy = {
        "ECFP4": lambda m: AllChem.GetMorganFingerprint(m, 2),
        "ECFP6": lambda m: AllChem.GetMorganFingerprint(m, 3),
        "FCFP4": lambda m: AllChem.GetMorganFingerprint(m, 2, useFeatures=True),
        "AP": lambda m: AllChem.GetAtomPairFingerprint(m, maxLength=10),
    }
    mols = [Chem.MolFromSmiles(s) for s in DRUGS]
    RDLogger.DisableLog("rdApp.*")  # the legacy calls print deprecation warnings
    try:
        for kind, old in legacy.items():
            for a in mols[:6]:
                for b in mols:
                    ours = DataStructs.TanimotoSimilarity(
                        guacamol_fingerprint(a, kind), guacamol_fingerprint(b, kind)
                    )
                    theirs = DataStructs.TanimotoSimilarity(old(a), old(b))
                    assert ours == pytest.approx(theirs), (kind, a, b)
    finally:
        RDLogger.EnableLog("rdApp.*")


def test_similarity_task_clips_at_threshold() -> None:
    """albuterol_similarity = min(FCFP4 Tanimoto / 0.75, 1)."""
    target = Chem.MolFromSmiles(TARGETS["albuterol"])
    for smiles in DRUGS[:6]:
        mol = Chem.MolFromSmiles(smiles)
        sim = DataStructs.TanimotoSimilarity(
            guacamol_fingerprint(target, "FCFP4"), guacamol_fingerprint(mol, "FCFP4")
        )
        assert get_oracle("albuterol_similarity")(smiles) == pytest.approx(min(sim / 0.75, 1.0))


def test_qed_matches_rdkit() -> None:
    for smiles in DRUGS:
        assert get_oracle("qed")(smiles) == pytest.approx(QED.qed(Chem.MolFromSmiles(smiles)))


@pytest.mark.parametrize(
    ("task", "isomer"),
    [
        ("isomers_c7h8n2o2", "Cc1cc([N+](=O)[O-])ccc1N"),  # 2-methyl-4-nitroaniline
        ("isomers_c7h8n2o2", "NC(=O)c1ccc(N)cc1O"),  # 4-amino-2-hydroxybenzamide
        ("isomers_c9h10n2o2pf2cl", "NC(=O)c1cc(F)c(F)cc1CCNP(=O)Cl"),
    ],
)
def test_correct_isomer_scores_one(task: str, isomer: str) -> None:
    mol = Chem.MolFromSmiles(isomer)
    assert mol is not None
    assert get_oracle(task)(isomer) == pytest.approx(1.0)


def test_isomer_score_by_hand() -> None:
    """Toluene for C7H8N2O2: C=7 (1), H=8 (1), N=0, O=0 -> exp(-2) each, total 15 vs 19."""
    details = get_oracle("isomers_c7h8n2o2").evaluate(Chem.MolFromSmiles("Cc1ccccc1"))
    expected = geometric_mean([1.0, 1.0, math.exp(-2), math.exp(-2), math.exp(-0.5 * 4)])
    assert details["n_N"] == 0 and details["n_atoms"] == 15
    assert details["score"] == pytest.approx(expected)


def test_mpo_by_hand() -> None:
    """osimertinib_mpo recomputed from its four published components."""
    smiles = TARGETS["sildenafil"]
    mol = Chem.MolFromSmiles(smiles)
    target = Chem.MolFromSmiles(TARGETS["osimertinib"])

    def sim(kind: str) -> float:
        return DataStructs.TanimotoSimilarity(
            guacamol_fingerprint(target, kind), guacamol_fingerprint(mol, kind)
        )

    parts = [
        min(sim("FCFP4") / 0.8, 1.0),
        math.exp(-0.5 * ((max(sim("ECFP6"), 0.85) - 0.85) / 0.1) ** 2),
        math.exp(-0.5 * ((min(Descriptors.TPSA(mol), 100) - 100) / 10) ** 2),
        math.exp(-0.5 * ((max(Descriptors.MolLogP(mol), 1) - 1) / 1) ** 2),
    ]
    assert get_oracle("osimertinib_mpo")(smiles) == pytest.approx(np.prod(parts) ** 0.25)


def test_hop_tasks_on_their_start_molecule() -> None:
    """The start molecule keeps the scaffold and the decorations: deco_hop = (1+0+0+1)/4,
    scaffold_hop = (1+1+0)/3."""
    start = TARGETS["hop_pharmacophore"]
    assert get_oracle("deco_hop")(start) == pytest.approx(0.5)
    assert get_oracle("scaffold_hop")(start) == pytest.approx(2 / 3)


def test_valsartan_smarts_needs_the_smarts() -> None:
    details = get_oracle("valsartan_smarts").evaluate(
        Chem.MolFromSmiles("CCCCC(=O)N(C)Cc1ccc(-c2ccccc2)cc1")
    )
    assert details["smarts"] == 1.0
    assert get_oracle("valsartan_smarts")("c1ccccc1") == 0.0  # no match: geometric mean is 0


def test_median_is_geometric_mean_of_two_similarities() -> None:
    d = get_oracle("median1").evaluate(Chem.MolFromSmiles(TARGETS["camphor"]))
    assert d["sim_camphor"] == pytest.approx(1.0)
    assert d["score"] == pytest.approx(math.sqrt(d["sim_menthol"]))


def test_modifiers() -> None:
    assert GaussianModifier(2, 0.5)(2) == 1.0
    assert GaussianModifier(2, 0.5)(3) == pytest.approx(math.exp(-2))
    assert MinGaussianModifier(1, 1)(-5) == 1.0
    assert MinGaussianModifier(1, 1)(2) == pytest.approx(math.exp(-0.5))
    assert MaxGaussianModifier(100, 10)(150) == 1.0
    assert MaxGaussianModifier(100, 10)(90) == pytest.approx(math.exp(-0.5))
    clipped = ClippedScoreModifier(upper_x=0.75)
    assert np.allclose(clipped(np.array([-1, 0, 0.375, 0.75, 0.9])), [0, 0, 0.5, 1, 1])
    assert ThresholdedLinearModifier(0.5)(0.25) == 0.5
    assert ThresholdedLinearModifier(0.5)(0.8) == 1.0
    with pytest.raises(ValueError):
        ClippedScoreModifier(upper_x=0.0)


def test_parse_molecular_formula() -> None:
    assert parse_molecular_formula("C9H10N2O2PF2Cl") == [
        ("C", 9),
        ("H", 10),
        ("N", 2),
        ("O", 2),
        ("P", 1),
        ("F", 2),
        ("Cl", 1),
    ]
    with pytest.raises(ValueError):
        parse_molecular_formula("c1ccccc1")
