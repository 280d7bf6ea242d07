"""Building blocks of the GuacaMol/PMO oracles: components, aggregation, the ``Oracle`` type.

An oracle is a list of components (a raw value computed from the molecule, then an
optional score modifier) aggregated by a geometric or arithmetic mean, exactly the
structure of GuacaMol's ``GeometricMeanScoringFunction`` / ``ArithmeticMeanScoringFunction``
(``guacamol/common_scoring_functions.py``, ``guacamol/scoring_function.py``). Keeping the
components visible lets the optimizer record them per molecule and lets molspace
objectives reuse a PMO task as one component.

Invalid input follows the PMO convention (``mol_opt/main/optimizer.py``, ``Oracle.score_smi``):
an unparseable or empty SMILES scores 0.0 (GuacaMol itself would return -1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdMolDescriptors

from molspace.chem.rdlog import capture_rdkit_log
from molspace.oracles.fingerprints import guacamol_fingerprint
from molspace.oracles.modifiers import GaussianModifier, ScoreModifier

__all__ = [
    "Component",
    "MolContext",
    "Oracle",
    "atom_count",
    "clogp",
    "geometric_mean",
    "isomer_components",
    "parse_molecular_formula",
    "smarts_match",
    "tanimoto_to",
    "total_atoms",
    "tpsa",
]


class MolContext:
    """A molecule plus a per-molecule fingerprint cache, so components share fingerprints.

    ``smiles`` is the text a string-based component reads (only the PyTDC <= 0.3.6 isomer
    count of ``molspace.oracles.pmo_prev`` does): the string given, else RDKit's canonical
    SMILES of the molecule, which is what mol_opt hands its oracles.
    """

    __slots__ = ("_fps", "_smiles", "_with_h", "mol")

    def __init__(self, mol: Chem.Mol, smiles: str | None = None) -> None:
        self.mol = mol
        self._fps: dict[str, Any] = {}
        self._with_h: Chem.Mol | None = None
        self._smiles = smiles

    @property
    def smiles(self) -> str:
        if self._smiles is None:
            self._smiles = Chem.MolToSmiles(self.mol)
        return self._smiles

    def fingerprint(self, kind: str) -> Any:
        if kind not in self._fps:
            self._fps[kind] = guacamol_fingerprint(self.mol, kind)
        return self._fps[kind]

    @property
    def with_hydrogens(self) -> Chem.Mol:
        """The molecule with explicit hydrogens (GuacaMol counts H through ``Chem.AddHs``)."""
        if self._with_h is None:
            self._with_h = Chem.AddHs(self.mol)
        return self._with_h


RawFunction = Callable[[MolContext], float]


@dataclass(frozen=True)
class Component:
    """One scored aspect of a molecule: ``modifier(raw(mol))`` (no modifier = raw value)."""

    name: str
    raw: RawFunction
    modifier: ScoreModifier | None = None

    def evaluate(self, ctx: MolContext) -> tuple[float, float]:
        """(raw value, modified score)."""
        value = float(self.raw(ctx))
        score = value if self.modifier is None else float(self.modifier(value))
        return value, score


def geometric_mean(values: Sequence[float]) -> float:
    """``prod(values) ** (1/n)`` as GuacaMol's ``geometric_mean``; one zero makes it zero."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return 0.0
    return float(np.prod(arr) ** (1.0 / arr.size))


_AGGREGATIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "geometric": geometric_mean,
    "arithmetic": lambda values: float(np.mean(values)),
}


@dataclass(frozen=True)
class Oracle:
    """A PMO/GuacaMol task: named components aggregated into one score in [0, 1].

    ``oracle(smiles)`` scores one SMILES (0.0 when it does not parse), ``oracle.score_mol``
    one RDKit molecule, ``oracle.evaluate`` returns every component's raw value and score.
    """

    name: str
    components: tuple[Component, ...]
    aggregation: str = "geometric"
    description: str = ""
    source: str = ""
    _agg: Callable[[Sequence[float]], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.aggregation not in _AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}")
        if not self.components:
            raise ValueError("an oracle needs at least one component")
        object.__setattr__(self, "_agg", _AGGREGATIONS[self.aggregation])

    @property
    def component_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components)

    def _aggregate(self, scores: Sequence[float]) -> float:
        if len(scores) == 1:
            return float(scores[0])
        return self._agg(scores)

    def score_mol(self, mol: Chem.Mol) -> float:
        """The task score of an RDKit molecule."""
        return self.score_context(MolContext(mol))

    def score_context(self, ctx: MolContext) -> float:
        """The task score of a prepared molecule context."""
        return self._aggregate([c.evaluate(ctx)[1] for c in self.components])

    def evaluate(self, mol: Chem.Mol) -> dict[str, float]:
        """``{"<component>": raw, "<component>_score": modified, ..., "score": total}``."""
        ctx = MolContext(mol)
        out: dict[str, float] = {}
        scores = []
        for component in self.components:
            raw, score = component.evaluate(ctx)
            out[component.name] = raw
            out[f"{component.name}_score"] = score
            scores.append(score)
        out["score"] = self._aggregate(scores)
        return out

    def __call__(self, smiles: str) -> float:
        mol = _parse(smiles)
        return 0.0 if mol is None else self.score_mol(mol)

    def score_as_written(self, smiles: str) -> float:
        """The score with string-based components reading ``smiles`` exactly as written
        rather than its canonical form (the same as calling the oracle for every task
        without such a component); 0.0 when it does not parse."""
        mol = _parse(smiles)
        return 0.0 if mol is None else self.score_context(MolContext(mol, smiles=smiles))

    def score_smiles(self, smiles: Sequence[str]) -> np.ndarray:
        """Scores of many SMILES (0.0 for those that do not parse)."""
        return np.array([self(s) for s in smiles], dtype=float)


def _parse(smiles: str) -> Chem.Mol | None:
    if not smiles:
        return None
    with capture_rdkit_log():  # an unparsable molecule scores 0, its message is not printed
        return Chem.MolFromSmiles(smiles)


# --- raw functions ----------------------------------------------------------------------


def tanimoto_to(target_smiles: str, kind: str) -> RawFunction:
    """Tanimoto similarity to ``target_smiles`` on the GuacaMol fingerprint ``kind``."""
    target_mol = Chem.MolFromSmiles(target_smiles)
    if target_mol is None:  # a programming error in a task table, never user input
        raise ValueError(f"invalid target SMILES {target_smiles!r}")
    target_fp = guacamol_fingerprint(target_mol, kind)

    def raw(ctx: MolContext) -> float:
        return DataStructs.TanimotoSimilarity(target_fp, ctx.fingerprint(kind))

    return raw


def atom_count(element: str) -> RawFunction:
    """Number of atoms of ``element`` (hydrogens included, as GuacaMol's ``AtomCounter``)."""

    def raw(ctx: MolContext) -> float:
        mol = ctx.with_hydrogens if element == "H" else ctx.mol
        return float(sum(1 for atom in mol.GetAtoms() if atom.GetSymbol() == element))

    return raw


def total_atoms(ctx: MolContext) -> float:
    """All atoms including hydrogens (GuacaMol ``num_atoms``: ``Chem.AddHs(mol).GetNumAtoms()``)."""
    return float(ctx.with_hydrogens.GetNumAtoms())


def smarts_match(smarts: str, inverse: bool = False) -> RawFunction:
    """1.0 if the SMARTS matches (0.0 if ``inverse``), as GuacaMol's ``SMARTSScoringFunction``."""
    pattern = Chem.MolFromSmarts(smarts)
    if pattern is None:
        raise ValueError(f"invalid SMARTS {smarts!r}")

    def raw(ctx: MolContext) -> float:
        hit = ctx.mol.HasSubstructMatch(pattern)
        return float(hit != inverse)

    return raw


def descriptor(function: Callable[[Chem.Mol], float]) -> RawFunction:
    """Wrap an RDKit descriptor ``f(mol)`` as a raw function."""

    def raw(ctx: MolContext) -> float:
        return float(function(ctx.mol))

    return raw


def clogp(mol: Chem.Mol) -> float:
    """Crippen cLogP: the value of ``Descriptors.MolLogP``, through a typed RDKit call."""
    return float(rdMolDescriptors.CalcCrippenDescriptors(mol)[0])


def tpsa(mol: Chem.Mol) -> float:
    """TPSA: the value of ``Descriptors.TPSA``, through a typed RDKit call."""
    return float(rdMolDescriptors.CalcTPSA(mol))


def parse_molecular_formula(formula: str) -> list[tuple[str, int]]:
    """``"C9H10N2O2PF2Cl"`` -> ``[("C", 9), ("H", 10), ("N", 2), ("O", 2), ("P", 1), ...]``."""
    matches = re.findall(r"([A-Z][a-z]*)(\d*)", formula)
    if not matches or "".join(e + n for e, n in matches) != formula:
        raise ValueError(f"not a molecular formula: {formula!r}")
    return [(element, int(count) if count else 1) for element, count in matches]


def isomer_components(formula: str) -> tuple[Component, ...]:
    """GuacaMol ``IsomerScoringFunction``: one Gaussian(mu=n, sigma=1) per element of the
    formula plus a Gaussian(mu=total, sigma=2) on the total atom count (H included).

    PyTDC <= 0.3.6 (``Isomer_scoring``, now TDC's ``Isomer_scoring_prev``) computed the
    total from the SMILES *string* with the formula regex, which miscounts aromatic and
    hydrogen atoms; we follow GuacaMol's definition (the old one is
    ``molspace.oracles.pmo_prev.prev_isomer_components``).
    """
    counts = parse_molecular_formula(formula)
    total = sum(n for _, n in counts)
    parts = [
        Component(f"n_{element}", atom_count(element), GaussianModifier(mu=n, sigma=1.0))
        for element, n in counts
    ]
    parts.append(Component("n_atoms", total_atoms, GaussianModifier(mu=total, sigma=2.0)))
    return tuple(parts)


def isomer_score(formula: str) -> RawFunction:
    """The isomer score of ``formula`` as a single value (used inside the zaleplon and
    sitagliptin MPOs, where GuacaMol nests an ``IsomerScoringFunction``)."""
    parts = isomer_components(formula)

    def raw(ctx: MolContext) -> float:
        return geometric_mean([p.evaluate(ctx)[1] for p in parts])

    return raw
