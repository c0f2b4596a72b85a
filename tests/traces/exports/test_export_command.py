"""``manage.py export``: files, filters, a recorded policy, and errors that say what was wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from export_helpers import read_jsonl

from traces.actions.imports import do_import
from traces.management.commands.export import Command

pytestmark = pytest.mark.django_db


@pytest.fixture
def processbench(shared_data: Path, project):
    path = shared_data / "processbench" / "gsm8k.jsonl"
    do_import(project, path, "processbench")
    return read_jsonl(path)


def export(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_exports_with_filters_and_a_recorded_policy(processbench, project, tmp_path: Path) -> None:
    stdout, _ = export(
        "--project", project.slug, "--format", "trl", "--sources", "import:processbench", "--after-error", "cut",
        "--correct", "yes", "--test-fraction", "0.25", "--seed", "3", "--out", str(tmp_path),
    )
    correct = [r for r in processbench if r["final_answer_correct"]]
    rows = read_jsonl(tmp_path / "train.jsonl") + read_jsonl(tmp_path / "test.jsonl")
    assert sorted(r["prompt"] for r in rows) == sorted(r["problem"] for r in correct)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["query"] == {"project": project.slug, "correct": "yes"}
    assert manifest["policy"]["after_error"] == "cut" and manifest["policy"]["seed"] == 3
    assert manifest["options"]["step_separator"] == "\n"
    assert f"Exported {len(correct)} rows from {len(correct)} traces as trl" in stdout


def test_zero_rows_names_the_sources_present(processbench, project, tmp_path: Path) -> None:
    args = ["--project", project.slug, "--format", "processbench", "--sources", "human", "--out", str(tmp_path)]
    stdout, stderr = export(*args)
    assert f"skipped {len(processbench)} traces: no labelled step" in stdout
    assert "label sources in this selection: import:processbench" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope"], "No project 'nope' (known: test)"),
        (["--sources", "human-else-auto"], "Invalid label policy: sources 'human-else-auto' needs the automatic"),
        (["--test-fraction", "1.5"], "Invalid label policy: test_fraction must be in [0, 1)"),
        (["--format", "processbench", "--step-separator", "\\n"], "--step-separator applies to the TRL formats only"),
        (["--model", "gpt-9"], "--model: no model named 'gpt-9' in project 'test'"),
        (["--run", "999999"], "--run: no run 999999 in project 'test'"),
        (["--chunk-size", "0"], "--chunk-size must be at least 1"),
    ],
)
def test_bad_arguments_say_what_is_wrong(processbench, project, tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--project": project.slug, "--format": "trl", "--sources": "import:processbench", "--out": str(tmp_path)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    with pytest.raises(CommandError) as error:
        export(*[item for pair in base.items() for item in pair])
    assert message in str(error.value)


def test_refuses_to_overwrite_without_force(processbench, project, tmp_path: Path) -> None:
    args = ["--project", project.slug, "--format", "trl_parquet", "--sources", "import:processbench"]
    args += ["--out", str(tmp_path)]
    export(*args)
    with pytest.raises(CommandError, match="already holds train.parquet, manifest.json; pass --force"):
        export(*args)
    export(*args, "--force")


def test_help_lists_formats_and_policy_choices() -> None:
    text = Command().create_parser("manage.py", "export").format_help()
    for word in ("trl_parquet", "flat_csv", "human-else-auto", "--neutral", "--after-error", "--test-fraction"):
        assert word in text
