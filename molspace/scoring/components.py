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
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
from rdkit import Chem, DataStructs

from molspace.config import StrictModel
from molspace.errors import ConfigError, InvalidMoleculeError
from molspace.scoring.desirability import Identity, Step, Transform

__all__ = [
    "COMPONENT_TYPES",
    "PROPERTY_COMPONENTS",
    "AlertsComponent",
    "Component",
    "CustomComponent",
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


@dataclass
class RuntimeComponent:
    """A built component: ``value(mol, properties)`` gives the raw value (may raise)."""

    name: str
    weight: float
    transform: Any
    value: Callable[[Chem.Mol, Mapping[str, float]], float]
    properties: tuple[str, ...] = field(default=())


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

    def default_name(self) -> str:
        return self.function.rpartition(":")[2]

    def build(self) -> RuntimeComponent:
        user = load_function(self.function, f"component {self.label()!r}")
        params = dict(self.params)

        def value(mol: Chem.Mol, properties: Mapping[str, float]) -> float:
            del properties
            return float(user(mol, **params))

        return RuntimeComponent(self.label(), self.weight, self.resolved_transform(), value)


#: one ``[[objective.components]]`` entry, chosen by its ``type``
Component = Annotated[
    PropertyComponent
    | SimilarityComponent
    | SubstructureComponent
    | AlertsComponent
    | CustomComponent,
    Field(discriminator="type"),
]

COMPONENT_TYPES: tuple[str, ...] = (
    *PROPERTY_COMPONENTS,
    "ring_size",
    "similarity",
    "substructure",
    "alerts",
    "custom",
)
