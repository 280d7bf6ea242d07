"""Cluster configuration: dask-jobqueue job scripts (nothing is submitted) and validation."""

from __future__ import annotations

import pytest

from molspace.cluster import ClusterSpec, connect, default_workers, make_jobqueue_cluster
from molspace.config import parse_config
from molspace.errors import ConfigError


def test_slurm_job_script_carries_the_cluster_table() -> None:
    spec = parse_config(
        ClusterSpec,
        {
            "kind": "slurm",
            "queue": "short",
            "account": "chem",
            "cores": 8,
            "memory": "16GB",
            "walltime": "02:00:00",
            "jobs": 4,
            "job_extra_directives": ["--constraint=avx512"],
            "job_script_prologue": ["module load rdkit"],
            "dashboard_address": ":0",
        },
        "cluster.toml",
    )
    cluster = make_jobqueue_cluster(spec)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for expected in (
        "#SBATCH -p short",
        "#SBATCH -A chem",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=15G",
        "#SBATCH -t 02:00:00",
        "#SBATCH --constraint=avx512",
        "module load rdkit",
    ):
        assert expected in lines, (expected, script)
    worker = next(line for line in lines if "dask_worker" in line)
    assert "--nthreads 1" in worker and "--nworkers 8" in worker  # processes, not threads


def test_pbs_job_script() -> None:
    spec = ClusterSpec(kind="pbs", queue="batch", cores=2, memory="4GB", dashboard_address=":0")
    cluster = make_jobqueue_cluster(spec)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#PBS -q batch" in script and "ncpus=2" in script
    assert "--nthreads 1" in script and "--nworkers 2" in script


def test_cluster_table_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"cluster\.toml: kind: Input should be"):
        parse_config(ClusterSpec, {"kind": "sge"}, "cluster.toml")
    with pytest.raises(ConfigError, match=r"cluster\.toml: n_wokers: unknown key"):
        parse_config(ClusterSpec, {"n_wokers": 2}, "cluster.toml")
    with pytest.raises(ConfigError, match="not a batch system"):
        make_jobqueue_cluster(ClusterSpec())
    assert default_workers() >= 1


def test_batch_workers_run_lean_unless_diagnostics_are_asked_for() -> None:
    lean = ClusterSpec(kind="slurm", cores=2, dashboard_address=":0")
    full = ClusterSpec(kind="slurm", cores=2, dashboard_address=":0", diagnostics=True)
    scripts = []
    for spec in (lean, full):
        cluster = make_jobqueue_cluster(spec)
        try:
            scripts.append(cluster.job_script().splitlines())
        finally:
            cluster.close()
    export = 'export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED="False"'
    assert export in scripts[0]
    assert not any("DASK_DISTRIBUTED" in line for line in scripts[1])


def _worker_settings() -> tuple[object, object]:
    import dask

    return (
        dask.config.get("distributed.worker.profile.enabled"),
        dask.config.get("distributed.admin.tick.interval"),
    )


@pytest.mark.dask
def test_local_cluster_runs_lean_and_restores_the_dask_config() -> None:
    import distributed  # noqa: F401  (Dask's distributed defaults loaded)

    defaults = _worker_settings()
    with connect(ClusterSpec(n_workers=1, dashboard_address=":0")) as handle:
        assert list(handle.client.run(_worker_settings).values()) == [(False, "1s")]
    assert _worker_settings() == defaults  # the caller's config is untouched afterwards
    spec = ClusterSpec(n_workers=1, dashboard_address=":0", diagnostics=True)
    with connect(spec) as handle:
        assert list(handle.client.run(_worker_settings).values()) == [defaults]


@pytest.mark.dask
def test_dashboard_link_serves_the_task_stream() -> None:
    """The link every run prints is Dask's live dashboard (bokeh installed), not its
    "Dask needs bokeh" placeholder; the task stream page answers while tasks run."""
    import urllib.request

    with connect(ClusterSpec(n_workers=1, dashboard_address=":0")) as handle:
        link = handle.dashboard_link
        assert link is not None and link.endswith("/status"), link
        future = handle.client.submit(sum, range(10))
        with urllib.request.urlopen(link, timeout=30) as page:
            status = page.read().decode()
        assert "needs bokeh" not in status and "task-stream" in status.lower()
        stream = link.replace("/status", "/individual-task-stream")
        with urllib.request.urlopen(stream, timeout=30) as page:
            assert page.status == 200 and "bokeh" in page.read().decode().lower()
        assert future.result() == 45
