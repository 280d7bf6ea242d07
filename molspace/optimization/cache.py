"""Oracle cache and budget: each distinct canonical SMILES is scored once.

PMO counts an optimizer's cost in *unique* oracle calls: a molecule proposed twice costs
once, and a run's budget of 10,000 means 10,000 distinct molecules. ``OracleCache``
holds what was scored (values, components and the order of first scoring), so a duplicate
decode gets the cached value for free and the call order feeds the AUC top-k metric.
In an optimization run it is one process's memo, rebuilt from the study's trials on
resume; what counts across processes (who scores a molecule, how much budget is left) is
the study's oracle ledger (``molspace.optimization.ledger``), and every value the ledger hands
back lands here, so a molecule seen once never costs this process a ledger look-up again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CacheEntry", "OracleCache"]


@dataclass(frozen=True)
class CacheEntry:
    """One scored molecule: objective values, components, and its 1-based oracle call index."""

    smiles: str
    values: tuple[float, ...]
    components: dict[str, float]
    call: int


@dataclass
class OracleCache:
    """Scored molecules keyed by canonical SMILES, with a budget of unique oracle calls."""

    budget: int
    _entries: dict[str, CacheEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ValueError("budget must be >= 0")

    def __contains__(self, smiles: str) -> bool:
        return smiles in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, smiles: str) -> CacheEntry | None:
        return self._entries.get(smiles)

    @property
    def n_calls(self) -> int:
        """Distinct molecules scored so far (the budget spent)."""
        return len(self._entries)

    @property
    def remaining(self) -> int:
        return max(self.budget - len(self._entries), 0)

    @property
    def exhausted(self) -> bool:
        return len(self._entries) >= self.budget

    def add(
        self, smiles: str, values: Sequence[float], components: dict[str, float] | None = None
    ) -> CacheEntry:
        """Record a new oracle call; adding a known SMILES returns the first entry unchanged."""
        known = self._entries.get(smiles)
        if known is not None:
            return known
        entry = CacheEntry(
            smiles=smiles,
            values=tuple(float(v) for v in values),
            components=dict(components or {}),
            call=len(self._entries) + 1,
        )
        self._entries[smiles] = entry
        return entry

    def entries(self) -> list[CacheEntry]:
        """All entries in oracle-call order."""
        return sorted(self._entries.values(), key=lambda e: e.call)

    def values_in_call_order(self, index: int = 0) -> list[float]:
        """Objective ``index`` of every scored molecule in call order (input of AUC top-k)."""
        return [e.values[index] for e in self.entries()]

    @classmethod
    def from_records(cls, budget: int, records: Iterable[dict[str, Any]]) -> OracleCache:
        """Rebuild from ``{"smiles", "values", "components"}`` records in call order;
        a SMILES seen twice (two workers raced on it) is counted once."""
        cache = cls(budget=budget)
        for record in records:
            cache.add(record["smiles"], record["values"], record.get("components"))
        return cache
