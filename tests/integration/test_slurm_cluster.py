"""workflows/cluster_slurm.toml on a real SLURM cluster: worker jobs, faults, wall time.

The ``slurm`` fixture (``_slurm.py``) runs a one-node cluster of this machine; the
``postgres`` fixture a real PostgreSQL server. The workflow is the shipped file in a
reduced mode (``--set``: a 2,000-molecule screen, the tiny model, a budget of 24, worker
jobs of one core each). dask-jobqueue submits the worker jobs with ``sbatch``; the
tests watch them with ``squeue``, cancel them with ``scancel``, and check that the
screen equals a LocalCluster run of the same step row for row and that the study
scored exactly its budget, no molecule twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from _pg import PgServer
from _slurm import SlurmCluster
from test_optimize import assert_exact

from molspace.interrupt import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "workflows" / "cluster_slurm.toml"
SBATCH = ROOT / "workflows" / "cluster_slurm.sbatch"
TINY = str(ROOT / "tests" / "data" / "tiny_vae")
DRUGS = str(ROOT / "libraries" / "drugs" / "chembl_drugs.csv")
MOLSPACE = Path(sys.executable).with_name("molspace")
BUDGET = 24
ROWS = 2000

pytestmark = [pytest.mark.dask, pytest.mark.slow, pytest.mark.timeout(600)]


def reduced(
    storage: str,
    logs: Path,
    *,
    jobs: int = 2,
    rows: int = ROWS,
    chunk_size: int = 500,
    study: str = "slurm",
) -> list[str]:
    """``--set`` overrides: the shipped workflow, small, on this test's cluster and database."""
    items = [
        f'storage="{storage}"',
        'cluster.queue="cpu"',
        "cluster.cores=1",
        'cluster.memory="3GB"',
        'cluster.walltime="00:20:00"',
        f"cluster.jobs={jobs}",
        f'cluster.job_extra_directives=["--output={logs}/dask-worker-%j.log"]',
        'cluster.job_script_prologue=["export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1"]',
        f'cluster.local_directory="{logs}"',
        'cluster.dashboard_address=":0"',
        f"steps.screen.limit={rows}",
        f"steps.screen.screen.chunk_size={chunk_size}",
        f'steps.optimize.model="{TINY}"',
        f"steps.optimize.budget={BUDGET}",
        "steps.optimize.batch_size=6",
        "steps.optimize.top_hits=6",
        "steps.optimize.stale_after=10",
        f'steps.optimize.study_name="{study}"',
        f'steps.optimize.novelty_reference="{DRUGS}"',
        "steps.optimize.space.library_size=200",
    ]
    return [arg for item in items for arg in ("--set", item)]


def command(out: Path, overrides: list[str]) -> list[str]:
    return [str(MOLSPACE), "run", str(WORKFLOW), "--out", str(out), *overrides]


class Driver:
    """``molspace run`` as a child process whose log lines are collected as they come."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            cmd, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True, env=env
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared:\n{self.log}")

    def finish(self, timeout: float = 400) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    @property
    def log(self) -> str:
        return "".join(self.lines)


def environment(slurm: SlurmCluster) -> dict[str, str]:
    """The cluster's SLURM_CONF, this tree's molspace for the driver and its worker jobs."""
    env = slurm.env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def running_workers(slurm: SlurmCluster) -> list[dict[str, str]]:
    return [j for j in slurm.jobs("dask-worker") if j["state"] == "RUNNING"]


def screen_results(out: Path, rows: int | None = None) -> pd.DataFrame:
    """The screen's results (the first ``rows`` if given) in input order; ``source`` (the
    run's own copy of the library head) reduced to a name that is the same in every run.

    Rows are screened independently and a duplicate is the later of two rows, so the
    first rows of a longer screen equal a screen of those rows alone."""
    table = pd.read_parquet(out / "screen" / "out" / "results")
    table["source"] = "head-test.parquet"
    table = table.sort_values("row").reset_index(drop=True)
    return table if rows is None else table.head(rows)


def stored_partitions(out: Path) -> int:
    manifest = out / "screen" / "out" / "manifest.jsonl"
    if not manifest.is_file():
        return 0
    return sum(1 for line in manifest.read_text().splitlines() if '"partition"' in line)


@pytest.fixture(scope="module")
def local_screen(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The reduced workflow's screen step on a 2-worker LocalCluster (the reference)."""
    from molspace.cluster import ClusterSpec, connect
    from molspace.config import parse_config
    from molspace.workflow.kinds import StepContext
    from molspace.workflow.runner import _resolve, plan_workflow
    from molspace.workflow.spec import load_workflow

    out = tmp_path_factory.mktemp("local")
    overrides = reduced("sqlite:///unused.db", out)[1::2]
    spec = load_workflow(WORKFLOW, overrides)
    (step,) = [s for s in plan_workflow(spec) if s.name == "screen"]
    config = parse_config(step.kind.config_model, _resolve(step.raw, {}), "screen")
    with connect(ClusterSpec(n_workers=2, dashboard_address=":0")) as handle:
        context = StepContext(
            "screen", out / "screen", out, WORKFLOW.parent, step.seed, None, lambda: handle.client
        )
        (out / "screen").mkdir()
        step.kind.run(config, context)
    return screen_results(out)


def assert_study_exact(postgres: PgServer, database: str, study: str) -> None:
    import optuna

    loaded = optuna.load_study(study_name=study, storage=postgres.url(database))
    assert_exact(loaded, BUDGET)


def test_cluster_workflow_runs_on_slurm_worker_jobs(
    slurm: SlurmCluster, postgres: PgServer, local_screen: pd.DataFrame, tmp_path: Path
) -> None:
    """The jobs are submitted and join; the screen equals LocalCluster's; the budget is
    exact; the printed dashboard link serves Dask's task stream while the screen runs."""
    storage = postgres.create_database("runs")
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    driver = Driver(command(out, reduced(storage, logs)), environment(slurm))
    line = driver.wait_for("dashboard http")
    assert "dask: slurm cluster, 2 job(s) x 1" in line, line
    link = line.split("dashboard ")[-1].strip()
    assert link.endswith("/status"), link
    with urllib.request.urlopen(link, timeout=30) as page:
        status = page.read().decode()
    assert "Dask needs bokeh" not in status and "task-stream" in status.lower(), status[:500]
    with urllib.request.urlopen(link.replace("/status", "/individual-task-stream"), timeout=30):
        pass
    wait_until(lambda: len(running_workers(slurm)) == 2, 120, "two running worker jobs")
    assert driver.finish() == 0, driver.log
    # the jobs ran the Dask workers (their own logs say so) and are gone at the end
    worker_logs = sorted(logs.glob("dask-worker-*.log"))
    assert len(worker_logs) == 2 and all("Starting Worker" in p.read_text() for p in worker_logs)
    wait_until(lambda: not slurm.jobs("dask-worker"), 30, "the worker jobs to end")

    pd.testing.assert_frame_equal(screen_results(out), local_screen)
    assert len(local_screen) == ROWS
    summary = json.loads((out / "optimize" / "study" / "summary.json").read_text())
    assert summary["n_oracle_calls"] == BUDGET and summary["storage"] == storage
    assert_study_exact(postgres, "runs", "slurm")


@pytest.mark.parametrize("step", ["screen", "optimize"])
def test_a_cancelled_worker_job_loses_nothing(
    slurm: SlurmCluster,
    postgres: PgServer,
    local_screen: pd.DataFrame,
    tmp_path: Path,
    step: str,
) -> None:
    """``scancel`` one of the two worker jobs mid-step: the other finishes the run."""
    database = f"cancel_{step}"
    storage = postgres.create_database(database)
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    overrides = reduced(storage, logs, chunk_size=100, study=database)
    driver = Driver(command(out, overrides), environment(slurm))
    wait_until(lambda: len(running_workers(slurm)) == 2, 120, "two running worker jobs")
    if step == "screen":
        wait_until(lambda: stored_partitions(out) >= 1, 120, "a stored partition")
        assert stored_partitions(out) < ROWS // 100, "the screen ended before the cancel"
    else:
        driver.wait_for("[optimize] running")
        wait_until(
            lambda: (out / "optimize").is_dir() and any(out.glob("optimize/**/*")), 60, "trials"
        )
    victim = running_workers(slurm)[0]["id"]
    slurm.run("scancel", victim)
    assert driver.finish() == 0, driver.log
    assert victim not in {j["id"] for j in slurm.jobs()}
    pd.testing.assert_frame_equal(screen_results(out), local_screen)
    summary = json.loads((out / "optimize" / "study" / "summary.json").read_text())
    assert summary["n_oracle_calls"] == BUDGET
    assert_study_exact(postgres, database, database)


def test_sigterm_exits_75_within_10s_and_the_same_command_resumes(
    slurm: SlurmCluster, postgres: PgServer, local_screen: pd.DataFrame, tmp_path: Path
) -> None:
    """SIGTERM (SLURM at the wall time) mid-screen, with partitions far longer than 10 s
    of work, then mid-optimization: each time exit 75 within 10 s; the third run ends."""
    storage = postgres.create_database("sigterm")
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    # one partition per worker job of 10,000 molecules: about 40 s of work on an idle
    # core (1,000 take 4 s), far longer than the 10 s allowed to stop
    rows = 10 * ROWS
    overrides = reduced(storage, logs, rows=rows, chunk_size=rows // 2, study="sigterm")
    cmd = command(out, overrides)
    env = environment(slurm)

    driver = Driver(cmd, env)
    wait_until(lambda: len(running_workers(slurm)) == 2, 120, "two running worker jobs")
    driver.wait_for("[screen] running")
    time.sleep(5)  # the workers are inside their partitions
    sent = time.monotonic()
    driver.proc.send_signal(signal.SIGTERM)
    assert driver.finish(timeout=60) == EXIT_INTERRUPTED, driver.log
    stopped_in = time.monotonic() - sent
    print(f"SIGTERM to exit 75: {stopped_in:.1f} s")
    assert stopped_in < 10, driver.log
    assert stored_partitions(out) < 2  # an unfinished partition was abandoned
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["steps"]["screen"]["status"] == "interrupted"
    wait_until(lambda: not slurm.jobs("dask-worker"), 30, "the worker jobs to be cancelled")

    driver = Driver(cmd, env)
    driver.wait_for("[optimize] running")
    wait_until(lambda: len(running_workers(slurm)) == 2, 120, "two running worker jobs")
    time.sleep(3)
    sent = time.monotonic()
    driver.proc.send_signal(signal.SIGTERM)
    assert driver.finish(timeout=60) == EXIT_INTERRUPTED, driver.log
    stopped_in = time.monotonic() - sent
    print(f"SIGTERM to exit 75: {stopped_in:.1f} s")
    assert stopped_in < 10, driver.log
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["steps"]["screen"]["status"] == "done"
    assert manifest["steps"]["optimize"]["status"] == "interrupted"

    driver = Driver(cmd, env)
    assert driver.finish() == 0, driver.log
    assert "[screen] up to date, skipped" in driver.log
    assert len(screen_results(out)) == rows
    pd.testing.assert_frame_equal(screen_results(out, ROWS), local_screen)
    summary = json.loads((out / "optimize" / "study" / "summary.json").read_text())
    assert summary["n_oracle_calls"] == BUDGET
    assert_study_exact(postgres, "sigterm", "sigterm")


def test_driver_job_script_resubmits_itself_and_finishes(
    slurm: SlurmCluster, postgres: PgServer, local_screen: pd.DataFrame, tmp_path: Path
) -> None:
    """``sbatch workflows/cluster_slurm.sbatch``: the driver is itself a job; SIGTERM to
    its batch shell (what ``--signal=B:TERM@300`` sends) makes it resubmit itself, and
    the second job finishes the run."""
    storage = postgres.create_database("sbatch")
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    env = environment(slurm)
    env["PATH"] = os.pathsep.join((str(MOLSPACE.parent), env.get("PATH", "")))
    args = ["--out", str(out), *reduced(storage, logs, jobs=1, study="sbatch")]
    submitted = subprocess.run(  # from the log folder: the job's log lands there
        ["sbatch", "--parsable", str(SBATCH), *args],
        cwd=logs,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    first = submitted.stdout.strip()
    wait_until(lambda: stored_partitions(out) >= 1, 180, "the driver job's screen")
    slurm.run("scancel", "--signal=TERM", "--batch", first)
    wait_until(lambda: first not in {j["id"] for j in slurm.jobs()}, 60, "the first job to end")
    first_log = (logs / f"molspace-driver-{first}.log").read_text()
    assert "resubmitted" in first_log, first_log
    (second,) = [j["id"] for j in slurm.jobs("molspace-driver")]
    wait_until(lambda: not slurm.jobs("molspace-driver"), 400, "the resubmitted driver")
    second_log = (logs / f"molspace-driver-{second}.log").read_text()
    assert "molspace exited with 0" in second_log, second_log
    pd.testing.assert_frame_equal(screen_results(out), local_screen)
    summary = json.loads((out / "optimize" / "study" / "summary.json").read_text())
    assert summary["n_oracle_calls"] == BUDGET
    assert_study_exact(postgres, "sbatch", "sbatch")
