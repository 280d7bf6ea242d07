"""Versions of molspace and the libraries that shape its results, recorded in every output."""

from __future__ import annotations

import platform
from importlib import metadata

__version__ = "0.1.0"  # molspace's own; pyproject.toml holds the same

_PACKAGES = (
    "molspace",
    "rdkit",
    "selfies",
    "torch",
    "optuna",
    "dask",
    "distributed",
    "numpy",
    "pandas",
    "pyarrow",
)


def versions() -> dict[str, str]:
    """Installed versions of the packages that determine molspace's numbers."""
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
