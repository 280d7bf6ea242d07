"""In-process screens: accounting, global dedup, top-k, resume, only-passing, config changes."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from molspace.config import parse_config
from molspace.errors import ConfigError, InputError
from molspace.screening import ScreenSpec, screen

MOSES_TEST = Path(__file__).resolve().parents[2] / "libraries" / "moses" / "test.csv.gz"
CHUNK = 20


def moses(n: int, skip: int = 0) -> list[str]:
    with gzip.open(MOSES_TEST, "rt") as handle:
        next(handle)
        lines = [next(handle).strip() for _ in range(skip + n)]
    return lines[skip:]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> list[Path]:
    """Two files with bad rows and duplicates inside and across partitions and files."""
    base = moses(90)
    first = [*base[:50], "C1CC", base[3], "", "OC(=O)CCc1ccccc1.[Na+]"]
    first += ["[Na+].[O-]C(=O)CCc1ccccc1", base[45], "not a smiles", *base[50:70]]
    second = [base[10], *base[70:90], "C(C)(C)(C)(C)C", base[75]]
    root = tmp_path_factory.mktemp("lib")
    a, b = root / "a.csv", root / "b.smi"
    pd.DataFrame({"smiles": first, "name": [f"a{i}" for i in range(len(first))]}).to_csv(
        a, index=False
    )
    b.write_text("".join(f"{s} b{i}\n" for i, s in enumerate(second)))
    return [a, b]


def make_spec(**screen_options) -> ScreenSpec:
    return parse_config(
        ScreenSpec,
        {
            "screen": {"chunk_size": CHUNK, "descriptors": ["mw"], "top_k": 7, **screen_options},
            "filters": {"rules": ["lipinski"], "properties": {"mw": {"max": 350}}},
            "objective": {"components": [{"type": "qed"}]},
        },
        "test.toml",
    )


@pytest.fixture(scope="module")
def first_run(library, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    return screen(library, make_spec(), out, workers=0)


def inputs(library) -> pd.DataFrame:
    a = pd.read_csv(library[0], keep_default_na=False)
    b = library[1].read_text().splitlines()
    return pd.DataFrame(
        {
            "source": [str(library[0])] * len(a) + [str(library[1])] * len(b),
            # the CSV reader numbers rows by file line (the header is line 1)
            "row": list(range(2, len(a) + 2)) + list(range(1, len(b) + 1)),
        }
    )


def test_every_input_row_lands_in_exactly_one_place(first_run, library) -> None:
    results = first_run.results()
    rejects = first_run.rejects()
    s = first_run.summary
    expected = inputs(library)
    assert s["rows_in"] == len(expected) == s["accepted"] + s["rejected"]
    assert s["accounting_ok"]
    assert len(results) == s["accepted"] and len(rejects) == s["rejected"] == 4
    placed = pd.concat([results[["source", "row"]], rejects[["source", "row"]]])
    assert sorted(map(tuple, placed.to_numpy().tolist())) == sorted(
        map(tuple, expected.to_numpy().tolist())
    )
    assert s["passed"] + sum(s["failed_by_filter"].values()) == s["accepted"]
    assert s["rejected_by_reason"] == {"empty SMILES": 1, "parse_error": 2, "sanitize_error": 1}
    on_disk = json.loads((first_run.out_dir / "summary.json").read_text())
    assert on_disk["rows_in"] == s["rows_in"] and on_disk["versions"]["rdkit"]
    assert s["partitions"] == 6  # 78 rows of a.csv in chunks of 20 (4), 23 of b.smi (2)


def test_global_dedup_and_top_k_match_pandas(first_run) -> None:
    results = first_run.results()
    # reference: the first occurrence of each InChIKey in input order is the original
    dup = results["inchikey"].duplicated(keep="first")
    assert results["failed_filter"].eq("duplicate").fillna(False).tolist() == dup.tolist()
    assert first_run.summary["duplicates"] == int(dup.sum()) == 5
    assert first_run.summary["unique_molecules"] == int((~dup).sum())
    passing = results[results["passed"]]
    assert not passing["inchikey"].duplicated().any()
    expected = passing.sort_values("score", ascending=False, kind="stable").head(7)
    top = first_run.top_k()
    assert top["id"].tolist() == expected["id"].tolist()
    assert top["rank"].tolist() == list(range(1, 8))


def test_resume_skips_finished_partitions_and_gives_the_same_result(
    first_run, library, tmp_path
) -> None:
    out = tmp_path / "resumed"
    screen(library, make_spec(), out, workers=0)
    # simulate a kill: the last partition file is gone and the manifest line torn
    manifest = (out / "manifest.jsonl").read_text().splitlines()
    (out / json.loads(manifest[-1])["file"]).unlink()
    (out / "manifest.jsonl").write_text("\n".join(manifest[:-1]) + "\n" + manifest[-1][:30])
    again = screen(library, make_spec(), out, workers=0)
    assert again.summary["partitions_resumed"] == len(manifest) - 2
    assert again.summary["partitions_computed"] == 1
    pd.testing.assert_frame_equal(again.results(), first_run.results())
    pd.testing.assert_frame_equal(again.rejects(), first_run.rejects())
    pd.testing.assert_frame_equal(again.top_k(), first_run.top_k())
    done = screen(library, make_spec(), out, workers=0)
    assert done.summary["partitions_computed"] == 0


def test_changed_config_is_refused_until_forced(first_run, library) -> None:
    changed = make_spec(dedup="smiles")
    with pytest.raises(ConfigError, match=r"another configuration.*--force"):
        screen(library, changed, first_run.out_dir, workers=0)
    # ranking and output options do not invalidate computed partitions
    ranked = screen(library, make_spec(top_k=3, only_passing=True), first_run.out_dir, workers=0)
    assert ranked.summary["partitions_computed"] == 0
    assert ranked.summary["results_rows"] == ranked.summary["passed"]
    assert ranked.results()["passed"].all()
    assert ranked.summary["rows_in"] == first_run.summary["rows_in"]
    assert len(ranked.top_k()) == 3
    forced = screen(library, changed, first_run.out_dir, workers=0, force=True)
    assert forced.summary["partitions_computed"] == forced.summary["partitions"]
    # restore the module fixture's directory for the other tests
    screen(library, make_spec(), first_run.out_dir, workers=0, force=True)


def test_missing_library_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match=r"nope\.smi"):
        screen([tmp_path / "nope.smi"], make_spec(), tmp_path / "out", workers=0)


def test_finishing_pass_fed_out_of_order_equals_the_whole_pass(
    first_run, library, tmp_path
) -> None:
    """Partitions stored in completion order are finished in input order, none twice."""
    from molspace.screening import ScreenResult
    from molspace.screening.finalize import Finalizer
    from molspace.screening.manifest import Manifest, inputs_signature

    out = tmp_path / "out"
    shutil.copytree(first_run.out_dir / "parts", out / "parts")
    done = Manifest.open(first_run.out_dir, make_spec().partition_hash(), inputs_signature(library))
    order = sorted(done.entries)
    arriving = Manifest(out / "manifest.jsonl", done.header)
    with Finalizer(out, make_spec()) as finisher:
        for partition in [order[1], order[2], order[0], *order[3:]]:
            arriving.entries[partition] = done.entries[partition]
            finisher.feed(arriving)
            finished = finisher.next
            assert all(p in arriving.entries for p in range(finished))
            assert finished not in arriving.entries  # everything finishable was finished
        counts = finisher.finish(arriving)
    again = ScreenResult(out)
    pd.testing.assert_frame_equal(again.results(), first_run.results())
    pd.testing.assert_frame_equal(again.rejects(), first_run.rejects())
    pd.testing.assert_frame_equal(again.top_k(), first_run.top_k())
    for key in ("rows_in", "accepted", "passed", "rejected", "duplicates", "failed_by_filter"):
        assert counts[key] == first_run.summary[key], key
