"""The unit a reader yields: accepted records and rejected rows of one chunk.

Also the shared helpers that turn raw text fields into those two tables, so
every text reader applies the same rules: ids default to ``<stem>:<row>``,
an empty SMILES cell or undecodable/binary bytes make a reject, and the
rejected input is kept (truncated) next to its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "INPUT_MAX_CHARS",
    "RECORD_COLUMNS",
    "REJECT_COLUMNS",
    "RESERVED_COLUMNS",
    "WS",
    "Pending",
    "ReadChunk",
    "Rejects",
    "clean_piece",
    "empty_rejects",
    "printable",
]

RECORD_COLUMNS = ("source", "row", "id", "smiles")
REJECT_COLUMNS = ("source", "row", "id", "input", "reason")
#: names a file's own columns may not take, because the pipeline owns them
RESERVED_COLUMNS = frozenset({"source", "row", "id", "smiles", "status", "reason", "input"})
INPUT_MAX_CHARS = 200
#: what separates and pads fields in text files: ASCII blanks only, as RDKit's readers do
WS = " \t\r\x0b\x0c"


def empty_rejects() -> pd.DataFrame:
    """A rejects table with no rows but the right columns and dtypes."""
    return pd.DataFrame(
        {
            "source": pd.Series([], dtype="str"),
            "row": pd.Series([], dtype="int64"),
            "id": pd.Series([], dtype="str"),
            "input": pd.Series([], dtype="str"),
            "reason": pd.Series([], dtype="str"),
        }
    )


@dataclass
class ReadChunk:
    """One chunk of a library: ``records`` (source,row,id,smiles,+extra) and ``rejects``.

    ``n_read == len(records) + len(rejects)``: nothing read is ever dropped.
    Text columns use pandas' ``str`` dtype, ``row`` is int64. Every chunk of a
    CSV/TSV/SMILES/Parquet source has the same columns (except chunks before
    the first accepted record, which have only the four shared ones); SDF
    chunks add a column when a new SD tag first appears.
    """

    records: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=empty_rejects)

    @property
    def n_read(self) -> int:
        return len(self.records) + len(self.rejects)

    @property
    def n_accepted(self) -> int:
        return len(self.records)

    @property
    def n_rejected(self) -> int:
        return len(self.rejects)


def printable(text: str, limit: int = INPUT_MAX_CHARS) -> str:
    """``text`` safe to store: undecodable bytes as ``\\xNN``, NUL as ``\\x00``, truncated."""
    if len(text) > limit * 4:
        text = text[: limit * 4]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = text.replace("\x00", "\\x00")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _binary_reason(value: str) -> str | None:
    """Why a text field is binary junk, or None when it is clean text."""
    if "\x00" in value:
        return "binary data (NUL byte)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "undecodable bytes (not UTF-8 text)"
    return None


def _column_is_clean(values: Sequence[str]) -> bool:
    """Fast whole-column check (C speed) that no value holds NUL or undecodable bytes."""
    joined = "\x1e".join(values)
    if "\x00" in joined:
        return False
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Rejects:
    """Rows a reader rejects while it fills a chunk (kept in lists; framed once)."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.ids: list[str] = []
        self.inputs: list[str] = []
        self.reasons: list[str] = []

    def add(self, row: int, id_: str, text: str, reason: str) -> None:
        self.rows.append(row)
        self.ids.append(printable(id_))
        self.inputs.append(printable(text))
        self.reasons.append(reason)

    def __len__(self) -> int:
        return len(self.rows)

    def extend(self, other: Rejects) -> None:
        self.rows.extend(other.rows)
        self.ids.extend(other.ids)
        self.inputs.extend(other.inputs)
        self.reasons.extend(other.reasons)

    def copy_from(self, other: Rejects, index: int) -> None:
        self.rows.append(other.rows[index])
        self.ids.append(other.ids[index])
        self.inputs.append(other.inputs[index])
        self.reasons.append(other.reasons[index])

    def frame(self, source: str) -> pd.DataFrame:
        if not self.rows:
            return empty_rejects()
        df = pd.DataFrame(
            {
                "source": pd.Series([source] * len(self.rows), dtype="str"),
                "row": np.asarray(self.rows, dtype=np.int64),
                "id": pd.Series(self.ids, dtype="str"),
                "input": pd.Series(self.inputs, dtype="str"),
                "reason": pd.Series(self.reasons, dtype="str"),
            }
        )
        return df.sort_values("row", kind="stable", ignore_index=True)


def clean_piece(
    stem: str,
    rows: list[int],
    columns: dict[str, list[str]],
    raw: Callable[[int], str],
    rejects: Rejects,
    *,
    id_key: str | None,
) -> pa.Table:
    """Turn raw text fields of some records into a records table (without ``source``).

    ``columns`` must hold ``"smiles"`` and may hold ``id_key`` plus extra
    columns (already renamed away from ``RESERVED_COLUMNS``); ``raw(i)`` gives
    the text of record ``i`` shown in a reject (only called for rejects). Rows
    with an empty SMILES cell or with NUL/undecodable bytes anywhere become
    rejects; all checks are vectorised except on a piece that has a bad row.
    """
    smiles = [s.strip(WS) for s in columns["smiles"]]
    if id_key is not None:
        ids = [s.strip(WS) for s in columns[id_key]]
        ids = [i if i else f"{stem}:{r}" for i, r in zip(ids, rows, strict=True)]
    else:
        ids = [f"{stem}:{r}" for r in rows]
    extra = {k: v for k, v in columns.items() if k not in ("smiles", id_key)}

    bad: dict[int, str] = {}
    if not all(_column_is_clean(col) for col in (smiles, ids, *extra.values())):
        for i in range(len(rows)):
            for col in (smiles, ids, *extra.values()):
                reason = _binary_reason(col[i])
                if reason:
                    bad[i] = reason
                    break
    if not all(smiles):
        for i, s in enumerate(smiles):
            if not s and i not in bad:
                bad[i] = "empty SMILES"

    if bad:
        keep = [i for i in range(len(rows)) if i not in bad]
        for i, reason in bad.items():
            rejects.add(rows[i], ids[i], raw(i), reason)
        rows = [rows[i] for i in keep]
        smiles = [smiles[i] for i in keep]
        ids = [ids[i] for i in keep]
        extra = {k: [v[i] for i in keep] for k, v in extra.items()}

    data = {
        "row": pa.array(rows, pa.int64()),
        "id": pa.array(ids, pa.string()),
        "smiles": pa.array(smiles, pa.string()),
    }
    for name, values in extra.items():
        data[name] = pa.array(values, pa.string())
    return pa.table(data)


class Pending:
    """Buffers records tables and rejects of one source; hands out chunks of exactly
    ``chunk_size`` rows read (the last one smaller), in row order.

    Pieces must arrive in row order (each piece's rows above the previous
    piece's); rows within a source are unique, which makes the cut exact.
    """

    def __init__(self, source: str, chunk_size: int) -> None:
        self.source = source
        self.chunk_size = chunk_size
        self.tables: list[pa.Table] = []
        self.rejects = Rejects()
        self.n = 0
        self.schema: pa.Schema | None = None  # so a chunk without records keeps the columns

    def add(self, table: pa.Table | None, rejects: Rejects | None = None) -> Iterator[ReadChunk]:
        """Add a piece; yield every chunk that is now full."""
        if table is not None and table.num_rows:
            self.schema = self.schema or table.schema
            self.tables.append(table)
            self.n += table.num_rows
        if rejects is not None and len(rejects):
            self.rejects.extend(rejects)
            self.n += len(rejects)
        while self.n >= self.chunk_size:
            yield self._cut(self.chunk_size)

    def flush(self) -> Iterator[ReadChunk]:
        """Yield what is left as a last, smaller chunk."""
        if self.n:
            yield self._cut(self.n)

    def _cut(self, take: int) -> ReadChunk:
        table = None
        if self.tables:
            table = pa.concat_tables(self.tables) if len(self.tables) > 1 else self.tables[0]
        n_take_rec, n_take_rej = take, 0
        if len(self.rejects):
            rec_rows = table.column("row").to_numpy() if table is not None else np.empty(0)
            rej_rows = np.asarray(self.rejects.rows, dtype=np.int64)
            boundary = np.sort(np.concatenate([rec_rows, rej_rows]))[take - 1]
            n_take_rec = int(np.searchsorted(rec_rows, boundary, side="right"))
            n_take_rej = take - n_take_rec
        head = self.schema.empty_table() if self.schema is not None else None
        if table is not None:
            head, tail = table.slice(0, n_take_rec), table.slice(n_take_rec)
            self.tables = [tail] if tail.num_rows else []
        taken, left = Rejects(), Rejects()
        order = np.argsort(np.asarray(self.rejects.rows, dtype=np.int64), kind="stable")
        for position, index in enumerate(order.tolist()):
            (taken if position < n_take_rej else left).copy_from(self.rejects, index)
        self.rejects = left
        self.n -= take
        return ReadChunk(
            records=_records_frame(self.source, head), rejects=taken.frame(self.source)
        )


def _records_frame(source: str, table: pa.Table | None) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame(
            {
                "source": pd.Series([], dtype="str"),
                "row": pd.Series([], dtype="int64"),
                "id": pd.Series([], dtype="str"),
                "smiles": pd.Series([], dtype="str"),
            }
        )
    table = table.add_column(0, "source", pa.repeat(pa.scalar(source, pa.string()), table.num_rows))
    return table.to_pandas()
