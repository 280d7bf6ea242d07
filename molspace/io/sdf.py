"""Streaming SD-file reader: molblock -> SMILES, SD tags -> extra columns.

Records are split on ``$$$$`` here rather than by RDKit's supplier so that the
record index (``row``) is exact and each failure gets RDKit's own message for
that record. All-blank records (stray blank lines) are not records and are not
counted. A molblock RDKit cannot parse or sanitize, a record with undecodable
bytes, and a last record cut off before ``M  END`` are rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.errors import InputError
from molspace.io.chunk import RESERVED_COLUMNS, ReadChunk, Rejects
from molspace.io.formats import GZIP_ERRORS, file_stem, open_text

__all__ = ["parse_sd_record", "read_sdf"]

# a record larger than this is junk (or a protein we do not screen): rejected, not held
MAX_RECORD_CHARS = 16 * 1024 * 1024
_TAG = re.compile(r"<([^>]*)>")


def _capture() -> AbstractContextManager[Any]:
    try:
        from molspace.chem.rdlog import capture_rdkit_log
    except ImportError:  # pragma: no cover - chem area always ships it
        from rdkit import rdBase

        class _Quiet:
            messages: list[str] = []  # noqa: RUF012

            def __enter__(self) -> _Quiet:
                rdBase.DisableLog("rdApp.*")
                return self

            def __exit__(self, *exc: object) -> None:
                rdBase.EnableLog("rdApp.*")

        return _Quiet()
    return capture_rdkit_log()


def parse_sd_record(lines: list[str]) -> tuple[str, str, dict[str, str]]:
    """Split one record's lines into (molblock, title, SD tags).

    Tags follow ``M  END``: a header line ``> <NAME>`` then value lines up to a
    blank line; a multi-line value keeps its newlines. A record without
    ``M  END`` gives an empty molblock.
    """
    title = lines[0].strip() if lines else ""
    end = next((i for i, line in enumerate(lines) if line.startswith("M  END")), None)
    if end is None:
        return "", title, {}
    block = "".join(lines[: end + 1])
    tags: dict[str, str] = {}
    name: str | None = None
    values: list[str] = []
    for line in lines[end + 1 :]:
        text = line.rstrip("\r\n")
        if name is None:
            if text.startswith(">"):
                match = _TAG.search(text)
                name = match.group(1).strip() if match else ""
                values = []
        elif text.strip() == "":
            if name:
                tags[name] = "\n".join(values)
            name = None
        else:
            values.append(text)
    if name:
        tags[name] = "\n".join(values)
    return block, title, tags


def _reparse_with_error_log(block: str, log: Any) -> tuple[Any, Any]:
    """Parse a failed molblock again with RDKit's error log on: other code in the process
    may have silenced it (``RDLogger.DisableLog``), and the reject reason quotes it."""
    from rdkit import Chem

    from molspace.chem.rdlog import capture_rdkit_log, error_log_enabled

    with error_log_enabled(), capture_rdkit_log() as retry:
        try:
            mol = Chem.MolFromMolBlock(block, sanitize=True, removeHs=True)
        except Exception:  # RDKit raises for some malformed blocks; the first try said why
            return None, log
    return mol, retry


def _molblock_to_smiles(block: str) -> tuple[str | None, str]:
    """Canonical SMILES of a molblock, or None and RDKit's reason."""
    from rdkit import Chem

    with _capture() as log:
        try:
            mol = Chem.MolFromMolBlock(block, sanitize=True, removeHs=True)
        except Exception as exc:  # RDKit raises for some malformed blocks
            mol, detail = None, str(exc)
        else:
            detail = ""
    if mol is None and not [m for m in getattr(log, "messages", []) if m.strip()]:
        mol, log = _reparse_with_error_log(block, log)
    if mol is None:
        messages = [m for m in getattr(log, "messages", []) if m.strip()]
        detail = "; ".join([*messages, detail] if detail else messages) or "unparseable molblock"
        return None, f"sdf_error: {detail}"
    if mol.GetNumAtoms() == 0:
        return None, "no atoms"
    return Chem.MolToSmiles(mol), ""


class _SdfChunk:
    """Accumulates one chunk of parsed records."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.ids: list[str] = []
        self.smiles: list[str] = []
        self.tags: list[dict[str, str]] = []
        self.rejects = Rejects()

    def __len__(self) -> int:
        return len(self.rows) + len(self.rejects)

    def frame(self, source: str, tag_columns: dict[str, str]) -> ReadChunk:
        data: dict[str, Any] = {
            "source": pd.Series([source] * len(self.rows), dtype="str"),
            "row": np.asarray(self.rows, dtype=np.int64),
            "id": pd.Series(self.ids, dtype="str"),
            "smiles": pd.Series(self.smiles, dtype="str"),
        }
        for tag, column in tag_columns.items():
            data[column] = pd.Series([t.get(tag) for t in self.tags], dtype="str")
        return ReadChunk(records=pd.DataFrame(data), rejects=self.rejects.frame(source))


def read_sdf(
    path: Path,
    source: str,
    *,
    chunk_size: int,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> Iterator[ReadChunk]:
    """Read an SD file record by record; ``row`` is the 1-based record index.

    The id is the SD tag ``id_column`` when given, else the title line; an empty
    one falls back to ``<stem>:<row>``. SD tags become text columns, added in
    the order they first appear (a chunk holds every tag seen so far; a record
    without a tag has a missing value). ``smiles_column`` is accepted for a
    uniform signature and ignored: the SMILES comes from the molblock.
    """
    del smiles_column
    stem = file_stem(path)
    tag_columns: dict[str, str] = {}
    chunk = _SdfChunk()
    index = 0
    lines: list[str] = []
    size = 0
    oversized = False

    def finish(record: list[str], terminated: bool) -> None:
        nonlocal index
        if not oversized and not any(line.strip() for line in record):
            return
        index += 1
        text = "".join(record)
        fallback = f"{stem}:{index}"
        if oversized:
            chunk.rejects.add(index, fallback, text, f"record larger than {MAX_RECORD_CHARS} chars")
            return
        if "\x00" in text:
            chunk.rejects.add(index, fallback, text, "binary data (NUL byte)")
            return
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            chunk.rejects.add(index, fallback, text, "undecodable bytes (not UTF-8 text)")
            return
        block, title, tags = parse_sd_record(record)
        ident = (tags.get(id_column, "") if id_column is not None else title).strip() or fallback
        if not block:
            reason = "truncated record (no M  END)" if not terminated else "no M  END line"
            chunk.rejects.add(index, ident, text, reason)
            return
        smiles, reason = _molblock_to_smiles(block)
        if smiles is None:
            chunk.rejects.add(index, ident, text, reason)
            return
        if id_column is not None:
            tags.pop(id_column, None)
        for tag in tags:
            if tag not in tag_columns:
                column = tag
                while column in RESERVED_COLUMNS or column in tag_columns.values():
                    column = f"{column}_input"
                tag_columns[tag] = column
        chunk.rows.append(index)
        chunk.ids.append(ident)
        chunk.smiles.append(smiles)
        chunk.tags.append(tags)

    lineno = 0
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):  # noqa: B007
                if line.startswith("$$$$"):
                    finish(lines, terminated=True)
                    lines, size, oversized = [], 0, False
                    if len(chunk) >= chunk_size:
                        yield chunk.frame(source, tag_columns)
                        chunk = _SdfChunk()
                    continue
                size += len(line)
                if size > MAX_RECORD_CHARS:
                    oversized = True
                    lines = lines[:5]
                if not oversized:
                    lines.append(line)
    except GZIP_ERRORS as exc:
        raise InputError(f"{source}: corrupt compressed data near line {lineno}: {exc}") from None
    finish(lines, terminated=False)
    if len(chunk):
        yield chunk.frame(source, tag_columns)
