"""Lazy public names for a package: ``import molspace`` (and each stage package) stays
fast because RDKit, torch, Dask and Optuna load only when a name that needs them is used."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` resolving each public name from the
    module ``names`` maps it to (absolute, or relative to the package when it starts
    with a dot; ``module:attr`` when the name differs there)."""

    def __getattr__(name: str) -> Any:
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = where.partition(":")
        target = package + module if module.startswith(".") else module
        return getattr(import_module(target), attr or name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
