"""Screens on a real 2-process LocalCluster: same result as in-process, even when a worker dies."""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from molspace.config import parse_config
from molspace.screening import ScreenSpec, screen

pytestmark = pytest.mark.dask

MOSES_TEST = Path(__file__).resolve().parents[2] / "libraries" / "moses" / "test.csv.gz"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    with gzip.open(MOSES_TEST, "rt") as handle:
        next(handle)
        smiles = [next(handle).strip() for _ in range(360)]
    smiles[100:100] = ["C1CC", smiles[5], "CCO.Cl", ""]  # rejects and a duplicate
    path = tmp_path_factory.mktemp("lib") / "lib.smi"
    path.write_text("".join(f"{s}\n" for s in smiles))
    return path


@pytest.fixture(scope="module")
def spec() -> ScreenSpec:
    return parse_config(
        ScreenSpec,
        {
            "screen": {"chunk_size": 30, "descriptors": ["mw", "qed"], "top_k": 10},
            "filters": {"rules": ["lipinski", "veber"]},
            "objective": {"components": [{"type": "qed"}]},
            "similarity": {"queries": ["CC(=O)Oc1ccccc1C(=O)O"]},
        },
        "test.toml",
    )


@pytest.fixture(scope="module")
def reference(library, spec, tmp_path_factory):
    return screen(library, spec, tmp_path_factory.mktemp("ref") / "out", workers=0)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def assert_same(result, reference) -> None:
    pd.testing.assert_frame_equal(result.results(), reference.results())
    pd.testing.assert_frame_equal(result.rejects(), reference.rejects())
    pd.testing.assert_frame_equal(result.top_k(), reference.top_k())
    for key in ("rows_in", "accepted", "passed", "rejected", "duplicates", "failed_by_filter"):
        assert result.summary[key] == reference.summary[key], key


def test_local_cluster_result_equals_in_process(library, spec, reference, client, tmp_path) -> None:
    result = screen(library, spec, tmp_path / "out", client=client)
    assert result.summary["partitions_computed"] == result.summary["partitions"] == 13
    assert result.summary["workers"] == 2
    assert_same(result, reference)


def test_killing_a_worker_mid_run_changes_nothing(
    library, spec, reference, client, tmp_path, monkeypatch
):
    killed: list[str] = []
    done = threading.Event()

    def kill_once(rows: int) -> None:
        # called by the driver after each stored partition: kill a busy worker once
        del rows
        if killed:
            return
        busy = [w for w, tasks in client.processing().items() if tasks]
        if busy:
            killed.append(busy[0])
            threading.Thread(
                target=client.run,
                args=(os._exit, 1),
                kwargs={"workers": [busy[0]], "on_error": "ignore"},
                daemon=True,
            ).start()
            done.set()

    from molspace.screening import runner

    original = runner._progress

    def progress(opts, rows):
        original(opts, rows)
        kill_once(rows)

    monkeypatch.setattr(runner, "_progress", progress)
    result = screen(library, spec, tmp_path / "out", client=client, max_in_flight=6)
    assert done.is_set(), "no worker was killed: the test did not test anything"
    assert_same(result, reference)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    assert killed[0] not in client.scheduler_info()["workers"]  # it really died
