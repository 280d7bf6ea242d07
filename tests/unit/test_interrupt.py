"""Cooperative stop: SIGTERM sets a flag that loops poll; inside ``interruptible()`` it
raises at once (preparation that holds nothing to save)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from molspace.interrupt import (
    Interrupted,
    handle_stop_signals,
    interruptible,
    reset,
    stop_requested,
)


@pytest.fixture(autouse=True)
def _clean() -> None:
    reset()
    yield
    reset()


def _sigterm_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)  # the handler runs at the next bytecode; give the signal time to land


def test_sigterm_only_sets_the_flag_outside_an_interruptible_block() -> None:
    with handle_stop_signals():
        _sigterm_self()
        assert stop_requested()  # we are still here: the loop saves and stops itself
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_inside_an_interruptible_block_raises_at_once() -> None:
    reached = []
    with handle_stop_signals():
        with pytest.raises(Interrupted, match="while preparing"), interruptible():
            _sigterm_self()
            reached.append("after the signal")
        assert not reached and stop_requested()
        # a stop already requested refuses to start the preparation
        with pytest.raises(Interrupted, match="before preparing"), interruptible():
            reached.append("started")
        assert not reached
        # after the block, a further signal only sets the flag again
        _sigterm_self()
        assert stop_requested()
