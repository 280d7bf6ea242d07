"""run.json: what a workflow run did, step by step, so a re-run can skip finished work."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

__all__ = ["file_digest", "load_manifest", "save_manifest", "stable_hash"]


def stable_hash(value: Any) -> str:
    """sha256 of a JSON-serialisable value with sorted keys: equal configs, equal hashes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """Content hash of a file, or of every file below a directory (names and contents)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(partial(handle.read, 1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, or an empty one for a new run."""
    if not path.is_file():
        return {"steps": {}}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"steps": {}}  # a damaged manifest only costs a re-run of the steps
    data.setdefault("steps", {})
    return data


def save_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write atomically, so a kill mid-write never leaves a half manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".run.", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=False, default=str)
    os.replace(tmp, path)
