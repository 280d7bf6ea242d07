"""Training data: read a library, encode it to SELFIES tokens once, cache the token matrix.

Tokenizing MOSES (1.58M molecules) takes minutes, so the result is cached as a
``uint8`` matrix keyed by the content hash of the input and the vocabulary rules;
a resumed or repeated run loads it in a second. Every input row ends either in the
token matrix or in ``rejects.csv`` with its reason, and the counts add up.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.errors import InputError
from molspace.model.vocabulary import EOS, Vocabulary, build_vocabulary, encode_many

__all__ = [
    "TokenizedDataset",
    "file_sha256",
    "lengths_of",
    "load_or_build_dataset",
    "read_smiles_table",
]

CACHE_VERSION = 1


@dataclass
class TokenizedDataset:
    """Token matrix (n, width), the vocabulary it uses and where it came from."""

    tokens: np.ndarray
    vocabulary: Vocabulary
    data_hash: str
    n_input: int
    n_rejected: int
    rejects_path: Path | None

    @property
    def lengths(self) -> np.ndarray:
        return lengths_of(self.tokens)


def lengths_of(tokens: np.ndarray) -> np.ndarray:
    """Sequence lengths including ``<end>`` (position of the first EOS + 1)."""
    return (np.argmax(tokens == EOS, axis=1) + 1).astype(np.int64)


def file_sha256(path: str | Path) -> str:
    """Content hash of a file or of every file of a directory (sorted), as hex."""
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for block in iter(partial(handle.read, 1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_smiles_table(
    path: str | Path, smiles_column: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All records (source,row,id,smiles) and reader rejects of a library file.

    Uses ``molspace.io.read_library`` (every format the readers accept); falls back
    to pandas for csv/smi files when the io module is not importable.
    """
    file = Path(path)
    if not file.exists():
        raise InputError(f"{file}: training data not found")
    read_library: Any
    try:
        from molspace.io import read_library
    except ImportError:
        read_library = None
    if read_library is not None:
        records, rejects = [], []
        for chunk in read_library(file, chunk_size=100_000, smiles_column=smiles_column):
            records.append(chunk.records[["source", "row", "id", "smiles"]])
            rejects.append(chunk.rejects)
        rec = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
        rej = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame()
        return rec, rej
    return _read_with_pandas(file, smiles_column), pd.DataFrame(
        columns=["source", "row", "id", "input", "reason"]
    )


def _read_with_pandas(file: Path, smiles_column: str | None) -> pd.DataFrame:
    name = file.name.lower().removesuffix(".gz")
    if name.endswith((".csv", ".tsv")):
        frame = pd.read_csv(file, sep="\t" if name.endswith(".tsv") else ",", dtype=str)
        column = smiles_column or next(
            (c for c in frame.columns if c.lower() in ("smiles", "smi", "canonical_smiles")), None
        )
        if column is None or column not in frame.columns:
            raise InputError(f"{file}: no SMILES column (columns: {', '.join(frame.columns)})")
        smiles = frame[column].fillna("")
    elif name.endswith((".smi", ".txt")):
        frame = pd.read_csv(file, sep=r"\s+", header=None, dtype=str, usecols=[0])
        smiles = frame[0].fillna("")
    else:
        raise InputError(f"{file}: unsupported training data format (use csv, tsv or smi)")
    n = len(smiles)
    return pd.DataFrame(
        {
            "source": str(file),
            "row": np.arange(1, n + 1, dtype=np.int64),
            "id": [str(i) for i in range(1, n + 1)],
            "smiles": smiles.astype(str).to_numpy(),
        }
    )


def _cache_key(
    data_hash: str, smiles_column: str | None, stereo: bool, max_length: int | None
) -> str:
    spec = json.dumps([CACHE_VERSION, data_hash, smiles_column, stereo, max_length])
    return hashlib.sha256(spec.encode()).hexdigest()[:20]


def load_or_build_dataset(
    path: str | Path,
    *,
    cache_dir: str | Path,
    smiles_column: str | None = None,
    stereo: bool = False,
    max_length: int | None = None,
    processes: int = 1,
    vocabulary: Vocabulary | None = None,
    log: Callable[[str], None] = print,
) -> TokenizedDataset:
    """Tokenized training set, from the cache when the same input was tokenized before.

    With ``vocabulary`` given (fine-tuning an existing model) molecules are encoded
    in that alphabet; otherwise the alphabet is built from the data.
    """
    data_hash = file_sha256(path)
    fixed = vocabulary.to_json() if vocabulary is not None else None
    key = _cache_key(data_hash + (fixed or ""), smiles_column, stereo, max_length)
    folder = Path(cache_dir) / key
    meta_file = folder / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        tokens = np.load(folder / "tokens.npy", allow_pickle=False)
        log(f"loaded tokenized data from cache {folder} ({len(tokens):,} molecules)")
        return TokenizedDataset(
            tokens=tokens,
            vocabulary=Vocabulary.from_dict(meta["vocabulary"]),
            data_hash=meta["data_hash"],
            n_input=meta["n_input"],
            n_rejected=meta["n_rejected"],
            rejects_path=folder / "rejects.csv",
        )
    records, reader_rejects = read_smiles_table(path, smiles_column)
    log(f"read {len(records):,} records from {path}; encoding to SELFIES ({processes} processes)")
    encoded = encode_many(records["smiles"].tolist(), stereo=stereo, processes=processes)
    if vocabulary is None:
        vocabulary = build_vocabulary(
            (e.selfies for e in encoded if e.selfies is not None),
            max_length=max_length,
            stereo=stereo,
        )
    tokens, reasons = vocabulary.encode_selfies([e.selfies for e in encoded])
    reasons = [e.reason or r for e, r in zip(encoded, reasons, strict=True)]
    ok = np.array([r is None for r in reasons], dtype=bool)
    bad = ~ok
    rejects = pd.DataFrame(
        {
            "source": records["source"].to_numpy()[bad],
            "row": records["row"].to_numpy()[bad],
            "id": records["id"].to_numpy()[bad],
            "input": records["smiles"].to_numpy()[bad],
            "reason": [r for r in reasons if r is not None],
        }
    )
    if len(reader_rejects):
        rejects = pd.concat([reader_rejects[rejects.columns], rejects], ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tokens.tmp.npy"
    np.save(tmp, tokens[ok], allow_pickle=False)
    os.replace(tmp, folder / "tokens.npy")
    rejects.to_csv(folder / "rejects.csv", index=False)
    meta = {
        "cache_version": CACHE_VERSION,
        "source": str(path),
        "data_hash": data_hash,
        "n_input": len(records) + len(reader_rejects),
        "n_rejected": len(rejects),
        "vocabulary": vocabulary.to_dict(),
    }
    tmp_meta = folder / "meta.tmp.json"
    tmp_meta.write_text(json.dumps(meta, indent=1))
    os.replace(tmp_meta, meta_file)
    log(f"tokenized {int(ok.sum()):,} molecules, rejected {len(rejects):,}; cached in {folder}")
    return TokenizedDataset(
        tokens=tokens[ok],
        vocabulary=vocabulary,
        data_hash=data_hash,
        n_input=meta["n_input"],
        n_rejected=len(rejects),
        rejects_path=folder / "rejects.csv",
    )
