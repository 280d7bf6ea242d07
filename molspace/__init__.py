"""molspace: molecular design and virtual screening in a learned latent space.

The top-level package imports nothing heavy: submodules (RDKit, torch, Dask)
load on first use, so ``import molspace`` and ``molspace --help`` stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it; resolved lazily by __getattr__
_LAZY = {
    "MolspaceError": "molspace.errors",
    "InputError": "molspace.errors",
    "InvalidMoleculeError": "molspace.errors",
    "VocabularyError": "molspace.errors",
    "BundleError": "molspace.errors",
    "ConfigError": "molspace.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'molspace' has no attribute {name!r}")
    return getattr(import_module(module), name)
