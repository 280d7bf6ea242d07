"""Oracle ledger: an atomic claim on each molecule, shared by every process on one study.

Workers sharing an Optuna study (Dask workers, or separate ``molspace optimize`` processes
on one storage URL) decode overlapping molecules at the same moment. The ledger makes the
oracle exact across all of them: each canonical SMILES is scored at most once, and the
molecules scored never exceed the budget, whatever the timing.

Where it lives, beside the study:

- RDB storage (SQLite, PostgreSQL, any SQLAlchemy URL): four small tables in the same
  database (``molspace_oracle_ledger``, ``molspace_ledger_workers``,
  ``molspace_ledger_settings``, ``molspace_ledger_studies``);
- journal file: a JSON-lines sidecar ``<journal>.oracle``, appended under an exclusive
  ``flock`` on ``<journal>.oracle.lock`` and replayed by every process;
- in-memory storage: a dict (one process).

Semantics (one transaction per call, a few calls per batch; the key is ``name#study_id``):

- ``claim(smiles)`` sorts each molecule into *known* (scored by anyone: its values come
  back, so the ledger is the workers' shared oracle cache), *mine* (a row was inserted for
  this worker: score it, then ``fill``), *pending* (another live worker holds it unscored:
  ask again shortly) or *refused* (no budget left). A row is ``(study, slot, smiles,
  worker, trial, claimed_at, scored_at, values, components)`` with UNIQUE(study, slot) and
  UNIQUE(study, smiles); a row is only inserted while the study holds fewer rows than the
  budget. Transactions on one study are serialised (SQLite ``BEGIN IMMEDIATE``, a row lock
  elsewhere, the lock file for a journal); the unique keys turn any race that slips past
  the lock into a retry, never into a second oracle call.
- ``fill(scored)`` writes the values on this worker's rows; a scored row is final.
- Liveness: each worker registers ``(host key, pid, heartbeat, in-flight trial numbers)``
  and a daemon thread refreshes the heartbeat every ``stale_after / 4`` seconds. A worker
  is dead when its heartbeat is older than ``stale_after`` seconds or, on the same machine
  (same boot and PID namespace), as soon as its process is gone. The next transaction
  deletes a dead worker's unscored claims, so a killed worker never holds budget or
  molecules for longer than ``stale_after`` (no time at all on the same machine).
  Machines sharing a study must have clocks that agree to well within ``stale_after``.
- ``settle(name, value)``: first writer wins, for study-wide choices made by whichever
  process creates the study (its search space), when several start at the same moment.
- ``orphans(running)`` names the RUNNING trials that no live worker holds (listed by a
  dead worker, or unlisted and older than ``stale_after``) and the scored rows claimed by
  them, so the optimizer can tell the scored ones and fail the rest on resume.

Optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)`` + ``fail_stale_trials``)
is not used: in Optuna 5.0 it covers RDB storages only (``JournalStorage`` is no
``BaseHeartbeat``), it beats from ``study.optimize`` (``study.ask`` warns), and it could
only fail a dead worker's trials, not tell the ones whose molecule was already scored.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = [
    "DEFAULT_STALE_AFTER",
    "Claim",
    "Counts",
    "LedgerRow",
    "OracleLedger",
    "WorkerRow",
    "open_ledger",
]

DEFAULT_STALE_AFTER = 120.0
Scored = tuple[Sequence[float], Mapping[str, float] | None]
_T = TypeVar("_T")
_log = logging.getLogger(__name__)


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


# --- liveness ----------------------------------------------------------------------------


def _host_key() -> str:
    """Host name plus boot id and PID namespace: two workers with the same key can check
    each other's PIDs (containers on one machine share the boot id, not the namespace)."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("no-proc")  # no way to check PIDs: the heartbeat alone decides
    return ":".join(parts)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead for us
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# --- the ledger --------------------------------------------------------------------------


class OracleLedger(ABC):
    """Claims, scores and live workers of one study; see the module docstring."""

    def __init__(self, key: str, budget: int, stale_after: float, heartbeat: bool) -> None:
        if stale_after <= 0:
            raise ValueError("stale_after must be > 0")
        self.key = key
        self.budget = budget
        self.stale_after = float(stale_after)
        self.worker = uuid.uuid4().hex
        self.host = _host_key()
        self.pid = os.getpid()
        self._heartbeat = heartbeat
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # backend hooks
    @abstractmethod
    def _run(self, body: Callable[[_Txn], _T]) -> _T:
        """Run ``body`` in one serialised transaction on this study (retried on races)."""

    def _dispose(self) -> None:
        """Free backend resources (connections); nothing to free by default."""
        return None

    # lifecycle
    def start(self, n_trials: int, records: Iterable[Mapping[str, Any]] = ()) -> Counts:
        """Register this worker and start its heartbeat.

        ``n_trials`` counts the study's trials that were ever asked (WAITING ones, e.g.
        enqueued seeds, do not count): a study without them and without other live workers
        cannot own claims, so rows left under its key (a deleted study whose id was reused,
        a journal file deleted without its sidecar) are cleared. ``records`` (``smiles``,
        ``values``, ``components``, ``trial`` of the scored trials, in call order) seed an
        empty ledger of a study scored before the ledger existed.
        """
        seeded = _dedupe(records)

        def body(t: _Txn) -> Counts:
            now = time.time()
            live = self._expire(t, now)
            if n_trials == 0 and not [w for w in live if w.worker != self.worker]:
                t.clear()
            held, scored, _ = t.counts()
            if held == 0 and seeded:
                rows = [
                    LedgerRow(r["smiles"], i, "backfill", r.get("trial"), r["values"], r["comp"])
                    for i, r in enumerate(seeded)
                ]
                t.insert(rows, now)
            t.beat(self._me(now), keep_trials=False)
            held, scored, _ = t.counts()
            return Counts(held, scored)

        counts = self._run(body)
        if self._heartbeat and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._beat_forever, name=f"molspace-ledger-{self.worker[:8]}", daemon=True
            )
            self._thread.start()
        return counts

    def close(self) -> None:
        """Stop the heartbeat, give back unscored claims and unregister (idempotent).

        Never raises: when the storage cannot be reached the claims simply expire after
        ``stale_after``, and an error that ended the run stays the one reported."""

        def body(t: _Txn) -> None:
            t.release(self.worker, None)
            t.drop_workers([self.worker])

        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=max(5.0, self.stale_after))
        try:
            self._run(body)
        except Exception as exc:
            _log.warning("oracle ledger: could not unregister (claims will expire): %s", exc)
        finally:
            self._dispose()

    def __enter__(self) -> OracleLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def heartbeat_interval(self) -> float:
        return max(0.2, self.stale_after / 4)

    def _beat_forever(self) -> None:
        while not self._stop.wait(self.heartbeat_interval):
            try:
                self._run(lambda t: t.beat(self._me(time.time()), keep_trials=True))
            except Exception as exc:  # a database hiccup: the next beat tries again
                _log.warning("oracle ledger heartbeat failed: %s", exc)

    def _me(self, now: float, trials: Sequence[int] = ()) -> WorkerRow:
        return WorkerRow(self.worker, self.host, self.pid, now, tuple(trials))

    def _alive(self, row: WorkerRow, now: float) -> bool:
        if row.worker == self.worker:
            return True
        if now - row.heartbeat > self.stale_after:
            return False
        return row.host != self.host or _pid_alive(row.pid)

    def _expire(self, t: _Txn, now: float) -> list[WorkerRow]:
        """Delete the unscored claims of dead workers; return the live workers."""
        live = [w for w in t.workers() if self._alive(w, now)]
        t.drop_unscored([w.worker for w in live] + [self.worker])
        return live

    # the operations
    def status(self) -> Counts:
        """Rows held and scored now (dead workers' claims expired first)."""

        def body(t: _Txn) -> Counts:
            self._expire(t, time.time())
            held, scored, _ = t.counts()
            return Counts(held, scored)

        return self._run(body)

    def in_flight(self, trials: Sequence[int]) -> None:
        """Record the trial numbers this worker has asked and not told yet (and beat)."""
        self._run(lambda t: t.beat(self._me(time.time(), trials), keep_trials=False))

    def claim(self, smiles: Sequence[str], trial_of: Mapping[str, int] | None = None) -> Claim:
        """Claim the molecules nobody has scored or holds, while the budget lasts."""
        wanted = list(dict.fromkeys(smiles))
        trial_of = trial_of or {}

        def body(t: _Txn) -> Claim:
            now = time.time()
            self._expire(t, now)
            rows = t.lookup(wanted) if wanted else {}
            known: dict[str, LedgerRow] = {}
            mine: list[str] = []
            pending: list[str] = []
            fresh: list[str] = []
            for s in wanted:
                row = rows.get(s)
                if row is None:
                    fresh.append(s)
                elif row.scored:
                    known[s] = row
                elif row.worker == self.worker:
                    mine.append(s)  # claimed by an earlier call of ours, still unscored
                else:
                    pending.append(s)
            held, scored, top = t.counts()
            room = max(0, self.budget - held)
            take, refused = fresh[:room], fresh[room:]
            if take:
                slots = _free_slots(t, held, top, len(take))
                t.insert(
                    [
                        LedgerRow(s, slot, self.worker, trial_of.get(s))
                        for s, slot in zip(take, slots, strict=True)
                    ],
                    now,
                )
            return Claim(known, mine + take, pending, refused, Counts(held + len(take), scored))

        return self._run(body)

    def fill(self, scored: Mapping[str, Scored]) -> tuple[set[str], Counts]:
        """Write the scores of this worker's claims; returns the molecules whose claim was
        lost (expired and taken over: only if this worker's heartbeat stopped) and counts."""

        def body(t: _Txn) -> tuple[set[str], Counts]:
            filled = t.fill(self.worker, scored, time.time()) if scored else set()
            held, n_scored, _ = t.counts()
            return set(scored) - filled, Counts(held, n_scored)

        lost, counts = self._run(body)
        if lost:
            _log.warning("oracle ledger: %d claims expired before their scores arrived", len(lost))
        return lost, counts

    def release(self, smiles: Sequence[str]) -> None:
        """Give back unscored claims (scoring failed or the run stops)."""
        if smiles:
            self._run(lambda t: t.release(self.worker, list(smiles)))

    def scored_trials(self, trials: Sequence[int]) -> dict[int, LedgerRow]:
        """The scored rows claimed by these trial numbers (keyed by trial number)."""
        if not trials:
            return {}
        return self._run(lambda t: t.scored_rows_of_trials(list(trials)))

    def settle(self, name: str, value: str) -> str:
        """First writer wins: store ``value`` under ``name`` unless one is stored, and
        return the stored one. Study-wide choices (the search space) are made this way
        once for every process that creates the study at the same moment."""

        def body(t: _Txn) -> str:
            current = t.setting(name)
            if current is None:
                t.set_setting(name, value)
                return value
            return current

        return self._run(body)

    def orphans(self, running: Mapping[int, float]) -> tuple[list[int], dict[int, LedgerRow]]:
        """Of the RUNNING trials (number -> start time, epoch seconds), those no live worker
        holds, and the scored rows that those trials claimed (keyed by trial number)."""

        def body(t: _Txn) -> tuple[list[int], dict[int, LedgerRow]]:
            now = time.time()
            everyone = t.workers()
            live = self._expire(t, now)
            live_ids = {w.worker for w in live}
            held = {n for w in live for n in w.trials}
            dead = {n for w in everyone if w.worker not in live_ids for n in w.trials}
            numbers = sorted(
                n
                for n, started in running.items()
                if n not in held and (n in dead or now - started > self.stale_after)
            )
            t.drop_workers([w.worker for w in everyone if w.worker not in live_ids])
            return numbers, t.scored_rows_of_trials(numbers) if numbers else {}

        return self._run(body)


def _dedupe(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["smiles"] not in seen:
            seen[r["smiles"]] = {
                "smiles": r["smiles"],
                "values": tuple(float(v) for v in r["values"]),
                "comp": dict(r.get("components") or {}),
                "trial": r.get("trial"),
            }
    return list(seen.values())


def _free_slots(t: _Txn, held: int, top: int, n: int) -> list[int]:
    """The ``n`` smallest unused slot numbers (gaps are left by expired claims)."""
    if held == top + 1:  # no gaps: the common case needs no slot list
        return list(range(top + 1, top + 1 + n))
    used = t.used_slots()
    out: list[int] = []
    slot = 0
    while len(out) < n:
        if slot not in used:
            out.append(slot)
        slot += 1
    return out


# --- in-memory state: the in-memory and journal backends ----------------------------------


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
                self._append(self._state.ops)
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


# --- SQL backend ----------------------------------------------------------------------------


def _tables(metadata: Any) -> tuple[Any, Any, Any, Any]:
    import sqlalchemy as sa

    studies = sa.Table(
        "molspace_ledger_studies",
        metadata,
        sa.Column("study", sa.String(600), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    rows = sa.Table(
        "molspace_oracle_ledger",
        metadata,
        sa.Column("study", sa.String(600), primary_key=True),
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("smiles", sa.Text, nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("trial", sa.Integer, nullable=True),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("scored_at", sa.Float, nullable=True),
        sa.Column("values_json", sa.Text, nullable=True),
        sa.Column("components_json", sa.Text, nullable=True),
        sa.UniqueConstraint("study", "smiles", name="uq_molspace_oracle_ledger_smiles"),
        sa.Index("ix_molspace_oracle_ledger_open", "study", "scored_at"),
    )
    settings = sa.Table(
        "molspace_ledger_settings",
        metadata,
        sa.Column("study", sa.String(600), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    workers = sa.Table(
        "molspace_ledger_workers",
        metadata,
        sa.Column("study", sa.String(600), primary_key=True),
        sa.Column("worker", sa.String(64), primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
        sa.Column("trials_json", sa.Text, nullable=False),
    )
    return studies, rows, workers, settings


class _SqlTxn:
    """:class:`_Txn` on an SQLAlchemy connection inside a transaction."""

    def __init__(self, conn: Any, key: str, rows: Any, workers: Any, settings: Any) -> None:
        self.conn, self.key, self.t, self.w, self.s = conn, key, rows, workers, settings

    def _row(self, r: Any) -> LedgerRow:
        values = tuple(json.loads(r.values_json)) if r.values_json is not None else None
        comps = json.loads(r.components_json) if r.components_json is not None else None
        return LedgerRow(r.smiles, r.slot, r.worker, r.trial, values, comps)

    def workers(self) -> list[WorkerRow]:
        w = self.w
        found = self.conn.execute(w.select().where(w.c.study == self.key))
        return [
            WorkerRow(r.worker, r.host, r.pid, r.heartbeat, tuple(json.loads(r.trials_json)))
            for r in found
        ]

    def beat(self, row: WorkerRow, keep_trials: bool) -> None:
        w = self.w
        values: dict[str, Any] = {"heartbeat": row.heartbeat}
        if not keep_trials:
            values["trials_json"] = json.dumps(list(row.trials))
        mine = (w.c.study == self.key) & (w.c.worker == row.worker)
        if self.conn.execute(w.update().where(mine).values(**values)).rowcount == 0:
            self.conn.execute(
                w.insert().values(
                    study=self.key,
                    worker=row.worker,
                    host=row.host,
                    pid=row.pid,
                    heartbeat=row.heartbeat,
                    trials_json=json.dumps(list(row.trials)),
                )
            )

    def drop_workers(self, workers: Sequence[str]) -> None:
        if workers:
            w = self.w
            self.conn.execute(
                w.delete().where(w.c.study == self.key, w.c.worker.in_(list(workers)))
            )

    def drop_unscored(self, keep_workers: Sequence[str]) -> None:
        t = self.t
        self.conn.execute(
            t.delete().where(
                t.c.study == self.key,
                t.c.scored_at.is_(None),
                t.c.worker.not_in(list(keep_workers)),
            )
        )

    def release(self, worker: str, smiles: Sequence[str] | None) -> None:
        t = self.t
        where = [t.c.study == self.key, t.c.worker == worker, t.c.scored_at.is_(None)]
        if smiles is not None:
            where.append(t.c.smiles.in_(list(smiles)))
        self.conn.execute(t.delete().where(*where))

    def lookup(self, smiles: Sequence[str]) -> dict[str, LedgerRow]:
        t = self.t
        found = self.conn.execute(
            t.select().where(t.c.study == self.key, t.c.smiles.in_(list(smiles)))
        )
        return {r.smiles: self._row(r) for r in found}

    def counts(self) -> tuple[int, int, int]:
        import sqlalchemy as sa

        t = self.t
        held, scored, top = self.conn.execute(
            sa.select(sa.func.count(), sa.func.count(t.c.scored_at), sa.func.max(t.c.slot)).where(
                t.c.study == self.key
            )
        ).one()
        return int(held), int(scored), -1 if top is None else int(top)

    def used_slots(self) -> set[int]:
        import sqlalchemy as sa

        t = self.t
        return set(self.conn.execute(sa.select(t.c.slot).where(t.c.study == self.key)).scalars())

    def insert(self, rows: Sequence[LedgerRow], now: float) -> None:
        self.conn.execute(
            self.t.insert(),
            [
                {
                    "study": self.key,
                    "slot": r.slot,
                    "smiles": r.smiles,
                    "worker": r.worker,
                    "trial": r.trial,
                    "claimed_at": now,
                    "scored_at": now if r.scored else None,
                    "values_json": json.dumps(list(r.values)) if r.values is not None else None,
                    "components_json": json.dumps(r.components or {}) if r.scored else None,
                }
                for r in rows
            ],
        )

    def fill(self, worker: str, scored: Mapping[str, Scored], now: float) -> set[str]:
        import sqlalchemy as sa

        t = self.t
        statement = (
            t.update()
            .where(
                t.c.study == self.key,
                t.c.worker == worker,
                t.c.smiles == sa.bindparam("b_smiles"),
                t.c.scored_at.is_(None),
            )
            .values(
                scored_at=now,
                values_json=sa.bindparam("b_values"),
                components_json=sa.bindparam("b_comps"),
            )
        )
        params = [
            {
                "b_smiles": s,
                "b_values": json.dumps([float(v) for v in values]),
                "b_comps": json.dumps(dict(comps or {})),
            }
            for s, (values, comps) in scored.items()
        ]
        self.conn.execute(statement, params)
        # executemany row counts are unreliable across drivers: read back what is ours now
        done = self.conn.execute(
            sa.select(t.c.smiles).where(
                t.c.study == self.key,
                t.c.worker == worker,
                t.c.scored_at == now,
                t.c.smiles.in_(list(scored)),
            )
        )
        return set(done.scalars())

    def scored_rows_of_trials(self, trials: Sequence[int]) -> dict[int, LedgerRow]:
        t = self.t
        found = self.conn.execute(
            t.select().where(
                t.c.study == self.key, t.c.trial.in_(list(trials)), t.c.scored_at.is_not(None)
            )
        )
        return {r.trial: self._row(r) for r in found}

    def setting(self, name: str) -> str | None:
        s = self.s
        found = self.conn.execute(
            s.select().with_only_columns(s.c.value).where(s.c.study == self.key, s.c.name == name)
        ).first()
        return None if found is None else str(found[0])

    def set_setting(self, name: str, value: str) -> None:
        self.conn.execute(self.s.insert().values(study=self.key, name=name, value=value))

    def clear(self) -> None:
        self.conn.execute(self.t.delete().where(self.t.c.study == self.key))
        self.conn.execute(self.s.delete().where(self.s.c.study == self.key))


class _SqlLedger(OracleLedger):
    """Tables in the study's own database, reached through SQLAlchemy."""

    _ATTEMPTS = 30

    def __init__(self, url: str, key: str, budget: int, stale_after: float) -> None:
        import sqlalchemy as sa

        super().__init__(key, budget, stale_after, heartbeat=True)
        self._sqlite = url.startswith("sqlite")
        if self._sqlite:
            engine = sa.create_engine(url, connect_args={"timeout": 60})

            @sa.event.listens_for(engine, "connect")
            def _connect(dbapi_connection: Any, record: Any) -> None:
                del record
                dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")

            @sa.event.listens_for(engine, "begin")
            def _begin(connection: Any) -> None:
                # take the write lock up front: a deferred transaction that reads and then
                # writes fails at once in WAL mode when another writer got there first
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        self._engine = engine
        metadata = sa.MetaData()
        self._studies, self._rows, self._workers, self._settings = _tables(metadata)
        self._retry(lambda: metadata.create_all(engine, checkfirst=True))
        self._retry(self._register_study)

    def _register_study(self) -> None:
        import sqlalchemy as sa

        s = self._studies
        with self._engine.begin() as conn:
            exists = conn.execute(sa.select(s.c.study).where(s.c.study == self.key)).first()
            if exists is None:
                conn.execute(s.insert().values(study=self.key, created_at=time.time()))

    def _retry(self, action: Callable[[], _T]) -> _T:
        """Retry a transaction that lost a race (unique key, deadlock, busy database)."""
        from sqlalchemy.exc import DBAPIError

        for attempt in range(self._ATTEMPTS):
            try:
                return action()
            except DBAPIError as exc:
                if attempt == self._ATTEMPTS - 1 or exc.connection_invalidated:
                    raise
                time.sleep(min(1.0, 0.01 * 2 ** min(attempt, 7)) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _run(self, body: Callable[[_Txn], _T]) -> _T:
        import sqlalchemy as sa

        s = self._studies

        def attempt() -> _T:
            with self._engine.begin() as conn:
                # serialise the study's transactions (a no-op clause on SQLite, which
                # already holds the database's write lock from BEGIN IMMEDIATE)
                lock = sa.select(s.c.study).where(s.c.study == self.key).with_for_update()
                conn.execute(lock)
                txn = _SqlTxn(conn, self.key, self._rows, self._workers, self._settings)
                return body(txn)

        return self._retry(attempt)

    def _dispose(self) -> None:
        self._engine.dispose()


def open_ledger(
    url: str,
    study_name: str,
    study_id: int,
    budget: int,
    stale_after: float = DEFAULT_STALE_AFTER,
) -> OracleLedger:
    """The ledger of a study stored at ``url`` (a :func:`molspace.optimize_storage.storage_url`).

    The key includes the storage's study id, so a study deleted and created again under
    the same name starts a fresh ledger.
    """
    key = f"{study_name}#{study_id}"
    if url == ":memory:":
        return _StateLedger(key, budget, stale_after, None)
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        return _StateLedger(key, budget, stale_after, path.with_name(path.name + ".oracle"))
    return _SqlLedger(url, key, budget, stale_after)
