"""One error tree for molspace.

The CLI turns every ``MolspaceError`` into a single clear line on stderr and a
non-zero exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "ConfigError",
    "InputError",
    "InvalidMoleculeError",
    "MolspaceError",
    "VocabularyError",
]


class MolspaceError(Exception):
    """Base class of every error a user can cause and fix."""


class InputError(MolspaceError):
    """A file or argument the user gave cannot be used (missing, unknown format, bad row)."""


class InvalidMoleculeError(MolspaceError):
    """A molecule the user named explicitly cannot be parsed or encoded."""


class VocabularyError(MolspaceError):
    """A molecule cannot be expressed in a model's SELFIES alphabet or length limit."""


class BundleError(MolspaceError):
    """A model bundle is missing, truncated, tampered with or of another schema."""


class ConfigError(MolspaceError):
    """A workflow or component configuration is invalid (unknown key, bad value)."""
