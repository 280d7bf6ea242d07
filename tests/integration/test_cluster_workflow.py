"""workflows/cluster_slurm.toml: it validates, and its [cluster] table makes the job scripts
a SLURM (or PBS) site expects. dask-jobqueue builds the script and starts a scheduler but
submits nothing until ``scale()``, which these tests never call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from molspace.cluster import ClusterSpec, make_jobqueue_cluster
from molspace.config import parse_config
from molspace.workflow.runner import plan_workflow
from molspace.workflow.spec import load_workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "workflows" / "cluster_slurm.toml"
DESIGN = ROOT / "workflows" / "design.toml"
MOLSPACE = Path(sys.executable).with_name("molspace")
PROLOGUE = (
    "source /path/to/molspace/.venv/bin/activate",
    "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1",
)


def _job_script(overrides: list[str] | None = None) -> tuple[str, ClusterSpec]:
    """The worker job script of the workflow's [cluster] table (cluster closed again)."""
    spec = load_workflow(WORKFLOW, overrides)
    cluster_spec = parse_config(ClusterSpec, spec.cluster or {}, f"{WORKFLOW} [cluster]")
    cluster = make_jobqueue_cluster(cluster_spec)
    try:
        assert not cluster.workers and not cluster.worker_spec  # nothing submitted
        script = cluster.job_script()
    finally:
        cluster.close()
    return script, cluster_spec


def _worker_command(script: str) -> str:
    (line,) = [s for s in script.splitlines() if "distributed.cli.dask_worker" in s]
    return line


def test_check_validates_the_cluster_workflow() -> None:
    done = subprocess.run(
        [str(MOLSPACE), "run", str(WORKFLOW), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "valid: 3 steps: screen (screen), optimize (optimize), report (report)" in done.stdout


def test_cluster_workflow_is_the_design_run_on_postgres_and_slurm() -> None:
    spec = load_workflow(WORKFLOW)
    design = load_workflow(DESIGN)
    assert spec.storage is not None and spec.storage.startswith("postgresql+psycopg2://")
    assert spec.cluster is not None and spec.cluster["kind"] == "slurm"
    # the same science as design.toml: objective, library, screen settings, search
    assert spec.objective == design.objective
    assert spec.steps["screen"] == design.steps["screen"]
    cluster_only = {"parallel", "study_name"}
    optimize = spec.steps["optimize"][1]
    assert optimize["parallel"] is True
    assert {k: v for k, v in optimize.items() if k not in cluster_only} == design.steps["optimize"][
        1
    ]
    # every step config validates, inputs resolved against the workflow's folder
    planned = {step.name: step for step in plan_workflow(spec)}
    assert Path(planned["screen"].raw["library"][0]).is_file()


@pytest.mark.dask
def test_slurm_job_script() -> None:
    script, cluster = _job_script()
    lines = script.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    for directive in (
        "#SBATCH -p cpu",
        "#SBATCH -A my_account",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH -t 04:00:00",
        "#SBATCH --mem=15G",  # dask-jobqueue writes 16GB (= 14.9 GiB) as 15G
        "#SBATCH --output=dask-worker-%j.log",
    ):
        assert directive in lines, (directive, script)
    # the prologue runs before the worker starts, in order
    command = _worker_command(script)
    positions = [lines.index(p) for p in PROLOGUE]
    assert positions == sorted(positions) and positions[-1] < lines.index(command)
    # 8 single-threaded worker processes sharing the job's memory, scratch on the node
    assert "--nworkers 8" in command and "--nthreads 1" in command
    assert "--local-directory $TMPDIR" in command
    assert "--nanny" in command and " tcp://" in command
    assert cluster.jobs == 4


@pytest.mark.dask
def test_pbs_job_script() -> None:
    script, _ = _job_script(["cluster.kind=pbs", "cluster.job_extra_directives=[]"])
    lines = script.splitlines()
    assert not any(s.startswith("#SBATCH") for s in lines)
    for directive in ("#PBS -q cpu", "#PBS -A my_account", "#PBS -l walltime=04:00:00"):
        assert directive in lines, (directive, script)
    (select,) = [s for s in lines if s.startswith("#PBS -l select=")]
    assert select.startswith("#PBS -l select=1:ncpus=8:mem="), select
    command = _worker_command(script)
    assert all(lines.index(p) < lines.index(command) for p in PROLOGUE)
    assert "--nworkers 8" in command and "--local-directory $TMPDIR" in command
