"""What an optimization trial is judged by: the scorer, the constraints, degenerate molecules.

A *scorer* turns canonical SMILES into objective values plus named components. Three
adapters cover molspace's sources: a PMO/GuacaMol oracle (``molspace.oracles``), a declared
``Objective`` (``molspace.scoring``, anything with ``score_mols``), and a user's
``module:function``. Constraints follow Optuna's convention (a list of floats, feasible
when all are <= 0) so TPE, GP and NSGA-II can use them through ``constraints_func``.

Degenerate molecules (tiny fragments, long CH2 chains, disconnected pieces) are the way a
latent optimizer games a property like penalized logP; they are rejected before the oracle
is called, so they neither spend budget nor reach the candidates table. The *prefilter*
rejects, at the same point, what a medicinal chemist strikes out at a glance: structural
alerts (MOSES's MCF by default) and the structure-sanity rules of
``molspace.chem.sanity`` (ring sizes, strained or anti-Bredt rings, non-aromatic ring
polyenes, elements). Every rejection keeps its reason (``"rule: detail"``), and
:func:`rejection_counts` tallies them for the run's summary.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from pydantic import Field, field_validator, model_validator
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors

from molspace.chem.filters import AlertCatalog, check_alert_families
from molspace.chem.sanity import (
    DEFAULT_ELEMENTS,
    DEFAULT_RING_SIZES,
    StructureSanity,
    check_elements,
    check_ring_sizes,
)
from molspace.config import StrictModel
from molspace.errors import ConfigError, InvalidMoleculeError

__all__ = [
    "PROPERTY_FUNCTIONS",
    "ConstraintSpec",
    "Constraints",
    "Scorer",
    "ScorerSpec",
    "build_scorer",
    "degenerate_reason",
    "longest_ch2_chain",
    "rejection_counts",
]

Scored = tuple[tuple[float, ...], dict[str, float]]


class Scorer(Protocol):
    """Scores canonical SMILES: one ``(values, components)`` per molecule."""

    @property
    def objective_names(self) -> tuple[str, ...]: ...

    @property
    def directions(self) -> tuple[str, ...]: ...

    def score(self, smiles: Sequence[str]) -> list[Scored]: ...


# --- scorer adapters -------------------------------------------------------------------


class _OneScore:
    """The names and direction of a scorer with one objective, ``score``, maximized."""

    @property
    def objective_names(self) -> tuple[str, ...]:
        return ("score",)

    @property
    def directions(self) -> tuple[str, ...]:
        return ("maximize",)


@dataclass
class OracleScorer(_OneScore):
    """A PMO/GuacaMol oracle: one objective ``score`` (maximize), components recorded."""

    oracle: Any

    def score(self, smiles: Sequence[str]) -> list[Scored]:
        out: list[Scored] = []
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                out.append(((0.0,), {}))
                continue
            details = self.oracle.evaluate(mol)
            total = details.pop("score")
            out.append(((float(total),), details))
        return out


@dataclass
class ObjectiveScorer:
    """A molspace ``Objective``: ``score`` or, multi-objective, each component's desirability."""

    objective: Any
    multi_objective: bool = False

    @property
    def objective_names(self) -> tuple[str, ...]:
        if self.multi_objective:
            return tuple(f"{n}_desirability" for n in self.objective.component_names)
        return ("score",)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple("maximize" for _ in self.objective_names)

    @property
    def expensive(self) -> bool:
        """The objective docks (or runs another component marked expensive)."""
        return bool(self.objective.expensive_names)

    def score(self, smiles: Sequence[str]) -> list[Scored]:
        mols = [Chem.MolFromSmiles(s) for s in smiles]
        table = self.objective.score_mols(mols)
        names = self.objective_names
        out: list[Scored] = []
        for _, row in table.iterrows():
            values = tuple(float(row[n]) if row[n] == row[n] else 0.0 for n in names)
            comps = {
                str(k): float(v)
                for k, v in row.items()
                if k not in names and isinstance(v, (int, float, np.floating, np.integer))
            }
            out.append((values, comps))
        return out


@dataclass
class CallableScorer(_OneScore):
    """A user's ``module:function`` taking a list of SMILES and returning a list of floats."""

    function: Callable[[list[str]], Sequence[float]]

    def score(self, smiles: Sequence[str]) -> list[Scored]:
        values = list(self.function(list(smiles)))
        if len(values) != len(smiles):
            raise ConfigError(f"scorer returned {len(values)} values for {len(smiles)} SMILES")
        return [((float(v),), {}) for v in values]


class ScorerSpec(StrictModel):
    """Which scorer a study uses: exactly one of ``pmo``, ``objective``, ``plugin``."""

    pmo: str | None = None
    objective: dict[str, Any] | None = None
    plugin: str | None = Field(None, description="module:function scoring a list of SMILES")
    multi_objective: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> ScorerSpec:
        given = [k for k in ("pmo", "objective", "plugin") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of pmo, objective, plugin")
        return self


def _load_plugin(reference: str) -> Callable[..., Any]:
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"plugin {reference!r}: expected 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"plugin {reference!r}: cannot import {module_name}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"plugin {reference!r}: {module_name} has no {attr}") from None


def build_scorer(spec: ScorerSpec) -> Scorer:
    """The scorer a spec names (built again inside each Dask worker)."""
    if spec.pmo is not None:
        from molspace.oracles import get_oracle

        return OracleScorer(get_oracle(spec.pmo))
    if spec.plugin is not None:
        return CallableScorer(_load_plugin(spec.plugin))
    try:
        from molspace.scoring import Objective, ObjectiveSpec
    except ImportError as exc:  # the objective module is another area's; say what is missing
        raise ConfigError(f"[objective] needs molspace.scoring: {exc}") from None
    from molspace.config import parse_config

    objective_spec = parse_config(ObjectiveSpec, spec.objective or {}, "[objective]")
    return ObjectiveScorer(Objective.from_spec(objective_spec), spec.multi_objective)


# --- degenerate molecules ----------------------------------------------------------------


def longest_ch2_chain(mol: Chem.Mol) -> int:
    """Length of the longest run of bonded acyclic CH2 carbons."""
    ch2 = {
        a.GetIdx()
        for a in mol.GetAtoms()
        if a.GetAtomicNum() == 6
        and not a.IsInRing()
        and a.GetTotalNumHs() == 2
        and a.GetDegree() == 2
        and a.GetFormalCharge() == 0
    }
    if not ch2:
        return 0
    parent = {i: i for i in ch2}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if a in ch2 and b in ch2:
            parent[find(a)] = find(b)
    sizes: dict[int, int] = {}
    for i in ch2:
        root = find(i)
        sizes[root] = sizes.get(root, 0) + 1
    return max(sizes.values())


def degenerate_reason(
    mol: Chem.Mol | None, min_heavy_atoms: int = 10, max_ch2_chain: int = 6
) -> str | None:
    """Why a decoded molecule is degenerate (None when it is a fair candidate)."""
    if mol is None:
        return "invalid"
    if mol.GetNumHeavyAtoms() < min_heavy_atoms:
        return f"too_small: {mol.GetNumHeavyAtoms()} heavy atoms < {min_heavy_atoms}"
    if len(Chem.GetMolFrags(mol)) > 1:
        return "fragments: more than one component"
    chain = longest_ch2_chain(mol)
    if chain > max_ch2_chain:
        return f"ch2_chain: {chain} acyclic CH2 in a row > {max_ch2_chain}"
    return None


# --- constraints ---------------------------------------------------------------------------

PROPERTY_FUNCTIONS: dict[str, Callable[[Chem.Mol], float]] = {
    "mw": Descriptors.MolWt,
    "clogp": Descriptors.MolLogP,
    "tpsa": Descriptors.TPSA,
    "hbd": Lipinski.NumHDonors,
    "hba": Lipinski.NumHAcceptors,
    "rotb": rdMolDescriptors.CalcNumRotatableBonds,
    "rings": rdMolDescriptors.CalcNumRings,
    "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings,
    "heavy_atoms": lambda m: m.GetNumHeavyAtoms(),
    "fsp3": rdMolDescriptors.CalcFractionCSP3,
    "qed": QED.qed,
}


class ConstraintSpec(StrictModel):
    """Feasibility rules of a study (Optuna constraints: every value <= 0 is feasible)."""

    leads: list[str] = Field(default_factory=list, description="SMILES the result must resemble")
    min_similarity: float | None = Field(None, ge=0.0, le=1.0)
    properties: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    no_alerts: bool = False
    alert_families: tuple[str, ...] = ("pains", "brenk")
    reject_degenerate: bool = True
    min_heavy_atoms: int = Field(10, ge=1)
    max_ch2_chain: int = Field(6, ge=1)
    prefilter: bool | None = Field(
        None,
        description="reject before scoring (no oracle call) by prefilter_alerts, ring_sanity "
        "and allowed_elements; None: on, except for a PMO task (its published rows filter "
        "nothing)",
    )
    prefilter_alerts: tuple[str, ...] = Field(
        ("mcf",), description="alert families rejected before scoring (mcf, pains, brenk, ...)"
    )
    ring_sanity: bool = Field(
        True, description="ring sizes, strained/anti-Bredt rings, ring polyenes, sp ring atoms"
    )
    ring_sizes: tuple[int, ...] = Field(
        DEFAULT_RING_SIZES, description="allowed ring sizes, plus those of the seeds and leads"
    )
    allowed_elements: tuple[str, ...] = Field(
        DEFAULT_ELEMENTS, description="plus those of the seeds and leads; [] allows any"
    )
    prefilter_infeasible: bool | None = Field(
        None,
        description="reject a molecule that breaks a constraint before scoring (no oracle "
        "call); None: on when the objective has an expensive component (docking)",
    )

    @field_validator("alert_families", "prefilter_alerts")
    @classmethod
    def _known_families(cls, families: tuple[str, ...]) -> tuple[str, ...]:
        return check_alert_families(families)

    @field_validator("ring_sizes")
    @classmethod
    def _ring_sizes(cls, sizes: tuple[int, ...]) -> tuple[int, ...]:
        return check_ring_sizes(sizes)

    @field_validator("allowed_elements")
    @classmethod
    def _elements(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return check_elements(symbols)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check(self) -> ConstraintSpec:
        unknown = sorted(set(self.properties) - set(PROPERTY_FUNCTIONS))
        if unknown:
            raise ValueError(
                f"unknown property {unknown[0]!r}; known: {', '.join(PROPERTY_FUNCTIONS)}"
            )
        if self.min_similarity is not None and not self.leads:
            raise ValueError("min_similarity needs at least one lead SMILES in leads")
        return self


@lru_cache(maxsize=1)
def _morgan() -> Any:
    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


@lru_cache(maxsize=8)
def _alert_catalog(families: tuple[str, ...]) -> AlertCatalog:
    return AlertCatalog(families=families)


class Constraints:
    """Evaluates a ``ConstraintSpec`` on molecules; ``active`` is False when nothing is asked.

    ``references`` (the run's seed molecules) widen the prefilter as the leads do: a ring
    size or element a seed or lead has is allowed in its analogs. ``expensive``: the
    objective costs seconds per molecule (docking), so by default a molecule that breaks
    a constraint is rejected before it is scored (``prefilter_infeasible``): it could
    never be a candidate.
    """

    def __init__(
        self, spec: ConstraintSpec, references: Sequence[str] = (), expensive: bool = False
    ) -> None:
        self.spec = spec
        infeasible = spec.prefilter_infeasible
        self.reject_infeasible = (expensive if infeasible is None else infeasible) and self.active
        self._lead_fps = []
        for smiles in spec.leads:
            mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                raise InvalidMoleculeError(f"{smiles}: lead does not parse")
            self._lead_fps.append(_morgan().GetFingerprint(mol))
        self._sanity: StructureSanity | None = None
        self._prefilter_alerts: AlertCatalog | None = None
        if spec.prefilter is not False:  # None: a design run (PMO tasks resolve it to False)
            if spec.ring_sanity or spec.allowed_elements:
                self._sanity = StructureSanity.with_references(
                    [*spec.leads, *references],
                    spec.ring_sizes,
                    spec.allowed_elements or None,
                    rings=spec.ring_sanity,
                )
            if spec.prefilter_alerts:
                self._prefilter_alerts = _alert_catalog(tuple(spec.prefilter_alerts))

    @property
    def active(self) -> bool:
        s = self.spec
        return s.min_similarity is not None or bool(s.properties) or s.no_alerts

    def degenerate(self, mol: Chem.Mol | None) -> str | None:
        """Why a decoded molecule is not scored (``"rule: detail"``), or None: the
        pre-scoring gate (invalid, degenerate, then the prefilter)."""
        if mol is None:
            return "invalid"
        if self.spec.reject_degenerate:
            reason = degenerate_reason(mol, self.spec.min_heavy_atoms, self.spec.max_ch2_chain)
            if reason is not None:
                return reason
        return self.prefilter_reason(mol)

    def prefilter_reason(self, mol: Chem.Mol) -> str | None:
        """The first prefilter rule ``mol`` breaks: structure sanity, then the alerts
        (``"mcf:MCF7"``: the family is the rule)."""
        if self._sanity is not None:
            reason = self._sanity.reason(mol)
            if reason is not None:
                return reason
        if self._prefilter_alerts is not None:
            reason = self._prefilter_alerts.first_match(mol)
            if reason is not None:
                return reason
        if self.reject_infeasible:
            violated = [k for k, v in self.values(mol).items() if v > 0]
            if violated:
                return f"infeasible: {', '.join(violated)}"
        return None

    def lead_similarity(self, mol: Chem.Mol) -> float:
        if not self._lead_fps:
            return float("nan")
        fp = _morgan().GetFingerprint(mol)
        return float(max(DataStructs.BulkTanimotoSimilarity(fp, self._lead_fps)))

    @property
    def names(self) -> list[str]:
        """Names of the constraint values, in the order of :meth:`values`."""
        s = self.spec
        out = ["lead_similarity"] if s.min_similarity is not None else []
        for name in s.properties:
            out += [f"{name}_min", f"{name}_max"]
        return out + (["alerts"] if s.no_alerts else [])

    def values(self, mol: Chem.Mol) -> dict[str, float]:
        """Constraint values by name; the molecule is feasible when all are <= 0."""
        s = self.spec
        out: dict[str, float] = {}
        if s.min_similarity is not None:
            out["lead_similarity"] = s.min_similarity - self.lead_similarity(mol)
        for name, (low, high) in s.properties.items():
            value = float(PROPERTY_FUNCTIONS[name](mol))
            out[f"{name}_min"] = low - value if low is not None else -1.0
            out[f"{name}_max"] = value - high if high is not None else -1.0
        if s.no_alerts:
            out["alerts"] = float(len(_alert_catalog(tuple(s.alert_families)).matches(mol)))
        return out


def rejection_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Distinct molecules each pre-scoring rule removed, ``{rule: count}``, most first.

    ``records`` are the trials' molecule records (``status`` ``"degenerate"``, ``reason``
    ``"rule: detail"`` or ``"family:alert"``); invalid decodings are not a rule's doing
    and are left out. A molecule decoded many times counts once.
    """
    seen: dict[str, set[str]] = {}
    for record in records:
        reason = record.get("reason")
        if record.get("status") != "degenerate" or not reason:
            continue
        rule = str(reason).split(":", 1)[0].strip()
        seen.setdefault(rule, set()).add(str(record.get("smiles", "")))
    counts = {rule: len(smiles) for rule, smiles in seen.items()}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
