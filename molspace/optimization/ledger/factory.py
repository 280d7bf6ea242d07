"""Open the ledger of a study from its storage URL, picking the backend."""

from __future__ import annotations

from pathlib import Path

from molspace.optimization.ledger.core import OracleLedger
from molspace.optimization.ledger.sql import _SqlLedger
from molspace.optimization.ledger.state import _StateLedger

DEFAULT_STALE_AFTER = 120.0


def open_ledger(
    url: str,
    study_name: str,
    study_id: int,
    budget: int,
    stale_after: float = DEFAULT_STALE_AFTER,
) -> OracleLedger:
    """The ledger of a study stored at ``url`` (see ``optimization.storage.storage_url``).

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
