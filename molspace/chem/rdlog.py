"""Capture RDKit's log per call so it never sprays stderr and reasons can quote it.

RDKit writes parse and sanitization problems to its own log (by default straight
to stderr), not into the exception or return value. We route that log through
Python's ``logging`` once per process (``rdBase.LogToPythonLogger``) and attach a
filter to the ``rdkit`` logger that hands every record to the innermost active
:func:`capture_rdkit_log` *of the emitting thread*. RDKit emits its log
synchronously in the calling thread, so captures in concurrent threads (Dask
workers, thread pools) never see each other's messages. Records emitted outside
any capture are forwarded to the ``molspace.rdkit`` logger (silent unless the
application configures logging) and never reach RDKit's own stderr handler.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["RDKitLog", "capture_rdkit_log", "error_log_enabled", "install"]

_FORWARD = logging.getLogger("molspace.rdkit")
logging.getLogger("molspace").addHandler(logging.NullHandler())

# RDKit prefixes every line with a wall-clock stamp: "[02:18:08] message"
_STAMP = re.compile(r"^\[\d{2}:\d{2}:\d{2}\]\s?")

_local = threading.local()
_install_lock = threading.Lock()
_installed = False


@dataclass
class RDKitLog:
    """Messages RDKit logged inside one :func:`capture_rdkit_log` block (stamps stripped)."""

    messages: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Messages logged at ERROR level or above (RDKit's ``rdApp.error``)."""
        pairs = zip(self.messages, self.levels, strict=True)
        return [message for message, level in pairs if level >= logging.ERROR]

    @property
    def text(self) -> str:
        return "\n".join(self.messages)

    def first(self, containing: str = "") -> str | None:
        """First message containing ``containing`` (any message when empty), or None."""
        for message in self.messages:
            if containing in message:
                return message
        return None


class _CaptureFilter(logging.Filter):
    """Routes each ``rdkit`` record to the emitting thread's capture; drops it from stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = _STAMP.sub("", record.getMessage().rstrip("\n"))
        stack: list[RDKitLog] | None = getattr(_local, "stack", None)
        if stack:
            stack[-1].messages.append(message)
            stack[-1].levels.append(record.levelno)
        elif message:
            _FORWARD.log(record.levelno, message)
        return False


def install() -> None:
    """Route RDKit's log through Python logging, once per process (idempotent, thread-safe).

    Also re-enables ``rdApp.error`` and ``rdApp.warning``: the messages feed our
    rejection reasons and are never printed, so silencing them gains nothing.
    """
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        from rdkit import rdBase

        rdBase.LogToPythonLogger()
        rdBase.EnableLog("rdApp.error")
        rdBase.EnableLog("rdApp.warning")
        rdkit_logger = logging.getLogger("rdkit")
        rdkit_logger.setLevel(logging.WARNING)
        rdkit_logger.addFilter(_CaptureFilter())
        _installed = True


class capture_rdkit_log:
    """Collect what RDKit logs in this thread inside the block; nothing reaches stderr.

    Nested captures are allowed: the innermost one receives the messages. A plain
    class rather than ``@contextmanager``: it wraps every parse, so its cost counts.
    """

    __slots__ = ("_log", "_stack")

    def __init__(self) -> None:
        if not _installed:
            install()
        stack: list[RDKitLog] | None = getattr(_local, "stack", None)
        if stack is None:
            stack = []
            _local.stack = stack
        self._stack = stack
        self._log = RDKitLog()

    def __enter__(self) -> RDKitLog:
        self._stack.append(self._log)
        return self._log

    def __exit__(self, *exc_info: object) -> None:
        self._stack.pop()


@contextmanager
def error_log_enabled() -> Iterator[None]:
    """Temporarily re-enable ``rdApp.error`` if other code disabled it, then restore it.

    Code elsewhere silences RDKit with ``RDLogger.DisableLog("rdApp.*")``; that would
    also hide the messages our rejection reasons quote. Used only on failure paths
    (re-running a failed parse), so the global toggle costs nothing on valid input.
    Anything logged meanwhile still goes through our routing, never to stderr.
    """
    from rdkit import rdBase

    install()
    disabled = "rdApp.error:disabled" in rdBase.LogStatus()
    if disabled:
        rdBase.EnableLog("rdApp.error")
    try:
        yield
    finally:
        if disabled:
            rdBase.DisableLog("rdApp.error")
