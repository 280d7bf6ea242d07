"""Cooperative stop on SIGTERM/SIGINT.

A cluster scheduler sends SIGTERM at a job's wall time. Long-running steps
(training, screening, optimization) poll :func:`stop_requested` at safe points,
save their state and raise :class:`Interrupted`; the CLI then exits with
:data:`EXIT_INTERRUPTED` so a wrapper script knows the run can simply be resumed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from molspace.errors import MolspaceError

__all__ = [
    "EXIT_INTERRUPTED",
    "Interrupted",
    "handle_stop_signals",
    "interruptible",
    "request_stop",
    "reset",
    "stop_requested",
]

#: Exit code of a run stopped cleanly by SIGTERM/SIGINT (EX_TEMPFAIL: "try again", i.e. resume).
EXIT_INTERRUPTED = 75

_stop = threading.Event()
_immediate = 0  # depth of interruptible() blocks the main thread is in


class Interrupted(MolspaceError):
    """A run stopped on request after saving its state; re-running resumes it."""


def stop_requested() -> bool:
    """True once SIGTERM/SIGINT arrived (or :func:`request_stop` was called)."""
    return _stop.is_set()


def request_stop() -> None:
    """Ask every cooperating loop to stop at its next safe point."""
    _stop.set()


def reset() -> None:
    """Forget an earlier stop request (tests, or a new run in the same process)."""
    _stop.clear()


@contextmanager
def handle_stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT request a cooperative stop instead of killing us.

    A second SIGINT restores Python's default behaviour, so an impatient user can
    still abort with Ctrl-C twice.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        if signum == signal.SIGINT and _stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        _stop.set()
        if _immediate:
            raise Interrupted("stopped while preparing (nothing to save yet)")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, a stop request raises :class:`Interrupted` at once.

    For preparation that holds nothing to save (imports, loading a model, encoding the
    seeds): on a loaded node it can outlast a scheduler's grace period, and polling
    cannot reach inside an import. Only the main thread under
    :func:`handle_stop_signals` is affected; elsewhere the block runs as written.
    """
    global _immediate
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _stop.is_set():
        raise Interrupted("stopped before preparing")
    _immediate += 1
    try:
        yield
    finally:
        _immediate -= 1
