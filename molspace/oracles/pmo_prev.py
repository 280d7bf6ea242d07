"""The four PMO tasks as PyTDC <= 0.3.6 scored them (the ``*_prev`` oracles of current TDC).

Why this module exists: PMO's published rows (Gao et al. 2022, mol_opt pinned PyTDC 0.3.6)
were not computed with the chemically correct isomer score on four tasks. TDC changed
them in August 2022 and keeps the old scoring under ``_prev`` names
(``tdc/chem_utils/oracle/oracle.py``: ``Isomer_scoring_prev``, ``isomers_c7h8n2o2_prev``,
``isomers_c9h10n2o2pf2cl_prev``, ``zaleplon_mpo_prev``, ``sitagliptin_mpo_prev``).
molspace's default oracles (``molspace.oracles.pmo``) stay the GuacaMol definitions; these
are registered beside them, under the same ``_prev`` names, so a benchmark can print both.

What differs (the old isomer score): the per-element counts are right (RDKit atoms,
hydrogens added for H), but the *total* atom count is read from the SMILES **string**
with the molecular-formula regex ``([A-Z][a-z]*)(\\d*)``: aromatic (lowercase) atoms and
implicit hydrogens are not counted, an uppercase letter followed by lowercase letters is
one "element" (``Cc`` in ``Cc1ccccc1`` counts once, ``Cl`` correctly once), and digits
after it are read as a count, so ring-closure digits count (``C12`` adds 12). The total
is then scored with Gaussian(mu=formula total, sigma=2) as before. Two consequences:

- a true isomer scores far below 1: ``Cc1cc([N+](=O)[O-])ccc1N`` (C7H8N2O2) reads as 5
  atoms instead of 19, so ``isomers_c7h8n2o2_prev`` gives exp(-4.9) = 0.0074 where the
  correct oracle gives 1.0;
- the score depends on how the molecule is written. Like mol_opt (``Oracle.score_smi``
  canonicalizes with ``Chem.MolToSmiles`` before calling the oracle), calling these
  oracles scores the **RDKit canonical SMILES** of the molecule; ``Oracle.score_as_written``
  reads the string as given.

Sitagliptin: which behaviour is implemented and why. Current TDC's
``sitagliptin_mpo_prev`` applies its Gaussian modifiers (cLogP and TPSA of sitagliptin,
sigma 0.2 and 5; similarity through Gaussian(0, 0.1)) and uses the string-based isomer
score: that is ``sitagliptin_mpo_prev`` here, so the name means what it means in TDC.
PyTDC 0.3.6's own ``sitagliptin_mpo`` is different again: it builds those modifiers but
puts the *raw* Tanimoto similarity, raw cLogP and raw TPSA into the geometric mean, so
scores above 1 are possible (sitagliptin itself scores 0.136 as its canonical SMILES and
0.355 written ``Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F``). That literal
variant is registered as ``sitagliptin_mpo_pytdc036``. A raw value <= 0 (a negative cLogP)
makes its geometric mean undefined (recent scipy returns nan; old ``scipy.stats.mstats``
masked the value out): we score it 0.0. Which of the two variants (or the corrected
oracle) each published sitagliptin row used cannot be settled from the papers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from rdkit import Chem

from molspace.oracles.modifiers import GaussianModifier, ScoreModifier
from molspace.oracles.pmo import TARGETS
from molspace.oracles.scoring import (
    Component,
    MolContext,
    Oracle,
    RawFunction,
    atom_count,
    clogp,
    descriptor,
    geometric_mean,
    parse_molecular_formula,
    tanimoto_to,
    tpsa,
)

__all__ = [
    "CHANGED_TASKS",
    "PREV_TASKS",
    "VARIANT_TASKS",
    "prev_isomer_components",
    "prev_oracle_builders",
    "smiles_string_atom_total",
]

#: the four PMO tasks whose oracle changed after PMO, each with its PyTDC <= 0.3.6 name
CHANGED_TASKS: dict[str, str] = {
    "isomers_c7h8n2o2": "isomers_c7h8n2o2_prev",
    "isomers_c9h10n2o2pf2cl": "isomers_c9h10n2o2pf2cl_prev",
    "sitagliptin_mpo": "sitagliptin_mpo_prev",
    "zaleplon_mpo": "zaleplon_mpo_prev",
}
PREV_TASKS: tuple[str, ...] = tuple(CHANGED_TASKS.values())
#: other historical variants (not a TDC name): PyTDC 0.3.6's literal sitagliptin_mpo
VARIANT_TASKS: tuple[str, ...] = ("sitagliptin_mpo_pytdc036",)

_FORMULA_TOKEN = re.compile(r"([A-Z][a-z]*)(\d*)")
_SITAGLIPTIN = TARGETS["sitagliptin"]
_ZALEPLON = TARGETS["zaleplon"]
_TDC = "tdc/chem_utils/oracle/oracle.py"


def smiles_string_atom_total(text: str) -> int:
    """PyTDC <= 0.3.6's "total atom count" of a SMILES string: every match of
    ``[A-Z][a-z]*`` counts as many atoms as the digits right after it say (1 if none).
    Deliberately wrong chemistry, reproduced as published (see the module docstring)."""
    return sum(int(count) if count else 1 for _, count in _FORMULA_TOKEN.findall(text))


def _string_total(ctx: MolContext) -> float:
    return float(smiles_string_atom_total(ctx.smiles))


def prev_isomer_components(formula: str) -> tuple[Component, ...]:
    """``Isomer_scoring_prev``: Gaussian(n, 1) per element of ``formula`` on RDKit counts
    (H added) and Gaussian(total, 2) on the string-based total of the SMILES."""
    counts = parse_molecular_formula(formula)
    total = sum(n for _, n in counts)
    parts = [
        Component(f"n_{element}", atom_count(element), GaussianModifier(mu=n, sigma=1.0))
        for element, n in counts
    ]
    parts.append(Component("n_atoms_string", _string_total, GaussianModifier(mu=total, sigma=2.0)))
    return tuple(parts)


def _prev_isomer_score(formula: str) -> RawFunction:
    parts = prev_isomer_components(formula)

    def raw(ctx: MolContext) -> float:
        return geometric_mean([p.evaluate(ctx)[1] for p in parts])

    return raw


def _target_property(smiles: str, function: Callable[[Chem.Mol], float]) -> float:
    return float(function(Chem.MolFromSmiles(smiles)))


class _PositiveOrZero(ScoreModifier):
    """``x`` for x > 0, else 0.0: a raw value the geometric mean cannot take scores zero."""

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        arr = np.asarray(x, dtype=float)
        return np.where(arr > 0, arr, 0.0)


def _isomers_prev(formula: str) -> Oracle:
    name = f"isomers_{formula.lower()}_prev"
    return Oracle(
        name=name,
        components=prev_isomer_components(formula),
        description=f"isomer of {formula}, total atom count read from the SMILES string "
        "(PyTDC <= 0.3.6)",
        source=f"{_TDC}: {name} -> Isomer_scoring_prev('{formula}')",
    )


def _zaleplon_prev() -> Oracle:
    return Oracle(
        name="zaleplon_mpo_prev",
        components=(
            Component("sim_ecfp4", tanimoto_to(_ZALEPLON, "ECFP4")),
            Component("isomer_C19H17N3O2_prev", _prev_isomer_score("C19H17N3O2")),
        ),
        description="similar to zaleplon (ECFP4), formula C19H17N3O2 with the string-based "
        "total (PyTDC <= 0.3.6)",
        source=f"{_TDC}: zaleplon_mpo_prev",
    )


def _sitagliptin_prev() -> Oracle:
    return Oracle(
        name="sitagliptin_mpo_prev",
        components=(
            Component(
                "sim_ecfp4", tanimoto_to(_SITAGLIPTIN, "ECFP4"), GaussianModifier(mu=0, sigma=0.1)
            ),
            Component(
                "logp",
                descriptor(clogp),
                GaussianModifier(mu=_target_property(_SITAGLIPTIN, clogp), sigma=0.2),
            ),
            Component(
                "tpsa",
                descriptor(tpsa),
                GaussianModifier(mu=_target_property(_SITAGLIPTIN, tpsa), sigma=5),
            ),
            Component("isomer_C16H15F6N5O_prev", _prev_isomer_score("C16H15F6N5O")),
        ),
        description="sitagliptin MPO with modifiers applied and the string-based isomer "
        "total (current TDC's _prev)",
        source=f"{_TDC}: sitagliptin_mpo_prev",
    )


def _sitagliptin_pytdc036() -> Oracle:
    positive = _PositiveOrZero()
    return Oracle(
        name="sitagliptin_mpo_pytdc036",
        components=(
            Component("sim_ecfp4", tanimoto_to(_SITAGLIPTIN, "ECFP4"), positive),
            Component("logp", descriptor(clogp), positive),
            Component("tpsa", descriptor(tpsa), positive),
            Component("isomer_C16H15F6N5O_prev", _prev_isomer_score("C16H15F6N5O"), positive),
        ),
        description="PyTDC 0.3.6 sitagliptin_mpo as shipped: raw similarity, cLogP and TPSA "
        "in the geometric mean (can exceed 1)",
        source="PyTDC 0.3.6 tdc/chem_utils/oracle/oracle.py: sitagliptin_mpo",
    )


def prev_oracle_builders() -> dict[str, Callable[[], Oracle]]:
    """Builders of the ``_prev`` oracles and the PyTDC 0.3.6 sitagliptin variant, by name."""
    return {
        "isomers_c7h8n2o2_prev": lambda: _isomers_prev("C7H8N2O2"),
        "isomers_c9h10n2o2pf2cl_prev": lambda: _isomers_prev("C9H10N2O2PF2Cl"),
        "zaleplon_mpo_prev": _zaleplon_prev,
        "sitagliptin_mpo_prev": _sitagliptin_prev,
        "sitagliptin_mpo_pytdc036": _sitagliptin_pytdc036,
    }
