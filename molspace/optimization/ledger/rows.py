"""The ledger's records (claimed rows, workers, counts, claim outcomes) and the
transaction protocol every backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

Scored = tuple[Sequence[float], Mapping[str, float] | None]
_T = TypeVar("_T")


@dataclass(frozen=True)
class LedgerRow:
    """One claimed molecule; ``values`` is None until its worker filled the score."""

    smiles: str
    slot: int
    worker: str
    trial: int | None = None
    values: tuple[float, ...] | None = None
    components: dict[str, float] | None = None

    @property
    def scored(self) -> bool:
        return self.values is not None


@dataclass(frozen=True)
class WorkerRow:
    """A process working on the study: where it runs, when it last beat, its open trials."""

    worker: str
    host: str
    pid: int
    heartbeat: float
    trials: tuple[int, ...] = ()


@dataclass(frozen=True)
class Counts:
    """Rows in the ledger: ``held`` (scored + live claims) and ``scored``."""

    held: int
    scored: int


@dataclass
class Claim:
    """The outcome of :meth:`OracleLedger.claim`, in the order the molecules were given."""

    known: dict[str, LedgerRow]
    mine: list[str]
    pending: list[str]
    refused: list[str]
    counts: Counts


class _Txn(Protocol):
    """What the shared algorithms need from one backend transaction on one study."""

    def workers(self) -> list[WorkerRow]: ...
    def beat(self, row: WorkerRow, keep_trials: bool) -> None: ...
    def drop_workers(self, workers: Sequence[str]) -> None: ...
    def drop_unscored(self, keep_workers: Sequence[str]) -> None: ...
    def release(self, worker: str, smiles: Sequence[str] | None) -> None: ...
    def lookup(self, smiles: Sequence[str]) -> dict[str, LedgerRow]: ...
    def counts(self) -> tuple[int, int, int]: ...  # held, scored, max slot (-1 when empty)
    def used_slots(self) -> set[int]: ...
    def insert(self, rows: Sequence[LedgerRow], now: float) -> None: ...
    def fill(self, worker: str, scored: Mapping[str, Scored], now: float) -> set[str]: ...
    def scored_rows_of_trials(self, trials: Sequence[int]) -> dict[int, LedgerRow]: ...
    def setting(self, name: str) -> str | None: ...
    def set_setting(self, name: str, value: str) -> None: ...
    def clear(self) -> None: ...
