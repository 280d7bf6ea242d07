"""Write result tables atomically: the file is complete or absent, never half-written.

A run killed mid-write (cluster wall time, Ctrl-C) leaves at most a hidden
``.tmp-*`` file beside the target, which readers of Parquet directories skip.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pandas as pd

from molspace.errors import InputError

__all__ = ["WRITE_FORMATS", "atomic_path", "remove_outputs", "write_table"]

WRITE_FORMATS = (
    ".parquet",
    ".csv",
    ".csv.gz",
    ".tsv",
    ".tsv.gz",
    ".sdf",
    ".sdf.gz",
    ".smi",
    ".smi.gz",
)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temp name is hidden and keeps the target's suffixes (tools that infer
    a format from the name still work). On an exception the temp file is
    removed and ``path`` is untouched. Parent directories are created.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{secrets.token_hex(6)}-{target.name}")
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        else:
            raise FileNotFoundError(f"{tmp}: nothing was written to the temporary path")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _kind(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for ext in (".parquet", ".csv", ".tsv", ".sdf", ".smi"):
        if name.endswith(ext) and not (gz and ext == ".parquet"):
            return ext[1:], gz
    raise InputError(f"{path}: cannot write this format (use one of {', '.join(WRITE_FORMATS)})")


@contextmanager
def _text_out(tmp: Path, gz: bool) -> Iterator[IO[str]]:
    if gz:
        # no name, mtime=0: the same table gives byte-identical files
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as zipped,
        ):
            text = io.TextIOWrapper(zipped, encoding="utf-8", newline="")
            yield text
            text.flush()
            text.detach()
    else:
        with open(tmp, "w", encoding="utf-8", newline="") as plain:
            yield plain


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _write_smi(df: pd.DataFrame, out: IO[str]) -> None:
    smiles = df["smiles"].astype("str")
    ids = df["id"].astype("str") if "id" in df.columns else None
    for i, s in enumerate(smiles):
        line = s if ids is None else f"{s}\t{_one_line(ids.iloc[i])}"
        out.write(line.strip() + "\n")


def _write_sdf(df: pd.DataFrame, out: IO[str], path: Path) -> None:
    from rdkit import Chem

    from molspace.io.sdf import _capture

    tags = [c for c in df.columns if c not in ("smiles", "id")]
    for position, record in enumerate(df.itertuples(index=False), 1):
        values = dict(zip(df.columns, record, strict=True))
        smiles = str(values["smiles"])
        with _capture():
            mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                mol = Chem.MolFromSmiles(smiles, sanitize=False)
                if mol is not None:
                    mol.UpdatePropertyCache(strict=False)
        if mol is None:
            raise InputError(f"{path}: table row {position}: cannot write SMILES {smiles!r} as SDF")
        block = Chem.MolToMolBlock(mol)
        name = _one_line(values["id"]) if "id" in values else ""
        out.write(name + block[block.index("\n") :])
        for tag in tags:
            value = values[tag]
            if value is None or (isinstance(value, float) and value != value):
                continue
            if value is pd.NA:
                continue
            text = "\n".join(line for line in str(value).splitlines() if line.strip()) or " "
            out.write(f">  <{tag}>\n{text}\n\n")
        out.write("$$$$\n")


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to ``path`` in the format its extension names, atomically.

    ``.parquet`` keeps dtypes; ``.csv``/``.tsv`` (optionally ``.gz``) are plain
    tables without the index; ``.sdf`` needs a ``smiles`` column, uses ``id`` as
    the molecule title and writes every other column as an SD tag (missing
    values omitted); ``.smi`` writes ``smiles<TAB>id`` lines without a header.
    Returns the written path.
    """
    target = Path(path)
    kind, gz = _kind(target)
    if kind in ("sdf", "smi") and "smiles" not in df.columns:
        raise InputError(f"{target}: a .{kind} file needs a 'smiles' column")
    with atomic_path(target) as tmp:
        if kind == "parquet":
            df.to_parquet(tmp, index=False)
        elif kind in ("csv", "tsv"):
            with _text_out(tmp, gz) as out:
                df.to_csv(out, index=False, sep="," if kind == "csv" else "\t", lineterminator="\n")
        elif kind == "sdf":
            with _text_out(tmp, gz) as out:
                _write_sdf(df, out, target)
        else:
            with _text_out(tmp, gz) as out:
                _write_smi(df, out)
    return target


def remove_outputs(out_dir: Path, names: Iterable[str]) -> None:
    """Delete the named files and folders under ``out_dir`` (a run's own outputs, for
    ``--force``); anything else there is left alone."""
    for name in names:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
