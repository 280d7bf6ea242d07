"""Objectives: weighted desirability of scoring components, declared in TOML.

One :class:`Objective` serves screening (a column per component plus ``score``),
latent optimization (the aggregate, or each component's desirability for a
multi-objective Pareto search) and reports. Declared as::

    [objective]
    aggregation = "geometric"          # or "arithmetic"

    [[objective.components]]
    type = "qed"                       # from the registry; see COMPONENT_TYPES
    weight = 2.0

    [[objective.components]]
    type = "mw"
    transform = { kind = "double_sigmoid", low = 250, high = 450, width = 50 }

    [[objective.components]]
    type = "similarity"
    name = "sim_lead"
    smiles = ["CC(=O)Oc1ccccc1C(=O)O"]
    fingerprint = { kind = "morgan", radius = 2, n_bits = 2048 }
    reduce = "max"

Aggregation: ``geometric`` is ``prod(d_i ** w_i) ** (1 / sum(w))`` — any component
at 0 vetoes the molecule; ``arithmetic`` is ``sum(w_i d_i) / sum(w)`` — components
trade off. A component that cannot be computed for a molecule (RDKit raised) has
raw value NaN and desirability 0; a ``None`` molecule scores NaN throughout. A component
that rejects a molecule with a reason (``docking``) also fills ``<name>_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from rdkit import Chem

from molspace.config import StrictModel, load_toml
from molspace.scoring.components import (
    COMPONENT_TYPES,
    Component,
    ComponentRejected,
    FingerprintSpec,
    RuntimeComponent,
)
from molspace.scoring.desirability import Transform

__all__ = [
    "COMPONENT_TYPES",
    "FingerprintSpec",
    "Objective",
    "ObjectiveSpec",
    "Transform",
    "load_objective",
]


class ObjectiveSpec(StrictModel):
    """The ``[objective]`` table: components and how their desirabilities combine."""

    components: list[Component] = Field(min_length=1)
    aggregation: Literal["geometric", "arithmetic"] = "geometric"

    @model_validator(mode="after")
    def _unique_names(self) -> ObjectiveSpec:
        seen: set[str] = set()
        for component in self.components:
            label = component.label()
            if label in seen:
                raise ValueError(f"two components are named {label!r}; give one a `name`")
            if label == "score" or label.endswith("_desirability"):
                raise ValueError(f"component name {label!r} is reserved")
            seen.add(label)
        return self


def load_objective(path: str | Path, section: str | None = "objective") -> ObjectiveSpec:
    """Read an objective from a TOML file (its ``[objective]`` table by default)."""
    return load_toml(path, ObjectiveSpec, section)


class Objective:
    """A built objective: compiled patterns, reference fingerprints, imported plugins."""

    def __init__(self, spec: ObjectiveSpec, components: Sequence[RuntimeComponent]) -> None:
        self.spec = spec
        self.components = tuple(components)
        self.weights = np.array([c.weight for c in self.components], dtype=np.float64)
        # cheap components first: the expensive ones are skipped for a molecule they veto
        self._value_order = tuple(sorted(self.components, key=lambda c: c.expensive))

    @classmethod
    def from_spec(cls, spec: ObjectiveSpec) -> Objective:
        """Build every component (raises ``ConfigError`` for a bad reference or plugin)."""
        return cls(spec, [component.build() for component in spec.components])

    @property
    def component_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components)

    @property
    def desirability_columns(self) -> tuple[str, ...]:
        """Column of each component's desirability: the objectives of a Pareto search."""
        return tuple(f"{name}_desirability" for name in self.component_names)

    @property
    def reason_columns(self) -> tuple[str, ...]:
        """``<name>_reason`` of each component that rejects with a reason (docking)."""
        return tuple(f"{c.name}_reason" for c in self.components if c.reports_reason)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column ``score_mols`` returns, in order."""
        return (*self.component_names, *self.desirability_columns, "score", *self.reason_columns)

    @property
    def property_names(self) -> tuple[str, ...]:
        """Panel properties the components read (compute them once, pass them in)."""
        names: list[str] = []
        for component in self.components:
            names.extend(p for p in component.properties if p not in names)
        return tuple(names)

    def raw_values(
        self, mol: Chem.Mol, properties: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Raw value of every component for one molecule; raises what RDKit raises."""
        props = properties or {}
        return {c.name: c.value(mol, props) for c in self.components}

    @property
    def expensive_names(self) -> tuple[str, ...]:
        """Components that cost seconds per molecule (docking, a plugin marked so)."""
        return tuple(c.name for c in self.components if c.expensive)

    def _veto(self, raw: Mapping[str, float]) -> str | None:
        """Why the expensive components cannot change this molecule's score: a cheap
        component at desirability 0 zeroes a weighted geometric mean."""
        if self.spec.aggregation != "geometric":
            return None
        for component in self.components:
            if component.expensive or component.name not in raw:
                continue
            d = component.transform.apply(np.array([raw[component.name]], dtype=np.float64))
            if not np.clip(d[0], 0.0, 1.0) > 0:
                return f"{component.name} desirability 0 (the geometric mean is 0)"
        return None

    def _safe_raw(
        self, mol: Chem.Mol | None, reasons: dict[str, str] | None = None
    ) -> dict[str, float]:
        if mol is None:
            return dict.fromkeys(self.component_names, np.nan)
        from molspace.chem import compute_properties

        props = compute_properties(mol, self.property_names) if self.property_names else {}
        out: dict[str, float] = {}
        for component in self._value_order:
            if component.expensive:
                skip = self._veto(out)
                if skip is not None:
                    out[component.name] = np.nan
                    if reasons is not None:
                        reasons[f"{component.name}_reason"] = f"skipped: {skip}"
                    continue
            try:
                out[component.name] = component.value(mol, props)
            except ComponentRejected as exc:  # e.g. no 3D conformer: NaN, and why
                out[component.name] = np.nan
                if reasons is not None:
                    reasons[f"{component.name}_reason"] = exc.reason
            except Exception:  # one odd molecule must not stop a batch: NaN, desirability 0
                out[component.name] = np.nan
        return {name: out[name] for name in self.component_names}

    def score_table(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Add ``<name>_desirability`` and ``score`` to a table of raw component values."""
        out = pd.DataFrame(index=raw.index)
        desirabilities = np.empty((len(raw), len(self.components)), dtype=np.float64)
        for j, component in enumerate(self.components):
            values = raw[component.name].to_numpy(dtype=np.float64, na_value=np.nan)
            out[component.name] = values
            desirabilities[:, j] = component.transform.apply(values)
        for j, column in enumerate(self.desirability_columns):
            out[column] = desirabilities[:, j]
        score = self.aggregate(desirabilities)
        all_missing = raw[list(self.component_names)].isna().all(axis=1).to_numpy()
        score[all_missing] = np.nan
        if all_missing.any():
            out.loc[all_missing, list(self.desirability_columns)] = np.nan
        out["score"] = score
        return out

    def aggregate(self, desirabilities: np.ndarray) -> np.ndarray:
        """Weighted geometric or arithmetic mean over axis 1 of ``(n, components)``."""
        d = np.clip(np.asarray(desirabilities, dtype=np.float64), 0.0, 1.0)
        total = self.weights.sum()
        if self.spec.aggregation == "arithmetic":
            return (d @ self.weights) / total
        with np.errstate(divide="ignore"):
            log_mean = (np.log(d) @ self.weights) / total
        return np.exp(log_mean)

    def score_mols(self, mols: Sequence[Chem.Mol | None]) -> pd.DataFrame:
        """Raw value, desirability and aggregate ``score`` of each molecule (row order kept).

        The expensive components (docking) are valued last and skipped, NaN with the
        reason ``skipped: ...``, for a molecule whose cheap components zero a geometric
        mean: its score is 0 whatever it docks."""
        reasons: list[dict[str, str]] = [{} for _ in mols]
        raw = pd.DataFrame(
            [self._safe_raw(m, r) for m, r in zip(mols, reasons, strict=True)],
            columns=list(self.component_names),
            dtype=float,
        )
        out = self.score_table(raw)
        for column in self.reason_columns:
            out[column] = pd.Series([r.get(column) for r in reasons], index=out.index, dtype=object)
        return out

    def score(self, mol: Chem.Mol | None) -> float:
        """The aggregate score of one molecule (NaN for ``None``)."""
        return float(self.score_mols([mol])["score"].iloc[0])

    def __repr__(self) -> str:
        return f"Objective({', '.join(self.component_names)}; {self.spec.aggregation})"
