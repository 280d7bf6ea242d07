"""The resume record of a screen: ``manifest.jsonl`` in the output directory.

Line 1 is a header (config hash, inputs, chunk size); every further line is one
finished partition, appended (and fsync'ed) only after its Parquet file was
renamed into place. A run killed at any moment therefore leaves a manifest that
names only complete files (a torn last line is ignored), and a re-run skips
exactly those partitions.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from molspace.errors import ConfigError

__all__ = ["Manifest", "PartitionEntry", "inputs_signature"]

SCHEMA = 1


@dataclass(frozen=True)
class PartitionEntry:
    """One finished partition: where its rows came from and what they became."""

    partition: int
    source: str
    chunk: int
    row_first: int
    row_last: int
    n_read: int
    n_ok: int
    n_rejected: int
    n_passed: int
    file: str
    seconds: float
    config_hash: str


def inputs_signature(paths: list[Path]) -> list[dict[str, Any]]:
    """Path, size and modification time of each input: a changed file is a changed run."""
    out = []
    for path in paths:
        stat = path.stat()
        out.append({"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return out


class Manifest:
    """Append-only partition log of one output directory."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self.entries: dict[int, PartitionEntry] = {}

    @classmethod
    def open(cls, out_dir: Path, config_hash: str, inputs: list[dict[str, Any]]) -> Manifest:
        """Load the manifest of ``out_dir`` (checking it belongs to this run) or start one."""
        path = out_dir / "manifest.jsonl"
        header = {"schema": SCHEMA, "config_hash": config_hash, "inputs": inputs}
        manifest = cls(path, header)
        if not path.exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            manifest._write_line(header, mode="w")
            return manifest
        lines = path.read_text(encoding="utf-8").splitlines()
        try:
            old = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            old = {}
        if old.get("schema") != SCHEMA or old.get("config_hash") != config_hash:
            raise ConfigError(
                f"{out_dir}: holds a screen with another configuration "
                f"({old.get('config_hash')} != {config_hash}); use --force to recompute "
                "or choose another --out"
            )
        if old.get("inputs") != inputs:
            raise ConfigError(
                f"{out_dir}: holds a screen of other or modified input files; use --force "
                "to recompute or choose another --out"
            )
        for line in lines[1:]:
            try:
                entry = PartitionEntry(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # a line torn by a kill: that partition is simply recomputed
            if (out_dir / entry.file).exists():
                manifest.entries[entry.partition] = entry
        manifest._rewrite()  # drop a torn tail so later appends start on a fresh line
        return manifest

    def _rewrite(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(self.header, sort_keys=True) + "\n")
            for partition in sorted(self.entries):
                handle.write(json.dumps(asdict(self.entries[partition]), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def _write_line(self, record: dict[str, Any], mode: str = "a") -> None:
        with open(self.path, mode, encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def record(self, entry: PartitionEntry) -> None:
        self.entries[entry.partition] = entry
        self._write_line(asdict(entry))
