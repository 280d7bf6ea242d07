"""Where an optimization study lives: SQLite by default, any SQLAlchemy URL, or a journal file.

- nothing given: ``<out>/study.db`` (SQLite; resumable, viewable with optuna-dashboard)
- ``*.db`` / ``*.sqlite`` path or ``sqlite:///...``: SQLite
- ``postgresql://...``, ``mysql://...``: any SQLAlchemy URL (many workers on a cluster)
- ``journal:<path>`` or a ``*.journal`` / ``*.log`` path: ``JournalStorage`` on a file,
  which Optuna recommends over SQLite for several processes on one machine
- ``:memory:``: in-process only (benchmarks; nothing is resumable)

The study's oracle ledger (``molspace.optimization.ledger``) lives beside it: tables in the same
database, or a ``<journal>.oracle`` sidecar next to a journal file. Copy or delete it with
the study.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from molspace.errors import ConfigError

__all__ = ["make_storage", "storage_url"]


def storage_url(storage: str | None, out_dir: str | Path) -> str:
    """Normalise the user's storage option into a URL-like string (what we record)."""
    if storage is None or storage == "":
        return f"sqlite:///{(Path(out_dir) / 'study.db').resolve()}"
    if storage == ":memory:" or "://" in storage or storage.startswith("journal:"):
        return storage
    path = Path(storage)
    if path.suffix in {".journal", ".log"}:
        return f"journal:{path.resolve()}"
    if path.suffix in {".db", ".sqlite", ".sqlite3"}:
        return f"sqlite:///{path.resolve()}"
    raise ConfigError(
        f"storage {storage!r}: expected a .db/.sqlite file, a .journal/.log file, "
        "journal:<path>, :memory: or an SQLAlchemy URL"
    )


def _sqlite_storage(url: str) -> Any:
    """SQLite in WAL mode with ``synchronous=NORMAL``: measured 4x faster ask/tell than
    SQLite's defaults on this machine (TPE: 335 -> 81 ms per ask at 300 trials), and readers
    (optuna-dashboard, other workers) no longer block the writer. WAL needs a local disk."""
    import sqlite3

    import sqlalchemy

    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sqlite3.connect(path, timeout=60) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise ConfigError(f"storage {path}: cannot open SQLite database: {exc}") from None
    # a generous timeout: several local workers may write at the same moment
    storage = _rdb_storage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    def _pragmas(dbapi_connection: Any, record: Any) -> None:
        del record
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(storage.engine, "connect", _pragmas)
    storage.engine.dispose()  # connections opened so far lack the pragma
    return storage


def _rdb_storage(url: str, **kwargs: Any) -> Any:
    """``RDBStorage``, retried when another process creates the schema at the same moment
    (two runs started together on a new database: "table alembic_version already exists")."""
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import DBAPIError

    attempts = 5
    for attempt in range(attempts):
        try:
            return RDBStorage(url, **kwargs)
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def make_storage(url: str) -> Any:
    """An Optuna storage for a URL from :func:`storage_url`."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if url == ":memory:":
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        return _sqlite_storage(url)
    try:
        return _rdb_storage(url)
    except Exception as exc:  # SQLAlchemy raises many types for a bad URL or missing driver
        raise ConfigError(f"storage {url!r}: {type(exc).__name__}: {exc}") from None
