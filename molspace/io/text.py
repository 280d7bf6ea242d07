"""Streaming readers for SMILES files (``.smi``) and delimited tables (``.csv``/``.tsv``).

Rules shared by both: a record's ``row`` is the 1-based number of the line it
starts on (header, comment and blank lines count as lines, so a reject can be
found in an editor); a line ends at ``\\n`` (``\\r\\n`` too; a lone ``\\r`` is
not a line break); a blank or whitespace-only line is not a record and is not
counted.

Speed: the file is read in blocks of whole lines. A block that is valid UTF-8
without NUL bytes (and, for CSV, without quote characters) is split and
checked with Arrow compute kernels, no Python per row. Any other block takes
the exact slow path: per-line Python for ``.smi``, the ``csv`` module for the
rest of a CSV file (quoting may span lines). Both paths give the same result.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molspace.errors import InputError
from molspace.io.chunk import WS, Pending, ReadChunk, Rejects, clean_piece, printable
from molspace.io.columns import ColumnPlan, is_smiles_header, plan_columns
from molspace.io.formats import GZIP_ERRORS, file_stem, open_binary

__all__ = ["read_delimited", "read_smi"]

# a SMILES cell can be long; a runaway quote should still not eat memory unbounded
csv.field_size_limit(min(sys.maxsize, 2**26))

_BOM = b"\xef\xbb\xbf"
_WS_PATTERN = "[ \\t\\r\\x0b\\x0c]+"
_WS_RUN = re.compile(_WS_PATTERN)
_MIN_BLOCK = 1 << 16
_MAX_BLOCK = 1 << 23
#: tests switch the vectorised path off to check it against the exact per-line path
FAST_PATH = True


def _block_size(chunk_size: int) -> int:
    """Bytes per block: about a chunk of typical lines, within 64 KiB..8 MiB."""
    return min(_MAX_BLOCK, max(_MIN_BLOCK, chunk_size * 64))


class _Blocks:
    """Iterate ``(first line number, bytes)`` blocks of whole ``\\n``-terminated lines.

    ``carry`` holds bytes read past the last yielded block, so a caller that
    switches to another way of reading can take over without losing them.
    """

    def __init__(self, stream: IO[bytes], size: int, source: str) -> None:
        self.stream, self.size, self.source = stream, size, source
        self.carry = b""

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        line = 1
        first = True
        try:
            while True:
                data = self.stream.read(self.size)
                if first:
                    first = False
                    if data.startswith(_BOM):
                        data = data[len(_BOM) :]
                if not data:
                    break
                data = self.carry + data
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: keep reading
                    self.carry = data
                    continue
                block, self.carry = data[:cut], data[cut:]
                yield line, block
                line += block.count(b"\n")
        except GZIP_ERRORS as exc:
            msg = f"{self.source}: corrupt compressed data near line {line}: {exc}"
            raise InputError(msg) from None
        if self.carry:
            block, self.carry = self.carry + b"\n", b""
            yield line, block


def _decode_fast(block: bytes, forbid: bytes | None) -> str | None:
    """The block as text when the vectorised path can take it, else None."""
    if not FAST_PATH:
        return None
    if b"\x00" in block or (forbid is not None and forbid in block):
        return None
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines(text: str) -> pa.Array:
    """Lines of a ``\\n``-terminated block, without the terminator or a trailing ``\\r``."""
    lines = pc.list_flatten(pc.split_pattern(pa.array([text], pa.string()), "\n"))
    lines = lines.slice(0, len(lines) - 1)
    return pc.utf8_rtrim(lines, characters="\r")


def _ids(stem: str, rows: pa.Array, given: pa.Array | None) -> pa.Array:
    fallback = pc.binary_join_element_wise(f"{stem}:", pc.cast(rows, pa.string()), "")
    if given is None:
        return fallback
    given = pc.utf8_trim(given, characters=WS)
    return pc.if_else(pc.equal(given, ""), fallback, given)


def _reject_empty(table: dict[str, pa.Array], raw: pa.Array, rejects: Rejects) -> pa.Table:
    """Move rows with an empty SMILES from ``table`` to ``rejects``."""
    empty = pc.equal(table["smiles"], "")
    if pc.any(empty).as_py():
        for i in np.flatnonzero(empty.to_numpy(zero_copy_only=False)).tolist():
            rejects.add(
                table["row"][i].as_py(), table["id"][i].as_py(), raw[i].as_py(), "empty SMILES"
            )
        keep = pc.invert(empty)
        table = {k: pc.filter(v, keep) for k, v in table.items()}
        raw = pc.filter(raw, keep)
    return pa.table(table)


# --------------------------------------------------------------------------- .smi


def read_smi(
    path: Path,
    source: str,
    *,
    chunk_size: int,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> Iterator[ReadChunk]:
    """Read a whitespace-separated SMILES file: ``SMILES [id]`` per line.

    Lines starting with ``#`` are comments. An optional header line whose first
    word is ``smiles`` names the columns. Without a header, or with two header
    columns, everything after the first whitespace run is the id (names with
    spaces survive). With three or more header columns the file is a
    whitespace table: every line must have that many fields, else it is
    rejected, and the extra fields become columns.
    """
    stem = file_stem(path)
    pending = Pending(source, chunk_size)
    state = _SmiState(source, stem, smiles_column, id_column)
    with open_binary(path) as stream:
        for first, block in _Blocks(stream, _block_size(chunk_size), source):
            text = None if state.wide else _decode_fast(block, None)
            if text is not None and state.header_done:
                yield from pending.add(*_smi_fast(text, first, stem))
            else:
                yield from pending.add(*state.slow(block, first))
    yield from pending.flush()


class _SmiState:
    """Header detection and the per-line (exact, slower) path of the ``.smi`` reader."""

    def __init__(
        self, source: str, stem: str, smiles_column: str | None, id_column: str | None
    ) -> None:
        self.source, self.stem = source, stem
        self.smiles_column, self.id_column = smiles_column, id_column
        self.header_done = False
        self.plan: ColumnPlan | None = None
        self.width = 2

    @property
    def wide(self) -> bool:
        return self.width > 2

    def _header(self, text: str) -> bool:
        """Look at the first non-comment line; True when it is a header."""
        self.header_done = True
        words = _WS_RUN.split(text)
        if is_smiles_header(words[0]):
            names = [printable(w) for w in words]
            self.plan = plan_columns(self.source, names, self.smiles_column, self.id_column)
            self.width = max(2, len(words))
            return True
        if self.smiles_column is not None or self.id_column is not None:
            raise InputError(
                f"{self.source}: no header line, so columns cannot be chosen by name "
                f"(smiles_column={self.smiles_column!r}, id_column={self.id_column!r})"
            )
        return False

    def slow(self, block: bytes, first: int) -> tuple[pa.Table, Rejects]:
        rows: list[int] = []
        fields: list[list[str]] = []
        lines: list[str] = []
        rejects = Rejects()
        text = block.decode("utf-8", "surrogateescape")
        for lineno, line in enumerate(text.split("\n")[:-1], first):
            record = line.strip(WS)
            if not record or record[0] == "#":
                continue
            if not self.header_done and self._header(record):
                continue
            parts = _WS_RUN.split(record, maxsplit=self.width - 1)
            if self.wide and len(parts) != self.width:
                rejects.add(
                    lineno,
                    f"{self.stem}:{lineno}",
                    record,
                    f"expected {self.width} columns, found {len(parts)}",
                )
                continue
            rows.append(lineno)
            fields.append(parts)
            lines.append(record)
        if self.wide:
            assert self.plan is not None
            columns = _plan_columns(fields, self.plan)
            id_key = "id" if self.plan.id is not None else None
        else:
            swapped = self.plan is not None and self.plan.smiles == 1
            first_col = [f[0] for f in fields]
            rest = [f[1] if len(f) > 1 else "" for f in fields]
            columns = (
                {"smiles": rest, "id": first_col} if swapped else {"smiles": first_col, "id": rest}
            )
            id_key = "id"
        table = clean_piece(self.stem, rows, columns, lines.__getitem__, rejects, id_key=id_key)
        return table, rejects


def _smi_fast(text: str, first: int, stem: str) -> tuple[pa.Table, Rejects]:
    lines = _lines(text)
    trimmed = pc.utf8_trim(lines, characters=WS)
    keep = pc.and_(pc.not_equal(trimmed, ""), pc.invert(pc.starts_with(trimmed, "#")))
    rows = pc.filter(pa.array(np.arange(first, first + len(lines), dtype=np.int64)), keep)
    records = pc.filter(trimmed, keep)
    parts = pc.split_pattern_regex(records, _WS_PATTERN, max_splits=1)
    offsets = parts.offsets.to_numpy()
    flat = parts.flatten()
    has_id = (offsets[1:] - offsets[:-1]) > 1
    smiles = pc.take(flat, offsets[:-1]) if len(flat) else pa.array([], pa.string())
    ids = None
    if has_id.any():
        idx = np.minimum(offsets[:-1] + 1, len(flat) - 1)
        ids = pc.if_else(pa.array(has_id), pc.take(flat, idx), "")
    table = {"row": rows, "id": _ids(stem, rows, ids), "smiles": smiles}
    rejects = Rejects()
    return _reject_empty(table, records, rejects), rejects


def _plan_columns(fields: list[list[str]], plan: ColumnPlan) -> dict[str, list[str]]:
    cols = list(zip(*fields, strict=True)) if fields else [()] * len(plan.names)
    columns: dict[str, list[str]] = {"smiles": list(cols[plan.smiles])}
    if plan.id is not None:
        columns["id"] = list(cols[plan.id])
    for index, name in plan.extra:
        columns[name] = list(cols[index])
    return columns


# --------------------------------------------------------------------------- .csv / .tsv


def read_delimited(
    path: Path,
    source: str,
    *,
    delimiter: str,
    chunk_size: int,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> Iterator[ReadChunk]:
    """Read a CSV/TSV table with a header line, keeping every column as text.

    Quoting follows the csv module (quoted delimiters and newlines are fine;
    ``row`` is the line a record starts on). A line with another number of
    fields than the header, or one the csv module cannot parse, is rejected; a
    whitespace-only line is skipped. An empty file has no records.
    """
    stem = file_stem(path)
    pending = Pending(source, chunk_size)
    plan: ColumnPlan | None = None
    with open_binary(path) as stream:
        blocks = _Blocks(stream, _block_size(chunk_size), source)
        for first, block in blocks:
            text = _decode_fast(block, b'"')
            if text is not None and b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
                text = None  # a lone CR: the csv module decides what it means
            if text is None:
                # exact path for the rest of the file (a quoted field may span lines)
                rest = _ChainedStream(block + blocks.carry, stream)
                yield from _csv_slow(
                    rest, first, source, stem, pending, plan, delimiter, smiles_column, id_column
                )
                break
            if plan is None:
                plan, text, first = _csv_header(
                    text, first, source, delimiter, smiles_column, id_column
                )
                if plan is None:
                    continue
            yield from pending.add(*_csv_fast(text, first, stem, plan, delimiter))
    yield from pending.flush()


def _csv_header(
    text: str,
    first: int,
    source: str,
    delimiter: str,
    smiles_column: str | None,
    id_column: str | None,
) -> tuple[ColumnPlan | None, str, int]:
    """Find the header in a (quote-free) block: the plan, the text after it, its line number."""
    position = 0
    while position < len(text):
        end = text.index("\n", position) + 1
        line = text[position:end].rstrip("\n").rstrip("\r")
        if line.strip(WS):
            names = next(csv.reader([line], delimiter=delimiter))
            plan = plan_columns(source, names, smiles_column, id_column)
            return plan, text[end:], first + 1
        position, first = end, first + 1
    return None, "", first


def _csv_fast(
    text: str, first: int, stem: str, plan: ColumnPlan, delimiter: str
) -> tuple[pa.Table, Rejects]:
    rejects = Rejects()
    lines = _lines(text)
    if len(lines) == 0:
        return pa.table({"row": pa.array([], pa.int64())}).slice(0, 0), rejects
    rows = pa.array(np.arange(first, first + len(lines), dtype=np.int64))
    keep = pc.not_equal(pc.utf8_trim(lines, characters=WS), "")
    if not pc.all(keep).as_py():
        rows, lines = pc.filter(rows, keep), pc.filter(lines, keep)
    width = len(plan.names)
    if width == 1 and not pc.any(pc.match_substring(lines, delimiter)).as_py():
        columns = [lines]
    else:
        parts = pc.split_pattern(lines, delimiter)
        lengths = pc.list_value_length(parts)
        good = pc.equal(lengths, width)
        if not pc.all(good).as_py():
            for i in np.flatnonzero(~good.to_numpy(zero_copy_only=False)).tolist():
                row = rows[i].as_py()
                reason = f"expected {width} columns, found {lengths[i].as_py()}"
                rejects.add(row, f"{stem}:{row}", lines[i].as_py(), reason)
            rows, lines = pc.filter(rows, good), pc.filter(lines, good)
            parts = pc.filter(parts, good)
        columns = [pc.list_element(parts, j) for j in range(width)]
    table = {
        "row": rows,
        "id": _ids(stem, rows, columns[plan.id] if plan.id is not None else None),
        "smiles": pc.utf8_trim(columns[plan.smiles], characters=WS),
    }
    for index, name in plan.extra:
        table[name] = columns[index]
    return _reject_empty(table, lines, rejects), rejects


class _ChainedStream(io.RawIOBase):
    """Bytes already read, then the rest of a stream: where the slow path takes over."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head.nbytes:
            n = min(len(buffer), self._head.nbytes)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _csv_slow(
    raw: io.RawIOBase,
    first: int,
    source: str,
    stem: str,
    pending: Pending,
    plan: ColumnPlan | None,
    delimiter: str,
    smiles_column: str | None,
    id_column: str | None,
) -> Iterator[ReadChunk]:
    text = io.TextIOWrapper(
        io.BufferedReader(raw, 1 << 16), encoding="utf-8", errors="surrogateescape", newline="\n"
    )
    reader = csv.reader(text, delimiter=delimiter)
    rows: list[int] = []
    fields: list[list[str]] = []
    rejects = Rejects()
    width = len(plan.names) if plan is not None else 0
    last = first - 1  # line number where the previous record ended
    room = pending.chunk_size

    def piece() -> tuple[pa.Table, Rejects]:
        assert plan is not None

        def raw_text(i: int) -> str:
            return delimiter.join(fields[i])

        columns = _plan_columns(fields, plan)
        id_key = "id" if plan.id is not None else None
        return clean_piece(stem, rows, columns, raw_text, rejects, id_key=id_key), rejects

    try:
        while True:
            try:
                for record in reader:
                    start = last + 1
                    last = first - 1 + reader.line_num
                    if not delimiter.join(record).strip(WS):
                        continue  # a whitespace-only line, as the fast path skips it
                    if plan is None:
                        names = [printable(n) for n in record]
                        plan = plan_columns(source, names, smiles_column, id_column)
                        width = len(record)
                        continue
                    if len(record) != width:
                        rejects.add(
                            start,
                            f"{stem}:{start}",
                            delimiter.join(record),
                            f"expected {width} columns, found {len(record)}",
                        )
                    else:
                        rows.append(start)
                        fields.append(record)
                    if len(rows) + len(rejects) >= room:
                        yield from pending.add(*piece())
                        rows, fields, rejects = [], [], Rejects()
                        room = pending.chunk_size
                break
            except csv.Error as exc:
                start = last + 1
                last = first - 1 + reader.line_num
                if plan is None:
                    raise InputError(f"{source}: line {start}: unreadable header: {exc}") from None
                rejects.add(start, f"{stem}:{start}", "", f"csv error: {exc}")
    except GZIP_ERRORS as exc:
        raise InputError(f"{source}: corrupt compressed data near line {last}: {exc}") from None
    if plan is not None and (rows or rejects):
        yield from pending.add(*piece())
