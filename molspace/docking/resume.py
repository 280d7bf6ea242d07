"""The ``run.json`` header that makes a docking output folder resumable: a second run
may add to the folder only when it is the same run (same key), never mix two."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from molspace.errors import ConfigError

__all__ = ["open_run"]


def open_run(folder: Path, key: str, describe: dict[str, Any], conflict: str) -> None:
    """Check ``folder/run.json`` against ``key``, or start it (with ``describe``) and
    ``folder/parts``.

    Raises ConfigError when the folder holds another run: ``conflict`` says what the
    folder holds (e.g. "out: holds a docking run with another target"), and the message
    goes on with both keys and the way out (``--force`` or another ``--out``).
    """
    header = folder / "run.json"
    if header.exists():
        old = json.loads(header.read_text(encoding="utf-8") or "{}")
        if old.get("key") != key:
            raise ConfigError(
                f"{conflict} ({old.get('key')} != {key}); use --force to recompute or "
                "choose another --out"
            )
        return
    (folder / "parts").mkdir(parents=True, exist_ok=True)
    tmp = header.with_name("run.json.tmp")
    tmp.write_text(json.dumps({"key": key, **describe}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, header)
