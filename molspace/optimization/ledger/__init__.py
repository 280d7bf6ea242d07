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

from molspace.optimization.ledger.core import OracleLedger
from molspace.optimization.ledger.factory import DEFAULT_STALE_AFTER, open_ledger
from molspace.optimization.ledger.rows import Claim, Counts, LedgerRow, WorkerRow
from molspace.optimization.ledger.rows import (
    Scored as Scored,  # public before the split, not in __all__
)

__all__ = [
    "DEFAULT_STALE_AFTER",
    "Claim",
    "Counts",
    "LedgerRow",
    "OracleLedger",
    "WorkerRow",
    "open_ledger",
]
