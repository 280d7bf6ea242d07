"""Validated configuration: the base model every TOML section derives from.

Every section forbids unknown keys, so a typo is an error naming the key and
the file instead of a silently ignored setting.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from molspace.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["StrictModel", "format_validation_error", "load_toml", "parse_config", "read_toml"]

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are rejected, values validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: ``source: key.path: message``."""
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "<root>"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{location}: {message}")
    return f"{source}: " + "; ".join(parts)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning a missing file or a syntax error into ``ConfigError``."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not a UTF-8 text file") from None


def parse_config(model: type[ModelT], data: dict[str, Any], source: str) -> ModelT:
    """Validate ``data`` against ``model``; errors name the key and ``source``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_toml(path: str | Path, model: type[ModelT], section: str | None = None) -> ModelT:
    """Read ``path`` (optionally one table of it) and validate it as ``model``."""
    data = read_toml(path)
    source = str(path)
    if section is not None:
        data = data.get(section, {})
        source = f"{path} [{section}]"
    return parse_config(model, data, source)
