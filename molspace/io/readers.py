"""``read_library``: one entry point that streams any supported library file in chunks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from molspace.errors import InputError
from molspace.io.chunk import ReadChunk
from molspace.io.formats import FORMATS, GZIP_ERRORS, detect_format, open_binary
from molspace.io.parquet import count_parquet, read_parquet
from molspace.io.sdf import read_sdf
from molspace.io.text import read_delimited, read_smi

__all__ = ["count_records", "read_library"]


def _resolve(path: str | os.PathLike[str], fmt: str | None) -> tuple[Path, str]:
    file = Path(path)
    if fmt is None:
        return file, detect_format(file)
    if fmt not in FORMATS:
        raise InputError(f"{file}: unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if not file.exists():
        raise InputError(f"{file}: file not found")
    return file, fmt


def read_library(
    path: str | os.PathLike[str],
    *,
    chunk_size: int = 10_000,
    smiles_column: str | None = None,
    id_column: str | None = None,
    fmt: str | None = None,
) -> Iterator[ReadChunk]:
    """Stream a library as ``ReadChunk``s of at most ``chunk_size`` rows read.

    Formats: ``smi``, ``csv``, ``tsv``, ``sdf`` (each optionally ``.gz``) and
    ``parquet`` (a file or a directory of files); ``fmt`` overrides the
    extension. Records are text as written in the file (SDF molblocks become
    RDKit SMILES); checking chemistry is the screening step's job. Bad rows are
    rejects with a reason, never exceptions; a file that cannot be read at all
    raises ``InputError`` naming it. Memory is bounded by ``chunk_size``.
    """
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    file, kind = _resolve(path, fmt)
    if kind != "parquet" and file.is_dir():
        raise InputError(f"{file}: is a directory, expected a {kind} file")
    source = os.fspath(path)
    if kind in ("csv", "tsv"):
        return read_delimited(
            file,
            source,
            delimiter="," if kind == "csv" else "\t",
            chunk_size=chunk_size,
            smiles_column=smiles_column,
            id_column=id_column,
        )
    reader = {"smi": read_smi, "sdf": read_sdf, "parquet": read_parquet}[kind]
    return reader(
        file, source, chunk_size=chunk_size, smiles_column=smiles_column, id_column=id_column
    )


def count_records(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    smiles_column: str | None = None,
    id_column: str | None = None,
    chunk_size: int | None = None,
) -> int:
    """How many records ``read_library`` will read, cheaply, for progress bars.

    Parquet: from the footers (exact, no data read). SDF: ``$$$$`` lines plus a
    trailing unterminated record. SMILES/CSV/TSV: non-blank, non-comment lines
    minus a header; exact unless a quoted CSV field spans several lines. The
    column options are accepted so callers can pass ``read_library``'s keywords.
    """
    del smiles_column, id_column, chunk_size
    file, kind = _resolve(path, fmt)
    if kind == "parquet":
        return count_parquet(file)
    count = 0
    header_seen = False
    tail = False
    try:
        with open_binary(file) as stream:
            for line in stream:
                text = line.strip()
                if kind == "sdf":
                    if line.startswith(b"$$$$"):
                        count += 1
                        tail = False
                    elif text:
                        tail = True
                    continue
                if not text or (kind == "smi" and text.startswith(b"#")):
                    continue
                if not header_seen:
                    header_seen = True
                    if kind in ("csv", "tsv"):
                        continue
                    first = text.split(None, 1)[0].lower()
                    if first in (b"smiles", b"canonical_smiles", b"isomeric_smiles", b"smi"):
                        continue
                count += 1
    except GZIP_ERRORS as exc:
        raise InputError(f"{file}: corrupt compressed data: {exc}") from None
    return count + (1 if tail else 0)
