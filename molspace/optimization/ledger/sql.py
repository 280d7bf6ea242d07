"""The SQL backend: ledger tables in the study's own database, through SQLAlchemy
(imported only when this backend is used)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from molspace.optimization.ledger.core import OracleLedger
from molspace.optimization.ledger.rows import _T, LedgerRow, Scored, WorkerRow, _Txn


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
