"""Fixtures for the integration tests that need real servers: PostgreSQL and SLURM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _pg import PgServer, find_pg_bin, postgres_server
from _slurm import SlurmCluster, missing_slurm_binaries, slurm_cluster


@pytest.fixture()
def slurm() -> Iterator[SlurmCluster]:
    """A one-node SLURM cluster (munged, slurmctld, slurmd) of this test's own."""
    missing = missing_slurm_binaries()
    if missing:
        pytest.skip(
            f"Slurm is not installed ({', '.join(missing)} missing; "
            "scripts/install_system_deps.sh installs slurm-wlm and munge)"
        )
    with slurm_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def postgres() -> Iterator[PgServer]:
    """A PostgreSQL server shared by the tests of one module (each makes its own database)."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (scripts/install_system_deps.sh installs it)")
    pytest.importorskip("psycopg2", reason="psycopg2 (the PostgreSQL driver) is not installed")
    with postgres_server() as server:
        yield server
