"""Changing course on repeated proposals, and the progress a search shows."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from molspace.optimization.course import Course
from molspace.optimization.progress import ProgressReport, Snapshot, study_counts


def test_level_rises_while_repeats_dominate_and_falls_back() -> None:
    course = Course(window=10)
    plan = course.plan(32, 0.25, 0.3)
    assert (plan.level, plan.n_local, plan.n_restart, plan.wide) == (0, 8, 0, False)
    course.observe([True] * 9)  # not a full window yet
    assert course.level == 0
    course.observe([True])
    assert course.level == 1 and course.changes == 1 and not course.recent
    plan = course.plan(32, 0.25, 0.3)
    assert plan.n_local == 16 and plan.sigma == pytest.approx(0.6) and plan.wide
    course.observe([True] * 10)
    course.observe([True] * 10)
    assert course.level == 3
    plan = course.plan(32, 0.25, 0.1)
    assert plan.n_restart == 16 and plan.n_local == 16 and plan.sigma == pytest.approx(0.8)
    for _ in range(10):
        course.observe([True] * 10)
    assert course.level == course.max_level == 8  # capped, and so is the step
    assert course.plan(32, 0.25, 0.1).sigma == course.max_sigma == 1.0
    assert course.plan(32, 0.25, 3.0).sigma == 3.0  # never below the configured step
    course.observe([False] * 10)
    assert course.level == 7
    assert course.repeat_fraction == 0.0  # the last 10 trials
    course.observe([True, False] * 5)  # 50 %: neither above the threshold nor below half
    assert course.level == 7 and course.repeat_fraction == 0.5


def test_enqueued_share_never_exceeds_the_batch() -> None:
    course = Course(window=1)
    for level in range(9):
        course.level = level
        for batch in (1, 2, 3, 8, 50):
            plan = course.plan(batch, 0.9, 0.3)
            assert plan.n_local + plan.n_restart <= batch


def _trial(number: int, status: str, smiles: str, value: float, feasible: bool = True):
    mol = {"status": status, "smiles": smiles, "feasible": feasible}
    return SimpleNamespace(number=number, user_attrs={"mol": mol}, values=[value])


def test_study_counts() -> None:
    trials = [
        _trial(0, "scored", "CCO", 0.2),
        _trial(1, "scored", "CCN", 0.9, feasible=False),
        _trial(2, "cached", "CCO", 0.2),
        _trial(3, "invalid", "C(", 0.0),
        _trial(4, "degenerate", "C", 0.0),
        _trial(5, "cached", "CCN", 0.9),
        SimpleNamespace(number=6, user_attrs={}, values=None),  # asked, not told yet
    ]
    c = study_counts(trials, window=2)
    assert c["n_trials"] == 7 and c["n_distinct_decoded"] == 3  # CCO, CCN, C
    assert (c["n_scored"], c["n_feasible"], c["n_repeats"]) == (2, 1, 2)
    assert (c["n_invalid"], c["n_degenerate"]) == (1, 1)
    assert c["best_feasible"] == 0.2  # the infeasible 0.9 does not count
    assert c["repeat_fraction"] == 0.5  # trials 4 and 5


def test_progress_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    report = ProgressReport(every=3600, stream=stream)
    snap = Snapshot(scored=3, budget=10, trials=8, feasible=2, best=0.5, repeat_fraction=0.25)
    report(snap)
    report.start -= 60  # a minute later: 4 more molecules
    report(Snapshot(scored=7, budget=10, trials=16, feasible=5, best=0.7, repeat_fraction=0.5))
    report.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # the first reading, then the last one at close
    assert lines[0].startswith("optimize: 3/10 scored, 2 feasible, best 0.500")
    assert "7/10 scored, 5 feasible, best 0.700" in lines[1] and "repeats 50%" in lines[1]
    assert "4.0 mol/min" in lines[1]


def test_progress_bar_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    report = ProgressReport(stream=stream)
    report(Snapshot(scored=3, budget=10, trials=8, feasible=2, best=0.5, repeat_fraction=0.25))
    report(Snapshot(scored=7, budget=10, trials=16, feasible=5, best=0.7, repeat_fraction=0.5))
    report.close()
    shown = stream.getvalue()
    assert "7/10" in shown and "best 0.700" in shown and "feasible 5" in shown
    assert "repeats 50%" in shown


def test_a_threshold_of_one_never_changes_course() -> None:
    course = Course(window=4, threshold=1.0)
    for _ in range(5):
        course.observe([True] * 4)
    assert course.level == 0 and course.repeat_fraction == 1.0
    with pytest.raises(ValueError):
        Course(window=4, threshold=0.0)


def test_a_stalled_top_raises_the_stall_level_and_a_gain_resets_it() -> None:
    course = Course(window=4, stall_calls=100)
    course.observe_top(50, 0.40)  # the first reading is a gain
    assert (course.stall_level, course.best_top, course.gain_at) == (0, 0.40, 50)
    course.observe_top(149, 0.40)  # 99 molecules without a gain: not yet
    assert course.stall_level == 0 and course.plan(32, 0.25, 0.3).level == 0
    course.observe_top(150, 0.40)
    assert course.stall_level == 1 and course.changes == 1 and course.current_level == 1
    plan = course.plan(32, 0.25, 0.3, local_top=10)
    assert plan.level == 1 and plan.wide and plan.pool == 40  # parents from the best 40
    assert plan.sigma == pytest.approx(0.6)
    course.observe_top(249, 0.39)  # a lower top mean is no gain; counted from the last step
    assert course.stall_level == 1
    course.observe_top(250, 0.39)
    assert course.stall_level == 2 and course.plan(32, 0.25, 0.3, local_top=10).pool == 80
    course.observe_top(260, 0.41)  # a gain: back to the sampler's own course
    assert (course.stall_level, course.current_level, course.gain_at) == (0, 0, 260)
    assert course.plan(32, 0.25, 0.3).pool == 0 and course.changes == 2


def test_repeats_outrank_a_stall_and_keep_all_parents() -> None:
    course = Course(window=4, stall_calls=10)
    course.observe_top(10, 0.5)
    course.observe_top(20, 0.5)
    assert course.stall_level == 1
    for _ in range(2):
        course.observe([True] * 4)
    assert course.level == 2 and course.current_level == 2
    assert course.plan(32, 0.25, 0.3, local_top=10).pool == 0  # repeat-driven: every parent


def test_stall_calls_of_zero_never_diversify() -> None:
    course = Course(window=4)
    course.observe_top(10, 0.5)
    for scored in range(100, 10_000, 100):
        course.observe_top(scored, 0.5)
    assert course.stall_level == 0 and course.changes == 0
