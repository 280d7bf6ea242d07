"""Workflow files are validated whole, before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from molspace.cli import app
from molspace.errors import ConfigError
from molspace.workflow.manifest import file_digest, stable_hash
from molspace.workflow.runner import plan_workflow
from molspace.workflow.spec import apply_overrides, find_references, load_workflow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "workflows").glob("*.toml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wf.toml"
    path.write_text(text)
    return path


def test_every_shipped_workflow_is_valid() -> None:
    assert {p.name for p in SHIPPED} >= {"design.toml", "explore.toml", "screen_library.toml"}
    for path in SHIPPED:
        steps = plan_workflow(load_workflow(path))
        assert steps, path


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[workflow]\nname = "x"\n[steps.report]\ntitel = "typo"\n',
    )
    with pytest.raises(ConfigError, match=r"wf\.toml \[steps\.report\]: titel: unknown key"):
        plan_workflow(load_workflow(path))


def test_reference_to_a_later_step_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[workflow]\nname = "x"\n'
        '[steps.map]\nlibrary = "@screen.results"\n'
        '[steps.screen]\nlibrary = ["a.smi"]\n',
    )
    with pytest.raises(ConfigError, match="declared later"):
        load_workflow(path)


def test_reference_to_an_unknown_output_names_the_outputs(tmp_path: Path) -> None:
    (tmp_path / "a.smi").write_text("CCO\n")
    path = write(
        tmp_path,
        '[workflow]\nname = "x"\n'
        '[steps.screen]\nlibrary = ["a.smi"]\n'
        '[steps.map]\nlibrary = "@screen.hits"\n',
    )
    with pytest.raises(ConfigError, match=r"@screen\.hits.*outputs results, top"):
        plan_workflow(load_workflow(path))


def test_missing_input_file_is_found_before_any_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[workflow]\nname = "x"\n[steps.screen]\nlibrary = ["missing.smi"]\n',
    )
    with pytest.raises(ConfigError, match=r"library: file not found: .*missing\.smi"):
        plan_workflow(load_workflow(path))


def test_unknown_kind_lists_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, '[workflow]\nname = "x"\n[steps.dock]\nreceptor = "x.pdb"\n')
    with pytest.raises(ConfigError, match="unknown step kind 'dock'; choose from screen"):
        plan_workflow(load_workflow(path))


def test_missing_workflow_table_and_empty_steps(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing \[workflow\]"):
        load_workflow(write(tmp_path, "[steps.report]\n"))
    with pytest.raises(ConfigError, match="no steps"):
        load_workflow(write(tmp_path, '[workflow]\nname = "x"\n'))


def test_overrides_are_toml_values_or_strings() -> None:
    data: dict = {"steps": {"optimize": {"budget": 10}}}
    apply_overrides(
        data,
        ["steps.optimize.budget=50", "steps.optimize.model=tiny", "steps.new.flag=true"],
        "wf",
    )
    assert data["steps"]["optimize"] == {"budget": 50, "model": "tiny"}
    assert data["steps"]["new"] == {"flag": True}
    with pytest.raises(ConfigError, match=r"dotted\.key=value"):
        apply_overrides({}, ["nonsense"], "wf")


def test_find_references_reports_locations() -> None:
    refs = list(find_references({"a": "@s.top", "b": ["x", "@t.results"], "c": {"d": "@u.v"}}))
    assert [(r.step, r.output, r.location) for r in refs] == [
        ("s", "top", "a"),
        ("t", "results", "b[1]"),
        ("u", "v", "c.d"),
    ]


def test_hashes_follow_content(tmp_path: Path) -> None:
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    file = tmp_path / "lib.smi"
    file.write_text("CCO\n")
    before = file_digest(file)
    file.write_text("CCN\n")
    assert file_digest(file) != before


def test_cli_check_and_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["run", str(ROOT / "workflows" / "design.toml"), "--check"])
    assert ok.exit_code == 0, ok.output
    assert "valid: 3 steps" in ok.output
    bad = write(tmp_path, '[workflow]\nname = "x"\nbogus = 1\n[steps.report]\n')
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "molspace", "run", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "bogus: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr
