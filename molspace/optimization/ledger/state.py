"""The in-memory backend (one process) and the journal backend: a JSON-lines sidecar
file replayed by every process, appended under an exclusive lock file."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from molspace.optimization.ledger.core import OracleLedger
from molspace.optimization.ledger.rows import _T, LedgerRow, Scored, WorkerRow, _Txn


class _State:
    """The ledger of one study in memory. Every change is an op (a dict) applied here and,
    for a journal sidecar, appended to the file so that other processes replay it."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.rows: dict[str, LedgerRow] = {}
        self.slots: dict[int, str] = {}
        self._workers: dict[str, WorkerRow] = {}
        self.settings: dict[str, str] = {}
        self.unscored: set[str] = set()  # claims waiting for their score
        self.n_scored = 0
        self.top = -1  # an upper bound of the largest slot (exact unless the top was dropped)
        self.ops: list[dict[str, Any]] | None = None  # recording while a transaction runs

    def apply(self, op: Mapping[str, Any]) -> None:
        """Replay one op (ops of other studies are ignored); unsafe ops are no-ops."""
        if op.get("k") != self.key:
            return
        kind = op.get("op")
        if kind == "claim":
            s, slot = op["smiles"], int(op["slot"])
            if s not in self.rows and slot not in self.slots:
                self.rows[s] = LedgerRow(s, slot, op["w"], op.get("trial"))
                self.slots[slot] = s
                self.unscored.add(s)
                self.top = max(self.top, slot)
        elif kind == "fill":
            row = self.rows.get(op["smiles"])
            if row is not None and row.worker == op["w"] and not row.scored:
                values = tuple(float(v) for v in op["values"])
                self.rows[row.smiles] = replace(row, values=values, components=op["comp"])
                self.unscored.discard(row.smiles)
                self.n_scored += 1
        elif kind == "drop":
            row = self.rows.get(op["smiles"])
            if row is not None and not row.scored:
                del self.rows[row.smiles]
                del self.slots[row.slot]
                self.unscored.discard(row.smiles)
        elif kind == "beat":
            old = self._workers.get(op["w"])
            trials = tuple(op["trials"]) if op.get("trials") is not None else None
            if trials is None:
                trials = old.trials if old is not None else ()
            self._workers[op["w"]] = WorkerRow(op["w"], op["host"], op["pid"], op["t"], trials)
        elif kind == "bye":
            self._workers.pop(op["w"], None)
        elif kind == "set":
            self.settings.setdefault(op["name"], op["value"])
        elif kind == "clear":
            self.settings.clear()
            self.rows.clear()
            self.slots.clear()
            self.unscored.clear()
            self.n_scored = 0
            self.top = -1

    def _emit(self, **op: Any) -> None:
        op["k"] = self.key
        self.apply(op)
        if self.ops is not None:
            self.ops.append(op)

    # _Txn
    def workers(self) -> list[WorkerRow]:
        return list(self._workers.values())

    def beat(self, row: WorkerRow, keep_trials: bool) -> None:
        trials = None if keep_trials else list(row.trials)
        self._emit(
            op="beat", w=row.worker, host=row.host, pid=row.pid, t=row.heartbeat, trials=trials
        )

    def drop_workers(self, workers: Sequence[str]) -> None:
        for w in workers:
            if w in self._workers:
                self._emit(op="bye", w=w)

    def drop_unscored(self, keep_workers: Sequence[str]) -> None:
        keep = set(keep_workers)
        for s in [s for s in self.unscored if self.rows[s].worker not in keep]:
            self._emit(op="drop", smiles=s)

    def release(self, worker: str, smiles: Sequence[str] | None) -> None:
        for s in list(self.unscored if smiles is None else smiles):
            row = self.rows.get(s)
            if row is not None and row.worker == worker and not row.scored:
                self._emit(op="drop", smiles=s)

    def lookup(self, smiles: Sequence[str]) -> dict[str, LedgerRow]:
        return {s: self.rows[s] for s in smiles if s in self.rows}

    def counts(self) -> tuple[int, int, int]:
        return len(self.rows), self.n_scored, self.top

    def used_slots(self) -> set[int]:
        return set(self.slots)

    def insert(self, rows: Sequence[LedgerRow], now: float) -> None:
        for row in rows:
            self._emit(
                op="claim", smiles=row.smiles, slot=row.slot, w=row.worker, trial=row.trial, t=now
            )
            if row.values is not None:
                self._emit(
                    op="fill",
                    smiles=row.smiles,
                    w=row.worker,
                    values=list(row.values),
                    comp=row.components or {},
                    t=now,
                )

    def fill(self, worker: str, scored: Mapping[str, Scored], now: float) -> set[str]:
        done = set()
        for s, (values, comps) in scored.items():
            row = self.rows.get(s)
            if row is not None and row.worker == worker and not row.scored:
                self._emit(
                    op="fill",
                    smiles=s,
                    w=worker,
                    values=[float(v) for v in values],
                    comp=dict(comps or {}),
                    t=now,
                )
                done.add(s)
        return done

    def scored_rows_of_trials(self, trials: Sequence[int]) -> dict[int, LedgerRow]:
        wanted = set(trials)
        return {r.trial: r for r in self.rows.values() if r.scored and r.trial in wanted}

    def setting(self, name: str) -> str | None:
        return self.settings.get(name)

    def set_setting(self, name: str, value: str) -> None:
        self._emit(op="set", name=name, value=value)

    def clear(self) -> None:
        if self.rows or self.settings:
            self._emit(op="clear")


class _FileLock:
    """An exclusive ``flock`` on a lock file: blocking, woken at once when released, and
    released by the kernel when its holder dies (an ``O_EXCL`` lock file would stay behind
    and stall the others). Linux NFS clients (v3 with lockd, v4) map it to POSIX locks.
    Without ``fcntl`` (Windows) Optuna's ``JournalFileOpenLock`` stands in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        try:
            import fcntl

            self._fcntl: Any = fcntl
        except ImportError:  # pragma: no cover - not POSIX
            from optuna.storages.journal import JournalFileOpenLock

            self._fcntl = None
            self._fallback = JournalFileOpenLock(str(path))

    def acquire(self) -> None:
        if self._fcntl is None:  # pragma: no cover - not POSIX
            self._fallback.acquire()
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            self._fcntl.flock(fd, self._fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fcntl is None:  # pragma: no cover - not POSIX
            self._fallback.release()
            return
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock


class _StateLedger(OracleLedger):
    """In memory (``path`` None: one process) or a journal sidecar file under a lock file."""

    def __init__(self, key: str, budget: int, stale_after: float, path: Path | None) -> None:
        super().__init__(key, budget, stale_after, heartbeat=path is not None)
        self.path = path
        self._state = _State(key)
        self._mutex = threading.Lock()  # the heartbeat thread shares the state
        self._offset = 0
        self._torn = False
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
            self._lock = _FileLock(path.with_name(path.name + ".lock"))

    def _run(self, body: Callable[[_Txn], _T]) -> _T:
        with self._mutex:
            if self.path is None:
                return body(self._state)
            self._lock.acquire()
            try:
                self._catch_up()
                self._state.ops = []
                try:
                    result = body(self._state)
                except BaseException:
                    self._state, self._offset = _State(self.key), 0  # unwritten changes: reread
                    raise
                self._append(self._state.ops or [])
                return result
            finally:
                self._state.ops = None
                self._lock.release()

    def _catch_up(self) -> None:
        """Apply the lines other processes appended since our last read."""
        assert self.path is not None
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self._torn = end < len(data)  # a writer died mid-line: terminate it before appending
        for line in data[:end].splitlines():
            try:
                op = json.loads(line)
            except ValueError:
                continue  # the remains of a torn write
            self._state.apply(op)
        self._offset += end

    def _append(self, ops: list[dict[str, Any]]) -> None:
        if not ops:
            return
        assert self.path is not None
        text = "".join(json.dumps(op, separators=(",", ":")) + "\n" for op in ops)
        payload = (b"\n" if self._torn else b"") + text.encode()
        with self.path.open("ab") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            self._offset = handle.tell()
        self._torn = False
