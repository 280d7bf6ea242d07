"""The oracle ledger on its real backends: claims, budget, shared scores, dead workers.

Workers here are real OS processes where it matters (racing claims, a worker that dies
holding claims); the SQLite database and the journal sidecar are real files.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from molspace.optimization.ledger import OracleLedger, open_ledger

SQLITE_AND_JOURNAL = ["sqlite", "journal"]


def _url(tmp_path: Path, kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if kind == "journal":
        return f"journal:{tmp_path / 'study.journal'}"
    return ":memory:"


def _started(url: str, budget: int = 4, stale_after: float = 30.0, **kw) -> OracleLedger:
    ledger = open_ledger(url, "s", 0, budget, stale_after)
    for key, value in kw.items():
        setattr(ledger, key, value)
    ledger.start(n_trials=1)
    return ledger


@pytest.mark.parametrize("kind", ["memory", *SQLITE_AND_JOURNAL])
def test_claim_fill_budget(tmp_path: Path, kind: str) -> None:
    url = _url(tmp_path, kind)
    with _started(url, budget=3) as ledger:
        first = ledger.claim(["CCO", "CCN", "CCO"], {"CCO": 0, "CCN": 1})
        assert first.mine == ["CCO", "CCN"] and not first.known and not first.refused
        assert first.counts.held == 2 and first.counts.scored == 0
        lost, counts = ledger.fill({"CCO": ([0.5], {"qed": 0.5}), "CCN": ([0.25], None)})
        assert not lost and counts.scored == 2
        second = ledger.claim(["CCO", "CCC", "CCCC"], {})
        assert second.known["CCO"].values == (0.5,)
        assert second.known["CCO"].components == {"qed": 0.5}
        # one slot left: the first new molecule gets it, the next is refused
        assert second.mine == ["CCC"] and second.refused == ["CCCC"]
        ledger.release(["CCC"])  # scoring failed: the slot is free again
        assert ledger.status().held == 2
        assert ledger.claim(["CCCC"], {}).mine == ["CCCC"]


@pytest.mark.parametrize("kind", SQLITE_AND_JOURNAL)
def test_two_workers_share_scores(tmp_path: Path, kind: str) -> None:
    url = _url(tmp_path, kind)
    with _started(url, budget=3) as a, _started(url, budget=3) as b:
        assert a.claim(["CCO", "CCN"], {}).mine == ["CCO", "CCN"]
        seen_by_b = b.claim(["CCO", "CCC", "CCCC"], {})
        assert seen_by_b.pending == ["CCO"]  # a is scoring it right now
        assert seen_by_b.mine == ["CCC"] and seen_by_b.refused == ["CCCC"]
        a.fill({"CCO": ([1.0], {}), "CCN": ([2.0], {})})
        again = b.claim(["CCO"], {})
        assert again.known["CCO"].values == (1.0,) and not again.pending
        # b cannot fill a's claim, nor a b's
        lost, _ = a.fill({"CCC": ([9.0], {})})
        assert lost == {"CCC"}
        b.fill({"CCC": ([3.0], {})})
        assert a.claim(["CCC"], {}).known["CCC"].values == (3.0,)
        assert a.status().scored == 3 == b.status().scored
        # the first value settled is everyone's
        assert a.settle("space", "from-a") == "from-a" == b.settle("space", "from-b")
    # a second study in the same storage has its own ledger
    other = open_ledger(url, "other", 1, 3)
    with other:
        other.start(n_trials=1)
        assert other.claim(["CCO"], {}).mine == ["CCO"]


RACE = """
import random, sys, time
from pathlib import Path
from molspace.optimization.ledger import open_ledger

url, seed, budget, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
rng = random.Random(seed)
pool = ["C" * i + "O" for i in range(1, 61)]
ledger = open_ledger(url, "race", 0, budget, 30.0)
ledger.start(n_trials=1)
(gate / str(seed)).touch()
while len(list(gate.iterdir())) < 3:  # start racing together
    time.sleep(0.01)
mine = []
while ledger.status().scored < budget:
    claim = ledger.claim(rng.sample(pool, 4), {})
    if claim.mine:
        time.sleep(0.005)  # "scoring"
        ledger.fill({s: ([float(len(s))], {}) for s in claim.mine})
        mine += claim.mine
ledger.close()
print("\\n".join(mine))
"""


@pytest.mark.parametrize("kind", SQLITE_AND_JOURNAL)
def test_racing_processes_never_share_a_molecule_or_overshoot(tmp_path: Path, kind: str) -> None:
    url = _url(tmp_path, kind)
    budget = 40
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, url, str(seed), str(budget), str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(3)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.split())
    claimed = Counter(s for out in outputs for s in out)
    assert len(claimed) == budget and max(claimed.values()) == 1
    assert sum(1 for out in outputs if out) >= 2, "the processes did not overlap"
    with open_ledger(url, "race", 0, budget) as ledger:
        ledger.start(n_trials=1)
        counts = ledger.status()
        assert counts.scored == counts.held == budget


DIE = """
import os, sys
from molspace.optimization.ledger import open_ledger

url, host, stale_after = sys.argv[1], sys.argv[2], float(sys.argv[3])
ledger = open_ledger(url, "s", 0, 4, stale_after)
if host:
    ledger.host = host  # as if it ran on another machine: no PID check, only the heartbeat
ledger.start(n_trials=1)
ledger.in_flight([5, 6, 7])
ledger.claim(["CCO", "CCN"], {"CCO": 5, "CCN": 6})
ledger.fill({"CCO": ([0.5], {"qed": 0.5})})
os._exit(0)  # die holding the claim on CCN, trials 5-7 never told
"""


def _die(url: str, host: str = "", stale_after: float = 30.0) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DIE, url, host, str(stale_after)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind", SQLITE_AND_JOURNAL)
def test_dead_worker_on_this_machine_frees_its_claims_at_once(tmp_path: Path, kind: str) -> None:
    url = _url(tmp_path, kind)
    _die(url)
    with _started(url) as ledger:
        claim = ledger.claim(["CCO", "CCN"], {"CCN": 9})
        assert claim.known["CCO"].values == (0.5,)  # its finished score is kept
        assert claim.mine == ["CCN"]  # its unscored claim is ours now
        now = time.time()
        numbers, scored = ledger.orphans({5: now, 6: now, 7: now, 8: now})
        # trials the dead worker listed are orphans; trial 8 is unlisted and young
        assert numbers == [5, 6, 7]
        assert set(scored) == {5} and scored[5].smiles == "CCO"


@pytest.mark.parametrize("kind", SQLITE_AND_JOURNAL)
def test_dead_worker_elsewhere_expires_after_stale_after(tmp_path: Path, kind: str) -> None:
    url = _url(tmp_path, kind)
    _die(url, host="another-machine")
    with _started(url, stale_after=1.5) as ledger:
        assert ledger.claim(["CCN"], {}).pending == ["CCN"]  # not stale yet
        assert ledger.orphans({5: time.time()})[0] == []
        time.sleep(1.6)
        assert ledger.claim(["CCN"], {}).mine == ["CCN"]
        numbers, _ = ledger.orphans({5: time.time(), 9: time.time() - 10})
        assert numbers == [5, 9]  # listed by the dead worker; unlisted and old


def test_live_worker_keeps_its_claims_by_heartbeat(tmp_path: Path) -> None:
    url = _url(tmp_path, "sqlite")
    with (
        _started(url, stale_after=0.6, host="another-machine") as a,
        _started(url, stale_after=0.6) as b,
    ):
        a.claim(["CCO"], {})
        time.sleep(1.5)  # longer than stale_after: only a's heartbeat thread keeps it alive
        assert b.claim(["CCO"], {}).pending == ["CCO"]


def test_old_study_is_backfilled_and_reused_key_cleared(tmp_path: Path) -> None:
    url = _url(tmp_path, "sqlite")
    records = [
        {"smiles": "CCO", "values": [0.5], "components": {}, "trial": 0},
        {"smiles": "CCO", "values": [0.5], "components": {}, "trial": 3},  # an old race
        {"smiles": "CCN", "values": [0.7], "components": {}, "trial": 1},
    ]
    ledger = open_ledger(url, "s", 0, 5)
    with ledger:
        assert ledger.start(n_trials=4, records=records).scored == 2
        assert ledger.claim(["CCN"], {}).known["CCN"].values == (0.7,)
    # a study created again under the same name and id (SQLite reuses ids) starts empty
    fresh = open_ledger(url, "s", 0, 5)
    with fresh:
        assert fresh.start(n_trials=0).held == 0
