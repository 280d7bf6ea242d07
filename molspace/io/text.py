"""Streaming readers for SMILES files (``.smi``) and delimited tables (``.csv``/``.tsv``).

Both read line by line through the csv module or a plain loop, hold at most
``chunk_size`` records at a time, and number each record by the line it starts
on (1-based, header and blank lines included), so a reject can be found in an
editor. Blank lines are not records: they are skipped and not counted.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from molspace.errors import InputError
from molspace.io.chunk import ReadChunk, Rejects, assemble_chunk, printable
from molspace.io.columns import ColumnPlan, is_smiles_header, plan_columns
from molspace.io.formats import GZIP_ERRORS, file_stem, open_text

__all__ = ["read_delimited", "read_smi"]

# a SMILES cell can be long; a runaway quote should still not eat memory unbounded
csv.field_size_limit(min(sys.maxsize, 2**26))


def _gzip_error(source: str, line: int, exc: BaseException) -> InputError:
    return InputError(f"{source}: corrupt compressed data near line {line}: {exc}")


def read_smi(
    path: Path,
    source: str,
    *,
    chunk_size: int,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> Iterator[ReadChunk]:
    """Read a whitespace-separated SMILES file: ``SMILES [id...]`` per line.

    Lines starting with ``#`` are comments. An optional header line starting
    with ``smiles`` names the columns; without one, everything after the first
    whitespace run is the id (names with spaces survive). With a header of
    three or more columns the file is a whitespace table and a line with another
    number of fields is rejected.
    """
    stem = file_stem(path)
    plan: ColumnPlan | None = None
    width = 2
    rows: list[int] = []
    fields: list[list[str]] = []
    lines: list[str] = []
    rejects = Rejects()
    lineno = 0
    seen_first = False
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                text = line.strip()
                if not text or text[0] == "#":
                    continue
                if not seen_first:
                    seen_first = True
                    first = text.split()
                    if is_smiles_header(first[0]):
                        plan = plan_columns(source, first, smiles_column, id_column)
                        width = max(2, len(first))
                        continue
                    if smiles_column is not None or id_column is not None:
                        raise InputError(
                            f"{source}: no header line, so columns cannot be chosen by name "
                            f"(smiles_column={smiles_column!r}, id_column={id_column!r})"
                        )
                parts = text.split(None, width - 1)
                if width > 2 and len(parts) != width:
                    rejects.add(
                        lineno,
                        f"{stem}:{lineno}",
                        text,
                        f"expected {width} columns, found {len(parts)}",
                    )
                else:
                    rows.append(lineno)
                    fields.append(parts)
                    lines.append(text)
                if len(rows) + len(rejects) >= chunk_size:
                    yield _smi_chunk(source, stem, rows, fields, lines, rejects, plan)
                    rows, fields, lines, rejects = [], [], [], Rejects()
    except GZIP_ERRORS as exc:
        raise _gzip_error(source, lineno, exc) from None
    if rows or rejects:
        yield _smi_chunk(source, stem, rows, fields, lines, rejects, plan)


def _smi_chunk(
    source: str,
    stem: str,
    rows: list[int],
    fields: list[list[str]],
    lines: list[str],
    rejects: Rejects,
    plan: ColumnPlan | None,
) -> ReadChunk:
    if plan is None or len(plan.names) <= 2:
        # "SMILES [id]": the column that is not the SMILES is the id, whatever its name
        first = [f[0] for f in fields]
        rest = [f[1] if len(f) > 1 else "" for f in fields]
        swapped = plan is not None and plan.smiles == 1
        columns = {"smiles": rest, "id": first} if swapped else {"smiles": first, "id": rest}
        return assemble_chunk(source, stem, rows, columns, lines.__getitem__, rejects, id_key="id")
    return _plan_chunk(source, stem, rows, fields, lines.__getitem__, rejects, plan)


def _plan_chunk(
    source: str,
    stem: str,
    rows: list[int],
    fields: list[list[str]],
    raw: Callable[[int], str],
    rejects: Rejects,
    plan: ColumnPlan,
) -> ReadChunk:
    cols = list(zip(*fields, strict=True)) if fields else [()] * len(plan.names)
    columns: dict[str, list[str]] = {"smiles": list(cols[plan.smiles])}
    id_key = None
    if plan.id is not None:
        id_key = "id"
        columns["id"] = list(cols[plan.id])
    for index, name in plan.extra:
        columns[name] = list(cols[index])
    return assemble_chunk(source, stem, rows, columns, raw, rejects, id_key=id_key)


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

    Quoting follows the csv module (quoted commas and newlines are fine). A line
    with another number of fields than the header, or one the csv module cannot
    parse, is rejected with its line number; a whitespace-only line is skipped.
    """
    stem = file_stem(path)
    rows: list[int] = []
    fields: list[list[str]] = []
    rejects = Rejects()
    plan: ColumnPlan | None = None
    width = 0
    last = 0  # line number where the previous record ended
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            while True:
                try:
                    for record in reader:
                        start = last + 1
                        last = reader.line_num
                        if not record or (len(record) == 1 and not record[0].strip()):
                            continue
                        if plan is None:
                            plan = plan_columns(source, record, smiles_column, id_column)
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
                        if len(rows) + len(rejects) >= chunk_size:
                            yield _csv_chunk(source, stem, rows, fields, rejects, plan, delimiter)
                            rows, fields, rejects = [], [], Rejects()
                    break
                except csv.Error as exc:
                    start = last + 1
                    last = reader.line_num
                    if plan is None:
                        raise InputError(
                            f"{source}: line {start}: unreadable header: {exc}"
                        ) from None
                    rejects.add(start, f"{stem}:{start}", "", f"csv error: {exc}")
    except GZIP_ERRORS as exc:
        raise _gzip_error(source, last, exc) from None
    if plan is not None and (rows or rejects):
        yield _csv_chunk(source, stem, rows, fields, rejects, plan, delimiter)


def _csv_chunk(
    source: str,
    stem: str,
    rows: list[int],
    fields: list[list[str]],
    rejects: Rejects,
    plan: ColumnPlan,
    delimiter: str,
) -> ReadChunk:
    def raw(i: int) -> str:
        return printable(delimiter.join(fields[i]))

    return _plan_chunk(source, stem, rows, fields, raw, rejects, plan)
