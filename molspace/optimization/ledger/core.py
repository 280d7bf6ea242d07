"""The backend-independent ledger: worker liveness and the claim/fill/settle/orphans
algorithms, run inside one backend transaction per call."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from molspace.optimization.ledger.rows import _T, Claim, Counts, LedgerRow, Scored, WorkerRow, _Txn

_log = logging.getLogger("molspace.optimization.ledger")  # the package's logger


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

    def abandon_claims(self) -> None:
        """Drop every unscored claim of the study, whoever holds it: the run is over and
        its driver tells the trials left open. A worker still scoring then finds its
        claim gone (``fill`` reports it lost), so no score lands on a trial told failed."""
        self._run(lambda t: t.drop_unscored([]))

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
