"""The 20 pure-RDKit tasks of the PMO benchmark (Gao et al., NeurIPS 2022, "Sample
Efficiency Matters"), i.e. the GuacaMol goal-directed tasks (Brown et al. 2019) under the
names TDC and mol_opt give them.

Every definition below was checked against ``guacamol/standard_benchmarks.py`` (the
functions named in each ``source``) and ``tdc/chem_utils/oracle/oracle.py`` (same name as
the task). Targets, fingerprints, modifiers and aggregation are identical in both; where
they differ (TDC's isomer total-atom count) we follow GuacaMol and say so.

These are the chemically correct definitions, the ones TDC uses since August 2022. PMO's
published rows (PyTDC 0.3.6) used a string-based isomer count on four tasks
(``isomers_c7h8n2o2``, ``isomers_c9h10n2o2pf2cl``, ``sitagliptin_mpo``, ``zaleplon_mpo``);
those old definitions are in ``molspace.oracles.pmo_prev`` under TDC's ``*_prev`` names,
and ``get_oracle`` returns them by those names.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from rdkit import Chem
from rdkit.Chem import QED, Descriptors, rdMolDescriptors

from molspace.oracles.modifiers import (
    ClippedScoreModifier,
    GaussianModifier,
    MaxGaussianModifier,
    MinGaussianModifier,
)
from molspace.oracles.scoring import (
    Component,
    Oracle,
    atom_count,
    clogp,
    descriptor,
    isomer_components,
    isomer_score,
    smarts_match,
    tanimoto_to,
    tpsa,
)

__all__ = ["PMO_TASKS", "TARGETS", "get_oracle", "pmo_task_names"]

#: target molecules exactly as written in GuacaMol / TDC
TARGETS = {
    "albuterol": "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",
    "mestranol": "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",
    "celecoxib": "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
    "troglitazone": "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",
    "thiothixene": "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",
    "amlodipine": "Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC",
    "fexofenadine": "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",
    "osimertinib": "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",
    "perindopril": "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC",
    "ranolazine": "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2",
    "sitagliptin": "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F",
    # the same molecule written as GuacaMol's valsartan_smarts task writes it
    "sitagliptin_valsartan": "NC(CC(=O)N1CCn2c(nnc2C(F)(F)F)C1)Cc1cc(F)c(F)cc1F",
    "zaleplon": "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1",
    "camphor": "CC1(C)C2CCC1(C)C(=O)C2",
    "menthol": "CC(C)C1CCC(C)CC1O",
    "tadalafil": "O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C",
    "sildenafil": "CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C",
    "hop_pharmacophore": "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C",
}

_GUACAMOL = "guacamol/standard_benchmarks.py"
_HOP_SCAFFOLD = "[#7]-c1n[c;h1]nc2[c;h1]c(-[#8])[c;h0][c;h1]c12"

_logp = descriptor(clogp)
_tpsa = descriptor(tpsa)
_bertz = descriptor(Descriptors.BertzCT)


def _mol_property(smiles: str, function: Callable[[Chem.Mol], float]) -> float:
    return float(function(Chem.MolFromSmiles(smiles)))


def _similarity(name: str, target: str, kind: str, threshold: float) -> Oracle:
    return Oracle(
        name=f"{target}_similarity",
        components=(
            Component(
                f"sim_{kind.lower()}",
                tanimoto_to(TARGETS[target], kind),
                ClippedScoreModifier(upper_x=threshold),
            ),
        ),
        description=f"{kind} count Tanimoto to {target}, clipped at {threshold}",
        source=f"{_GUACAMOL}: similarity(..., name='{name}', fp_type='{kind}', "
        f"threshold={threshold})",
    )


def _rediscovery(name: str, target: str) -> Oracle:
    return Oracle(
        name=f"{target}_rediscovery",
        components=(Component("sim_ecfp4", tanimoto_to(TARGETS[target], "ECFP4")),),
        description=f"ECFP4 count Tanimoto to {target}",
        source=f"{_GUACAMOL}: similarity(..., name='{name}', fp_type='ECFP4', "
        "threshold=1.0, rediscovery=True)",
    )


def _median(name: str, a: str, b: str, kind: str) -> Oracle:
    return Oracle(
        name=name,
        components=(
            Component(f"sim_{a}", tanimoto_to(TARGETS[a], kind)),
            Component(f"sim_{b}", tanimoto_to(TARGETS[b], kind)),
        ),
        description=f"geometric mean of {kind} similarity to {a} and {b}",
        source=f"{_GUACAMOL}: median_{a}_{b}",
    )


def _isomers(formula: str) -> Oracle:
    return Oracle(
        name=f"isomers_{formula.lower()}",
        components=isomer_components(formula),
        description=f"isomer of {formula}",
        source=f"{_GUACAMOL}: isomers_{formula.lower()} -> IsomerScoringFunction('{formula}') "
        "(guacamol/common_scoring_functions.py)",
    )


def _amlodipine() -> Oracle:
    return Oracle(
        name="amlodipine_mpo",
        components=(
            Component("sim_ecfp4", tanimoto_to(TARGETS["amlodipine"], "ECFP4")),
            Component(
                "rings",
                descriptor(rdMolDescriptors.CalcNumRings),
                GaussianModifier(mu=3, sigma=0.5),
            ),
        ),
        description="similar to amlodipine (ECFP4) with 3 rings",
        source=f"{_GUACAMOL}: amlodipine_rings",
    )


def _fexofenadine() -> Oracle:
    return Oracle(
        name="fexofenadine_mpo",
        components=(
            Component(
                "sim_ap",
                tanimoto_to(TARGETS["fexofenadine"], "AP"),
                ClippedScoreModifier(upper_x=0.8),
            ),
            Component("tpsa", _tpsa, MaxGaussianModifier(mu=90, sigma=10)),
            Component("logp", _logp, MinGaussianModifier(mu=4, sigma=1)),
        ),
        description="similar to fexofenadine (AP), TPSA >= 90, logP <= 4",
        source=f"{_GUACAMOL}: hard_fexofenadine",
    )


def _osimertinib() -> Oracle:
    target = TARGETS["osimertinib"]
    return Oracle(
        name="osimertinib_mpo",
        components=(
            Component("sim_fcfp4", tanimoto_to(target, "FCFP4"), ClippedScoreModifier(upper_x=0.8)),
            Component(
                "sim_ecfp6", tanimoto_to(target, "ECFP6"), MinGaussianModifier(mu=0.85, sigma=0.1)
            ),
            Component("tpsa", _tpsa, MaxGaussianModifier(mu=100, sigma=10)),
            Component("logp", _logp, MinGaussianModifier(mu=1, sigma=1)),
        ),
        description="similar to osimertinib (FCFP4) but not too similar (ECFP6), TPSA >= 100, "
        "logP <= 1",
        source=f"{_GUACAMOL}: hard_osimertinib",
    )


def _perindopril() -> Oracle:
    return Oracle(
        name="perindopril_mpo",
        components=(
            Component("sim_ecfp4", tanimoto_to(TARGETS["perindopril"], "ECFP4")),
            Component(
                "aromatic_rings",
                descriptor(rdMolDescriptors.CalcNumAromaticRings),
                GaussianModifier(mu=2, sigma=0.5),
            ),
        ),
        description="similar to perindopril (ECFP4) with 2 aromatic rings",
        source=f"{_GUACAMOL}: perindopril_rings",
    )


def _ranolazine() -> Oracle:
    return Oracle(
        name="ranolazine_mpo",
        components=(
            Component(
                "sim_ap",
                tanimoto_to(TARGETS["ranolazine"], "AP"),
                ClippedScoreModifier(upper_x=0.7),
            ),
            Component("tpsa", _tpsa, MaxGaussianModifier(mu=95, sigma=20)),
            Component("logp", _logp, MaxGaussianModifier(mu=7, sigma=1)),
            Component("n_F", atom_count("F"), GaussianModifier(mu=1, sigma=1.0)),
        ),
        description="similar to ranolazine (AP), TPSA >= 95, logP >= 7, one fluorine",
        source=f"{_GUACAMOL}: ranolazine_mpo",
    )


def _sitagliptin() -> Oracle:
    target = TARGETS["sitagliptin"]
    return Oracle(
        name="sitagliptin_mpo",
        components=(
            Component("sim_ecfp4", tanimoto_to(target, "ECFP4"), GaussianModifier(mu=0, sigma=0.1)),
            Component(
                "logp",
                _logp,
                GaussianModifier(mu=_mol_property(target, clogp), sigma=0.2),
            ),
            Component("tpsa", _tpsa, GaussianModifier(mu=_mol_property(target, tpsa), sigma=5)),
            Component("isomer_C16H15F6N5O", isomer_score("C16H15F6N5O")),
        ),
        description="isomer of sitagliptin's formula with its logP and TPSA but dissimilar",
        source=f"{_GUACAMOL}: sitagliptin_replacement",
    )


def _zaleplon() -> Oracle:
    return Oracle(
        name="zaleplon_mpo",
        components=(
            Component("sim_ecfp4", tanimoto_to(TARGETS["zaleplon"], "ECFP4")),
            Component("isomer_C19H17N3O2", isomer_score("C19H17N3O2")),
        ),
        description="similar to zaleplon (ECFP4) with formula C19H17N3O2",
        source=f"{_GUACAMOL}: zaleplon_with_other_formula",
    )


def _valsartan_smarts() -> Oracle:
    # GuacaMol takes the property targets from sitagliptin
    other = TARGETS["sitagliptin_valsartan"]
    return Oracle(
        name="valsartan_smarts",
        components=(
            Component("smarts", smarts_match("CN(C=O)Cc1ccc(c2ccccc2)cc1")),
            Component("tpsa", _tpsa, GaussianModifier(mu=_mol_property(other, tpsa), sigma=5)),
            Component(
                "logp",
                _logp,
                GaussianModifier(mu=_mol_property(other, clogp), sigma=0.2),
            ),
            Component(
                "bertz",
                _bertz,
                GaussianModifier(mu=_mol_property(other, Descriptors.BertzCT), sigma=30),
            ),
        ),
        description="valsartan's SMARTS with sitagliptin's logP, TPSA and Bertz complexity",
        source=f"{_GUACAMOL}: valsartan_smarts -> smarts_with_other_target",
    )


def _deco_hop() -> Oracle:
    return Oracle(
        name="deco_hop",
        components=(
            Component(
                "sim_phco",
                tanimoto_to(TARGETS["hop_pharmacophore"], "PHCO"),
                ClippedScoreModifier(upper_x=0.85),
            ),
            Component("no_sulfonyl", smarts_match("CS([#6])(=O)=O", inverse=True)),
            Component("no_benzothiazole_amine", smarts_match("[#7]-c1ccc2ncsc2c1", inverse=True)),
            Component("scaffold", smarts_match(_HOP_SCAFFOLD)),
        ),
        aggregation="arithmetic",
        description="keep the quinazoline scaffold, change the decorations, keep pharmacophore",
        source=f"{_GUACAMOL}: decoration_hop",
    )


def _scaffold_hop() -> Oracle:
    return Oracle(
        name="scaffold_hop",
        components=(
            Component(
                "sim_phco",
                tanimoto_to(TARGETS["hop_pharmacophore"], "PHCO"),
                ClippedScoreModifier(upper_x=0.75),
            ),
            Component(
                "decoration",
                smarts_match("[#6]-[#6]-[#6]-[#8]-[#6]~[#6]~[#6]~[#6]~[#6]-[#7]-c1ccc2ncsc2c1"),
            ),
            Component("not_scaffold", smarts_match(_HOP_SCAFFOLD, inverse=True)),
        ),
        aggregation="arithmetic",
        description="keep the decorations, replace the scaffold, keep pharmacophore",
        source=f"{_GUACAMOL}: scaffold_hop",
    )


def _qed() -> Oracle:
    return Oracle(
        name="qed",
        components=(Component("qed", descriptor(QED.qed)),),
        description="RDKit QED",
        source="tdc/chem_utils/oracle/oracle.py: qed (rdkit.Chem.QED.qed)",
    )


_BUILDERS: dict[str, Callable[[], Oracle]] = {
    "albuterol_similarity": lambda: _similarity("Albuterol", "albuterol", "FCFP4", 0.75),
    "mestranol_similarity": lambda: _similarity("Mestranol", "mestranol", "AP", 0.75),
    "celecoxib_rediscovery": lambda: _rediscovery("Celecoxib", "celecoxib"),
    "troglitazone_rediscovery": lambda: _rediscovery("Troglitazone", "troglitazone"),
    "thiothixene_rediscovery": lambda: _rediscovery("Thiothixene", "thiothixene"),
    "amlodipine_mpo": _amlodipine,
    "fexofenadine_mpo": _fexofenadine,
    "osimertinib_mpo": _osimertinib,
    "perindopril_mpo": _perindopril,
    "ranolazine_mpo": _ranolazine,
    "sitagliptin_mpo": _sitagliptin,
    "zaleplon_mpo": _zaleplon,
    "isomers_c7h8n2o2": lambda: _isomers("C7H8N2O2"),
    "isomers_c9h10n2o2pf2cl": lambda: _isomers("C9H10N2O2PF2Cl"),
    "median1": lambda: _median("median1", "camphor", "menthol", "ECFP4"),
    "median2": lambda: _median("median2", "tadalafil", "sildenafil", "ECFP6"),
    "deco_hop": _deco_hop,
    "scaffold_hop": _scaffold_hop,
    "valsartan_smarts": _valsartan_smarts,
    "qed": _qed,
}

#: the 20 task names, in the order of the PMO paper's table
PMO_TASKS: tuple[str, ...] = tuple(sorted(_BUILDERS))


def pmo_task_names() -> tuple[str, ...]:
    return PMO_TASKS


@cache
def get_oracle(name: str) -> Oracle:
    """The PMO oracle called ``name`` (case-insensitive), or one of the PyTDC <= 0.3.6
    variants of ``molspace.oracles.pmo_prev`` (``*_prev``, ``sitagliptin_mpo_pytdc036``);
    ``KeyError``-free: raises ``ConfigError`` naming the known tasks."""
    from molspace.oracles.pmo_prev import prev_oracle_builders

    key = name.strip().lower()
    builders = {**_BUILDERS, **prev_oracle_builders()}
    if key not in builders:
        from molspace.errors import ConfigError

        raise ConfigError(
            f"unknown PMO task {name!r}; known: {', '.join(PMO_TASKS)} "
            f"(and the PyTDC <= 0.3.6 variants {', '.join(prev_oracle_builders())})"
        )
    return builders[key]()
