"""Scoring components: what an objective measures on a molecule, found by name.

A component is a config model (``type`` picks it from :data:`COMPONENT_TYPES`)
that ``build()``s a runtime scorer ``value(mol, properties) -> float``. The
runtime object holds compiled SMARTS, reference fingerprints or the user's
function, so building happens once per process; values are raw (a MW in Da,
a similarity in [0, 1]) and a desirability transform turns them into a
preference. ``properties`` carries the panel values already computed for the
molecule, so QED or MW is never computed twice in a screen.

The ``custom`` type is the one place a config may import code: exactly the
``module:function`` the user names, called as ``function(mol, **params)``.

A component that cannot value a molecule for a reason worth keeping (``docking``:
no 3D conformer, a Vina time limit) raises :class:`ComponentRejected`; the objective
records the reason in ``<name>_reason`` and the value as NaN (desirability 0).
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
from rdkit import Chem, DataStructs

from molspace.config import StrictModel
from molspace.errors import ConfigError, InvalidMoleculeError
from molspace.scoring.desirability import Identity, Sigmoid, Step, Transform

__all__ = [
    "COMPONENT_TYPES",
    "PROPERTY_COMPONENTS",
    "AlertsComponent",
    "Component",
    "ComponentRejected",
    "CustomComponent",
    "DockingComponent",
    "FingerprintSpec",
    "PropertyComponent",
    "RuntimeComponent",
    "SimilarityComponent",
    "SubstructureComponent",
]

#: component type -> panel property it reads (``logp`` is Crippen cLogP)
PROPERTY_COMPONENTS: dict[str, str] = {
    "qed": "qed",
    "sa": "sa",
    "logp": "clogp",
    "clogp": "clogp",
    "mw": "mw",
    "tpsa": "tpsa",
    "hbd": "hbd",
    "hba": "hba",
    "rotb": "rotb",
    "heavy_atoms": "heavy_atoms",
    "rings": "rings",
    "aromatic_rings": "aromatic_rings",
    "fsp3": "fsp3",
    "formal_charge": "formal_charge",
    "penalized_logp": "penalized_logp",
}

PropertyType = Literal[
    "qed", "sa", "logp", "clogp", "mw", "tpsa", "hbd", "hba", "rotb", "heavy_atoms", "rings",
    "aromatic_rings", "fsp3", "formal_charge", "penalized_logp", "ring_size",
]  # fmt: skip

# values already in [0, 1] where "more is better" needs no transform
_BOUNDED = {"qed", "fsp3"}


class ComponentRejected(Exception):
    """A component could not value a molecule; ``reason`` says why (kept in the results)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RuntimeComponent:
    """A built component: ``value(mol, properties)`` gives the raw value (may raise).

    ``reports_reason``: the objective adds a ``<name>_reason`` column for it.
    ``expensive``: seconds per molecule (docking); the objective values it last and
    skips it, with a reason, for a molecule the cheap components already veto.
    """

    name: str
    weight: float
    transform: Any
    value: Callable[[Chem.Mol, Mapping[str, float]], float]
    properties: tuple[str, ...] = field(default=())
    reports_reason: bool = False
    expensive: bool = False


class _Base(StrictModel):
    name: str | None = Field(None, description="column name; defaults to the type")
    weight: float = Field(1.0, gt=0)
    transform: Transform | None = None

    def default_name(self) -> str:
        return self.type  # type: ignore[attr-defined]

    def label(self) -> str:
        return self.name or self.default_name()

    def default_transform(self) -> Any:
        return Identity()

    def resolved_transform(self) -> Any:
        return self.transform if self.transform is not None else self.default_transform()

    def build(self) -> RuntimeComponent:  # pragma: no cover - abstract
        raise NotImplementedError


class PropertyComponent(_Base):
    """A panel property (``qed``, ``mw``, ``logp``...) or ``ring_size`` (largest ring)."""

    type: PropertyType

    @model_validator(mode="after")
    def _needs_transform(self) -> PropertyComponent:
        if self.transform is None and self.type not in _BOUNDED:
            raise ValueError(
                f"transform is required for {self.type!r} (its values are not a preference "
                'in [0, 1]); e.g. transform = { kind = "sigmoid", low = ..., high = ... }'
            )
        return self

    def build(self) -> RuntimeComponent:
        if self.type == "ring_size":
            return RuntimeComponent(
                self.label(), self.weight, self.resolved_transform(), _largest_ring
            )
        prop = PROPERTY_COMPONENTS[self.type]

        def value(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
            if prop in properties:
                return float(properties[prop])
            from molspace.chem import compute_properties

            return float(compute_properties(mol, [prop])[prop])

        return RuntimeComponent(
            self.label(), self.weight, self.resolved_transform(), value, (prop,)
        )


def _largest_ring(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
    del properties
    return float(max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0))


class FingerprintSpec(StrictModel):
    """Which fingerprint a similarity uses (see :mod:`molspace.chem.fingerprints`)."""

    kind: Literal["morgan", "fcfp", "maccs", "atompair", "torsion", "rdkit"] = "morgan"
    radius: int = Field(2, ge=0, le=6)
    n_bits: int = Field(2048, ge=64, le=16384)


class SimilarityComponent(_Base):
    """Tanimoto similarity to reference molecules (max or mean over them)."""

    type: Literal["similarity"]
    smiles: list[str] = Field(min_length=1, description="reference molecule(s)")
    fingerprint: FingerprintSpec = Field(default_factory=FingerprintSpec)
    reduce: Literal["max", "mean"] = "max"

    @field_validator("smiles", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def build(self) -> RuntimeComponent:
        from molspace.chem import fingerprint, mol_from_smiles

        fp = self.fingerprint
        refs = []
        for smi in self.smiles:
            try:
                refs.append(fingerprint(mol_from_smiles(smi), fp.kind, fp.radius, fp.n_bits))
            except InvalidMoleculeError as exc:
                raise ConfigError(f"component {self.label()!r}: reference {exc}") from None
        reduce = np.max if self.reduce == "max" else np.mean

        def value(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
            del properties
            query = fingerprint(mol, fp.kind, fp.radius, fp.n_bits)
            return float(reduce(DataStructs.BulkTanimotoSimilarity(query, refs)))

        return RuntimeComponent(self.label(), self.weight, self.resolved_transform(), value)


class SubstructureComponent(_Base):
    """1.0 when the molecule satisfies the SMARTS condition, else 0.0.

    ``mode = "include"``: the patterns must match (``match`` any/all of them);
    ``mode = "exclude"``: 1.0 only when none (any) / not all (all) of them match.
    """

    type: Literal["substructure"]
    smarts: list[str] = Field(min_length=1)
    mode: Literal["include", "exclude"] = "include"
    match: Literal["any", "all"] = "any"

    @field_validator("smarts", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def build(self) -> RuntimeComponent:
        from molspace.chem import compile_smarts

        try:
            patterns = [compile_smarts(s) for s in self.smarts]
        except ConfigError as exc:
            raise ConfigError(f"component {self.label()!r}: {exc}") from None
        combine = any if self.match == "any" else all
        include = self.mode == "include"

        def value(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
            del properties
            found = combine(mol.HasSubstructMatch(p) for p in patterns)
            return 1.0 if found == include else 0.0

        return RuntimeComponent(self.label(), self.weight, self.resolved_transform(), value)


class AlertsComponent(_Base):
    """Number of structural alerts matched; by default 1.0 desirability when there are none.

    ``families``: any of ``molspace.chem.ALERT_FAMILIES`` (pains, brenk, nih, zinc, the
    chembl sets, mcf: MOSES's medicinal-chemistry filters)."""

    type: Literal["alerts"]
    families: list[str] = Field(default_factory=lambda: ["pains", "brenk"], min_length=1)

    def default_transform(self) -> Any:
        return Step(threshold=0, reverse=True)

    def build(self) -> RuntimeComponent:
        from molspace.chem import AlertCatalog

        catalog = AlertCatalog(tuple(self.families))

        def value(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
            del properties
            return float(len(catalog.matches(mol)))

        return RuntimeComponent(self.label(), self.weight, self.resolved_transform(), value)


def load_function(reference: str, where: str) -> Callable[..., Any]:
    """Import the user's ``module:function`` (the only code a config may name)."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{where}: expected 'module:function', got {reference!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError or an error raised by the user's module
        raise ConfigError(f"{where}: cannot import {module_name!r}: {exc}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"{where}: {module_name!r} has no function {attr!r}")
    return function


class CustomComponent(_Base):
    """A user's scorer: ``function = "package.module:name"`` called as ``name(mol, **params)``."""

    type: Literal["custom"]
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)
    expensive: bool = Field(
        False,
        description="seconds per molecule: valued after the cheap components and skipped "
        "(with a reason) when they already veto the molecule",
    )

    def default_name(self) -> str:
        return self.function.rpartition(":")[2]

    def build(self) -> RuntimeComponent:
        user = load_function(self.function, f"component {self.label()!r}")
        params = dict(self.params)

        def value(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
            del properties
            return float(user(mol, **params))

        return RuntimeComponent(
            self.label(),
            self.weight,
            self.resolved_transform(),
            value,
            reports_reason=self.expensive,
            expensive=self.expensive,
        )


class DockingComponent(_Base):
    """AutoDock Vina's best score (kcal/mol, lower is better) against a prepared target.

    The molecule is docked as written (protonation as given, one ETKDG conformer seeded
    by ``seed``, Meeko, Vina; see :mod:`molspace.docking`). The default desirability is
    ``reverse_sigmoid`` from -11 kcal/mol (0.99) to -5 kcal/mol (0.01). A molecule that
    cannot be embedded, prepared or docked within ``time_limit`` seconds is rejected
    with its reason (value NaN, desirability 0). Each process keeps one Vina child with
    the receptor maps, so a parallel optimization docks on every Dask worker at once.
    """

    type: Literal["docking"]
    target: str = Field(
        min_length=1, description="shipped target by PDB code (1s3v, ...) or a bundle directory"
    )
    exhaustiveness: int = Field(8, ge=1, le=64, description="Vina Monte Carlo runs")
    seed: int = Field(0, ge=0, description="ETKDG and Vina seed")
    time_limit: float = Field(300.0, gt=0, description="seconds per molecule (Vina search)")
    n_poses: int = Field(1, ge=1, le=50, description="poses Vina refines and returns")
    scoring: Literal["vina", "vinardo"] = "vina"
    max_heavy_atoms: int = Field(70, ge=1, description="larger molecules are rejected")
    max_rotatable_bonds: int = Field(20, ge=0, description="more flexible ones are rejected")
    log: bool = Field(True, description="one line per docked molecule on stderr (progress)")

    def default_transform(self) -> Any:
        return Sigmoid(kind="reverse_sigmoid", low=-11.0, high=-5.0)

    def build(self) -> RuntimeComponent:
        from molspace.docking.core import dock_one
        from molspace.docking.settings import DockingSettings, require_docking_packages
        from molspace.docking.target import resolve_target
        from molspace.errors import MolspaceError

        require_docking_packages()
        try:
            target = resolve_target(self.target)
        except MolspaceError as exc:
            raise ConfigError(f"component {self.label()!r}: {exc}") from None
        settings = DockingSettings(
            exhaustiveness=self.exhaustiveness,
            n_poses=self.n_poses,
            seed=self.seed,
            time_limit=self.time_limit,
            max_heavy_atoms=self.max_heavy_atoms,
            max_rotatable_bonds=self.max_rotatable_bonds,
            scoring=self.scoring,
        )
        log, counter = self.log, [0]

        def value(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
            del properties
            smiles = Chem.MolToSmiles(mol)
            started = time.perf_counter()
            row = dock_one(smiles, smiles, target, settings)
            counter[0] += 1
            if log:
                what = f"{row['score']:.2f} kcal/mol" if row["status"] == "ok" else row["reason"]
                seconds = time.perf_counter() - started
                print(
                    f"docking {target.name} #{counter[0]}: {what} ({seconds:.1f} s) {smiles}",
                    file=sys.stderr,
                    flush=True,
                )
            if row["status"] != "ok":
                raise ComponentRejected(str(row["reason"]))
            return float(row["score"])

        return RuntimeComponent(
            self.label(),
            self.weight,
            self.resolved_transform(),
            value,
            reports_reason=True,
            expensive=True,
        )


#: one ``[[objective.components]]`` entry, chosen by its ``type``
Component = Annotated[
    PropertyComponent
    | SimilarityComponent
    | SubstructureComponent
    | AlertsComponent
    | CustomComponent
    | DockingComponent,
    Field(discriminator="type"),
]

COMPONENT_TYPES: tuple[str, ...] = (
    *PROPERTY_COMPONENTS,
    "ring_size",
    "similarity",
    "substructure",
    "alerts",
    "custom",
    "docking",
)
