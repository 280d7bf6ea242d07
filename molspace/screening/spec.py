"""The screening configuration (``molspace screen --config screen.toml``), validated.

Tables: ``[screen]`` (reading, dedup, descriptors, ranking), ``[standardize]``,
``[filters]``, ``[objective]`` (see :mod:`molspace.scoring`), ``[similarity]``
(query set) and ``[cluster]`` (see :mod:`molspace.cluster`). Unknown keys are
errors naming the key and the file. ``resolve()`` reads a query file once on the
driver, so workers get the queries inline and never need the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from molspace.cluster import ClusterSpec
from molspace.config import StrictModel, parse_config, read_toml
from molspace.errors import ConfigError, InputError
from molspace.scoring import FingerprintSpec, ObjectiveSpec
from molspace.screening.docking_spec import DockingStageSpec

__all__ = [
    "DEFAULT_DESCRIPTORS",
    "FilterSpec",
    "RangeSpec",
    "ScreenOptions",
    "ScreenSpec",
    "SimilaritySpec",
    "StandardizeSpec",
    "load_screen_spec",
]

DEFAULT_DESCRIPTORS = ("mw", "clogp", "tpsa", "hbd", "hba", "rotb", "heavy_atoms", "qed", "sa")


def _property_names(names: list[str]) -> list[str]:
    from molspace.chem import PROPERTY_NAMES

    for name in names:
        if name not in PROPERTY_NAMES:
            raise ValueError(f"unknown property {name!r} (known: {', '.join(PROPERTY_NAMES)})")
    return names


def _default_ring_sizes() -> tuple[int, ...]:
    from molspace.chem import DEFAULT_RING_SIZES

    return DEFAULT_RING_SIZES


class ScreenOptions(StrictModel):
    """``[screen]``: how the library is read, deduplicated, described and ranked."""

    chunk_size: int = Field(5000, ge=1, description="molecules per partition")
    smiles_column: str | None = None
    id_column: str | None = None
    format: Literal["smi", "csv", "tsv", "sdf", "parquet"] | None = None
    max_length: int = Field(1000, ge=1, description="longer SMILES are rejected unparsed")
    max_heavy_atoms: int = Field(150, ge=1)
    dedup: Literal["inchikey", "smiles", "none"] = "inchikey"
    descriptors: list[str] = Field(default_factory=lambda: list(DEFAULT_DESCRIPTORS))
    short_circuit: bool = Field(
        False, description="stop evaluating a molecule at its first failed filter (faster)"
    )
    top_k: int = Field(100, ge=0, description="rows in top_k.csv (0: none)")
    rank_by: str | None = Field(None, description="column to rank by (default: score)")
    ascending: bool = False
    only_passing: bool = False
    docking: DockingStageSpec | None = Field(
        None, description="dock the passing molecules ([screen.docking])"
    )

    _check_descriptors = field_validator("descriptors")(_property_names)


class StandardizeSpec(StrictModel):
    """``[standardize]``: the molspace.chem standardizer's options."""

    enabled: bool = True
    largest_fragment: bool = True
    neutralize: bool = True
    normalize: bool = True
    canonical_tautomer: bool = False
    remove_stereo: bool = False


class RangeSpec(StrictModel):
    """An allowed interval for a property: ``mw = { min = 200, max = 500 }``."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) exceeds max ({self.max})")
        return self


class FilterSpec(StrictModel):
    """``[filters]``, applied in this order; a row's ``failed_filter`` is the first it fails.

    rules (each by name) -> properties (each by name) -> include_smarts ->
    exclude_smarts -> alerts -> sanity -> min_similarity -> min_score.

    ``sanity`` is :mod:`molspace.chem.sanity` (the optimizer's prefilter rules): on with
    ``ring_sanity`` (ring sizes, strained, anti-Bredt and polyene rings) and/or a
    non-empty ``allowed_elements``.
    """

    rules: list[str] = Field(default_factory=list, description="lipinski, veber, leadlike, ...")
    properties: dict[str, RangeSpec] = Field(default_factory=dict)
    include_smarts: list[str] = Field(default_factory=list, description="must match one")
    exclude_smarts: list[str] = Field(default_factory=list, description="must match none")
    alerts: list[str] = Field(
        default_factory=list, description="alert families: pains, brenk, mcf, ..."
    )
    ring_sanity: bool = Field(False, description="ring sizes, strained/anti-Bredt/polyene rings")
    ring_sizes: list[int] = Field(
        default_factory=lambda: list(_default_ring_sizes()), description="allowed ring sizes"
    )
    allowed_elements: list[str] = Field(
        default_factory=list, description="element symbols allowed ([]: any element)"
    )
    min_similarity: float | None = Field(None, ge=0, le=1)
    min_score: float | None = Field(None, ge=0, le=1)

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: list[str]) -> list[str]:
        from molspace.chem import RULES

        for rule in rules:
            if rule not in RULES:
                raise ValueError(f"unknown rule {rule!r} (known: {', '.join(RULES)})")
        return rules

    @field_validator("alerts")
    @classmethod
    def _known_families(cls, families: list[str]) -> list[str]:
        from molspace.chem.filters import check_alert_families

        return list(check_alert_families(families))

    @field_validator("ring_sizes")
    @classmethod
    def _ring_sizes(cls, sizes: list[int]) -> list[int]:
        from molspace.chem.sanity import check_ring_sizes

        return list(check_ring_sizes(sizes))

    @field_validator("allowed_elements")
    @classmethod
    def _elements(cls, symbols: list[str]) -> list[str]:
        from molspace.chem import check_elements

        try:
            return list(check_elements(symbols))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def sanity(self) -> bool:
        """True when the ``sanity`` filter runs."""
        return self.ring_sanity or bool(self.allowed_elements)

    @field_validator("properties")
    @classmethod
    def _known_properties(cls, ranges: dict[str, RangeSpec]) -> dict[str, RangeSpec]:
        _property_names(list(ranges))
        return ranges

    @field_validator("include_smarts", "exclude_smarts")
    @classmethod
    def _valid_smarts(cls, patterns: list[str]) -> list[str]:
        from molspace.chem import compile_smarts

        for pattern in patterns:
            try:
                compile_smarts(pattern)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return patterns


class SimilaritySpec(StrictModel):
    """``[similarity]``: a query set; each molecule gets its nearest query and similarity."""

    queries: list[str] = Field(default_factory=list, description="query SMILES")
    query_ids: list[str] | None = None
    queries_file: str | None = Field(None, description="a library file of queries")
    fingerprint: FingerprintSpec = Field(default_factory=FingerprintSpec)

    @model_validator(mode="after")
    def _some_queries(self) -> SimilaritySpec:
        if not self.queries and self.queries_file is None:
            raise ValueError("give queries (SMILES) or queries_file")
        if self.query_ids is not None and len(self.query_ids) != len(self.queries):
            raise ValueError("query_ids must have one id per query")
        return self

    def ids(self) -> list[str]:
        return self.query_ids or [f"query{i + 1}" for i in range(len(self.queries))]


class ScreenSpec(StrictModel):
    """A whole screening configuration."""

    screen: ScreenOptions = Field(default_factory=ScreenOptions)
    standardize: StandardizeSpec = Field(default_factory=StandardizeSpec)
    filters: FilterSpec = Field(default_factory=FilterSpec)
    objective: ObjectiveSpec | None = None
    similarity: SimilaritySpec | None = None
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)

    @model_validator(mode="after")
    def _consistent(self) -> ScreenSpec:
        if self.filters.min_score is not None and self.objective is None:
            raise ValueError("filters.min_score needs an [objective]")
        if self.filters.min_similarity is not None and self.similarity is None:
            raise ValueError("filters.min_similarity needs a [similarity] query set")
        if self.objective is not None:
            from molspace.chem import PROPERTY_NAMES
            from molspace.scoring.components import PROPERTY_COMPONENTS

            for component in self.objective.components:
                if getattr(component, "type", "") == "docking":
                    raise ValueError(
                        "a screen docks in its [screen.docking] stage (after the filters, "
                        "with a funnel and poses), not as an [objective] component"
                    )
                label = component.label()
                prop = PROPERTY_COMPONENTS.get(getattr(component, "type", ""))
                if label in PROPERTY_NAMES and prop != label:
                    raise ValueError(
                        f"objective component name {label!r} clashes with the descriptor "
                        f"column {label!r}; choose another name"
                    )
        docking = self.screen.docking
        if (
            docking is not None
            and docking.funnel_top is not None
            and docking.funnel_by is None
            and self.rank_column(docked=False) is None
        ):
            raise ValueError(
                "screen.docking.funnel_top needs a column to rank by: an [objective], "
                "a [similarity] query set or screen.docking.funnel_by"
            )
        return self

    def rank_column(self, *, docked: bool = True) -> str | None:
        """The column top-k ranks by: ``screen.rank_by``, else ``docking_score`` (with
        ``[screen.docking]``), else score, else similarity. ``docked=False``: the ranking
        before the docking stage has run (no ``docking_*`` column yet)."""
        rank_by = self.screen.rank_by
        if rank_by and (docked or not rank_by.startswith("docking_")):
            return rank_by
        if docked and self.screen.docking is not None:
            return "docking_score"
        if self.objective is not None:
            return "score"
        if self.similarity is not None:
            return "query_similarity"
        return None

    def rank_ascending(self, *, docked: bool = True) -> bool:
        """Whether smaller values of :meth:`rank_column` rank first: ``screen.ascending``,
        except that the default docking ranking is by score, most negative first."""
        if not self.screen.rank_by and docked and self.screen.docking is not None:
            return True
        return self.screen.ascending

    def resolve(self, base_dir: str | Path = ".") -> ScreenSpec:
        """Read ``similarity.queries_file`` (relative to ``base_dir``) into inline queries;
        a docking target that names a directory relative to ``base_dir`` becomes absolute."""
        spec = self
        if spec.screen.docking is not None:
            docking = spec.screen.docking.resolved(base_dir)
            if docking is not spec.screen.docking:
                screen = spec.screen.model_copy(update={"docking": docking})
                spec = spec.model_copy(update={"screen": screen})
        return spec._resolve_queries(base_dir)

    def _resolve_queries(self, base_dir: str | Path) -> ScreenSpec:
        if self.similarity is None or self.similarity.queries_file is None:
            return self
        path = Path(self.similarity.queries_file)
        if not path.is_absolute():
            path = Path(base_dir) / path
        ids, smiles = _read_queries(path)
        ids = [*self.similarity.ids(), *ids]
        smiles = [*self.similarity.queries, *smiles]
        similarity = self.similarity.model_copy(
            update={"queries": smiles, "query_ids": ids, "queries_file": None}
        )
        return self.model_copy(update={"similarity": similarity})

    def partition_hash(self) -> str:
        """Hash of everything that changes a partition's output (not ranking or cluster)."""
        data = self.model_dump(mode="json", exclude={"cluster": True})
        for key in ("top_k", "rank_by", "ascending", "only_passing", "docking"):
            data["screen"].pop(key, None)  # docking has its own key (docking_stage)
        from molspace.versions import __version__

        data["molspace"] = __version__
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_queries(path: Path) -> tuple[list[str], list[str]]:
    from molspace.chem import mol_from_smiles
    from molspace.errors import InvalidMoleculeError
    from molspace.io import read_library

    ids: list[str] = []
    smiles: list[str] = []
    try:
        for chunk in read_library(path):
            if len(chunk.rejects):
                bad = chunk.rejects.iloc[0]
                raise ConfigError(f"{path}: row {bad['row']}: query {bad['reason']}")
            for row, ident, smi in chunk.records[["row", "id", "smiles"]].itertuples(index=False):
                try:
                    mol_from_smiles(smi)
                except InvalidMoleculeError as exc:
                    raise ConfigError(f"{path}: row {row}: query {exc}") from None
                ids.append(str(ident))
                smiles.append(str(smi))
    except InputError as exc:
        raise ConfigError(f"[similarity] queries_file: {exc}") from None
    if not smiles:
        raise ConfigError(f"{path}: the query file holds no molecules")
    return ids, smiles


def load_screen_spec(path: str | Path | None) -> ScreenSpec:
    """Read and validate a screening config (``None``: the defaults), queries resolved."""
    if path is None:
        return ScreenSpec()
    data: dict[str, Any] = read_toml(path)
    spec = parse_config(ScreenSpec, data, str(path))
    return spec.resolve(Path(path).parent)
