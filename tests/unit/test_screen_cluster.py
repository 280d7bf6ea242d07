"""Cluster configuration: dask-jobqueue job scripts (nothing is submitted) and validation."""

from __future__ import annotations

import pytest

from molspace.cluster import ClusterSpec, default_workers, make_jobqueue_cluster
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
