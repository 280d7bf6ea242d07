"""Changing course when the search keeps decoding molecules it already knows.

A decoder maps whole regions of the latent space to one molecule, so a sampler that has
settled on a region (TPE in a small ball around a lead, local moves with a step too
small for the decoder's resolution) proposes trial after trial that decodes to a known
molecule. Repeats cost no oracle call, so the budget never fills and the run only ends
at its trial cap. ``Course`` watches the share of repeats over a window of recent trials
and, while it stays above ``threshold``, moves up a level; each level spends more of a
batch on moves the loop controls:

====== ============================================================================
level  what a batch gets besides the sampler's own proposals
====== ============================================================================
0      ``local_fraction`` of the batch: children of the best (feasible) parents
1      at least half the batch: children with twice the step, around the best
       parents and a random draw of other (feasible) parents
2      a quarter of the batch as random restarts (around the seeds, or uniform in
       the search space), at least half as children with four times the step
3+     half the batch as restarts, half as children; the step doubles with each
       level up to ``max_sigma`` (a prior standard deviation per dimension)
====== ============================================================================

When repeats fall below half the threshold it steps back down one level.

A search can also stall without repeating itself: every child of the top molecules decodes
to a new molecule, and none scores above them. With ``stall_calls`` set, each run of that
many scored molecules without a gain in the mean of the top ``STALL_TOP`` raises a second
level, ``stall_level``, and a gain resets it; a batch follows the higher of the two levels.
A stall draws the other parents from the next best molecules (the top ``local_top *
2**(level + 1)``) rather than from every scored one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Course", "Plan"]

#: Restart share of a batch at levels 0, 1, 2 and above.
_RESTARTS = (0.0, 0.0, 0.25, 0.5)
#: How many of the best molecules a stall is judged on (PMO's AUC is over the top 10).
STALL_TOP = 10


@dataclass(frozen=True)
class Plan:
    """What one batch enqueues before the sampler proposes the rest."""

    n_local: int  # children of parents
    sigma: float  # their step (``local_sigma`` units)
    n_restart: int  # random restarts
    wide: bool  # parents beyond the top ones
    level: int
    pool: int = 0  # wide parents from the best ``pool`` scored molecules (0: from all of them)


@dataclass
class Course:
    """Repeat fraction over the last ``window`` trials and the level it calls for."""

    window: int
    threshold: float = 0.5
    max_level: int = 8
    max_sigma: float = 1.0
    level: int = 0
    changes: int = 0  # times the level (or the stall level) went up
    stall_calls: int = 0  # scored molecules without a top gain that raise stall_level; 0: off
    stall_level: int = 0
    best_top: float = float("-inf")  # the best mean of the top STALL_TOP so far
    gain_at: int = 0  # scored molecules at the last gain or stall step
    recent: deque[bool] = field(default_factory=deque)  # since the last change
    shown: deque[bool] = field(default_factory=deque)  # the last ``window`` trials

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1] (1: never change course)")

    @property
    def repeat_fraction(self) -> float:
        """Share of repeats among the last ``window`` trials (0 before any)."""
        return sum(self.shown) / len(self.shown) if self.shown else 0.0

    def observe(self, repeats: Iterable[bool]) -> None:
        """Record a batch (True: the trial decoded a molecule known before it) and move a
        level up or down once a full window has been seen since the last change."""
        flags = [bool(r) for r in repeats]
        for queue in (self.recent, self.shown):
            queue.extend(flags)
            while len(queue) > self.window:
                queue.popleft()
        if len(self.recent) < self.window:
            return
        fraction = sum(self.recent) / len(self.recent)
        if fraction > self.threshold and self.level < self.max_level:
            self.level += 1
            self.changes += 1
            self.recent.clear()
        elif fraction < self.threshold / 2 and self.level > 0:
            self.level -= 1
            self.recent.clear()

    def observe_top(self, scored: int, top_mean: float) -> None:
        """Record the mean of the top ``STALL_TOP`` after a batch (``scored`` molecules so
        far): a gain resets the stall level, ``stall_calls`` without one raise it."""
        if top_mean > self.best_top + 1e-12:
            self.best_top, self.gain_at, self.stall_level = top_mean, scored, 0
        elif (
            self.stall_calls
            and scored - self.gain_at >= self.stall_calls
            and self.stall_level < self.max_level
        ):
            self.stall_level += 1
            self.changes += 1
            self.gain_at = scored

    @property
    def current_level(self) -> int:
        """The level the next batch follows: repeats' or the stall's, the higher."""
        return max(self.level, self.stall_level)

    def plan(
        self, batch_size: int, local_fraction: float, sigma: float, local_top: int = 10
    ) -> Plan:
        """The enqueued share of the next batch at the current level."""
        level = self.current_level
        if level == 0:
            return Plan(round(batch_size * local_fraction), sigma, 0, False, 0)
        n_restart = round(batch_size * _RESTARTS[min(level, len(_RESTARTS) - 1)])
        n_local = min(batch_size - n_restart, round(batch_size * max(local_fraction, 0.5)))
        step = max(sigma, min(sigma * 2.0**level, self.max_sigma))
        pool = local_top * 2 ** (level + 1) if self.stall_level > self.level else 0
        return Plan(n_local, step, n_restart, True, level, pool)
