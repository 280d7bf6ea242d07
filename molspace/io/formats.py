"""Which reader a library file needs, and how to open it as a byte or text stream.

Formats are decided by extension (``.smi.gz`` is a gzip-compressed ``.smi``);
gzip is additionally recognised by its magic bytes, so a compressed file with a
plain name still reads. Every whole-file problem becomes one ``InputError`` line
that names the file.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from molspace.errors import InputError

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "GZIP_ERRORS",
    "detect_format",
    "file_stem",
    "is_gzip_name",
    "open_binary",
    "open_text",
    "parquet_files",
]

FORMATS = ("smi", "csv", "tsv", "sdf", "parquet")

#: extension (lower case, without ``.gz``) -> format
EXTENSIONS: dict[str, str] = {
    ".smi": "smi",
    ".smiles": "smi",
    ".ism": "smi",
    ".can": "smi",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".sdf": "sdf",
    ".sd": "sdf",
    ".mol": "sdf",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: what a broken gzip stream raises while it is being read
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)

_GZIP_MAGIC = b"\x1f\x8b"


def is_gzip_name(path: str | os.PathLike[str]) -> bool:
    """True when the file name ends in ``.gz``."""
    return os.fspath(path).lower().endswith(".gz")


def _base_suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return os.path.splitext(name)[1]


def parquet_files(directory: Path) -> list[Path]:
    """Parquet files under ``directory`` in a stable order.

    Hidden and underscore-prefixed names (``.tmp-*``, ``_SUCCESS``, ``_metadata``)
    are skipped, as Spark/Arrow do, so half-written temp files are never read.
    """
    found = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).parts
        if any(part.startswith((".", "_")) for part in rel):
            continue
        if path.is_file() and _base_suffix(path) in (".parquet", ".pq"):
            found.append(path)
    return found


def file_stem(path: str | os.PathLike[str]) -> str:
    """File name without ``.gz`` and the format extension: the prefix of default ids."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return Path(name).stem


def detect_format(path: str | os.PathLike[str]) -> str:
    """The library format of ``path``: one of ``FORMATS``.

    Raises ``InputError`` for a missing path, a directory without Parquet files,
    or an extension no reader understands.
    """
    file = Path(path)
    if not file.exists():
        raise InputError(f"{file}: file not found")
    if file.is_dir():
        if not parquet_files(file):
            raise InputError(f"{file}: directory contains no .parquet files")
        return "parquet"
    fmt = EXTENSIONS.get(_base_suffix(file))
    if fmt is None:
        known = ", ".join(sorted({*EXTENSIONS, *(e + ".gz" for e in EXTENSIONS)}))
        raise InputError(f"{file}: unknown format (expected one of {known})")
    return fmt


@contextmanager
def open_binary(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading bytes, transparently decompressing gzip.

    A ``.gz`` name whose content is not gzip is an ``InputError`` instead of a
    confusing failure half-way through the file.
    """
    file = Path(path)
    try:
        raw = file.open("rb")
    except FileNotFoundError:
        raise InputError(f"{file}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{file}: is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(f"{file}: cannot open: {exc.strerror or exc}") from None
    try:
        magic = raw.read(2)
        raw.seek(0)
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream  # type: ignore[misc]  # GzipFile is a binary IO
        elif is_gzip_name(file) and magic:
            raise InputError(f"{file}: not a gzip file (name ends in .gz)")
        else:
            yield raw
    finally:
        raw.close()


@contextmanager
def open_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Open ``path`` as UTF-8 text with undecodable bytes kept as surrogates.

    ``surrogateescape`` lets a reader reject the one bad line (with its bytes
    shown) instead of losing the whole file; ``utf-8-sig`` drops an Excel BOM;
    ``newline=""`` leaves line endings to the csv module.
    """
    with open_binary(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            yield text
        finally:
            text.detach()
