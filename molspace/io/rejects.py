"""``RejectsWriter``: append rejected rows to a CSV as they happen, and count them."""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path
from types import TracebackType
from typing import IO

import pandas as pd

from molspace.io.chunk import REJECT_COLUMNS, printable

__all__ = ["RejectsWriter"]


class RejectsWriter:
    """Append-only rejects file: ``source,row,id,input,reason`` (``.csv`` or ``.csv.gz``).

    Each ``write`` is flushed, so a killed run keeps every reject reported so
    far. ``count`` is the number of rows written through this writer. With
    ``append=True`` an existing file is continued (no second header), which is
    what a resumed run wants; otherwise the file is started afresh.
    """

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False) -> None:
        self.path = Path(path)
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not (append and self.path.exists() and self.path.stat().st_size > 0)
        mode = "wb" if fresh else "ab"
        self._raw: IO[bytes] = open(self.path, mode)  # noqa: SIM115 - closed in close()
        self._zip = (
            gzip.GzipFile(fileobj=self._raw, mode=mode) if self.path.name.endswith(".gz") else None
        )
        self._text = io.TextIOWrapper(self._zip or self._raw, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, lineterminator="\n")
        if fresh:
            self._csv.writerow(REJECT_COLUMNS)
            self._flush()

    def write(self, rejects: pd.DataFrame) -> int:
        """Append the rows of a rejects table; returns how many were written.

        The table needs ``source``, ``row``, ``id``, ``reason`` and ``input``
        (or ``smiles``, used as the input when ``input`` is absent).
        """
        if rejects is None or len(rejects) == 0:
            return 0
        columns = list(REJECT_COLUMNS)
        if "input" not in rejects.columns and "smiles" in rejects.columns:
            rejects = rejects.rename(columns={"smiles": "input"})
        missing = [c for c in columns if c not in rejects.columns]
        if missing:
            raise ValueError(f"rejects table lacks column(s) {missing}")
        for source, row, ident, text, reason in rejects[columns].itertuples(index=False):
            self._csv.writerow(
                [source, int(row), _cell(ident), printable(_cell(text)), _cell(reason) or "unknown"]
            )
        self.count += len(rejects)
        self._flush()
        return len(rejects)

    def _flush(self) -> None:
        self._text.flush()
        if self._zip is not None:
            self._zip.flush()
        self._raw.flush()

    def close(self) -> None:
        if self._text.closed:
            return
        self._flush()
        self._text.detach()
        if self._zip is not None:
            self._zip.close()
        self._raw.close()

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)
