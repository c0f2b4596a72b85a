"""``manage.py import_traces`` end to end, every format, real samples (SPEC §2; issue 3 "Importers").

Expected counts are computed here from the raw JSON, never taken from the importer.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from traces.models import Label, Problem, Run, RunStatus, Step, Trace

pytestmark = pytest.mark.django_db

Counts = tuple[int, int, int]  # traces, steps, labels


def read_raw(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# --- What each source holds, read from the raw records -------------------------------------------


def prm800k_path_rating(step: dict[str, Any]) -> int | None:
    """The rating of the completion the labeller's path took at this step (PRM800K's own fields)."""
    if step["chosen_completion"] is not None:
        return step["completions"][step["chosen_completion"]]["rating"]
    if step["human_completion"] is not None:
        return step["human_completion"].get("rating")
    rated_wrong = [c for c in step["completions"] if c["rating"] == -1]
    return (rated_wrong or step["completions"])[0]["rating"]


def prm800k_counts(records: list[dict[str, Any]]) -> Counts:
    steps = [s for r in records for s in r["label"]["steps"]]
    return len(records), len(steps), sum(prm800k_path_rating(s) is not None for s in steps)


def processbench_counts(records: list[dict[str, Any]]) -> Counts:
    rated = sum(r["label"] + 1 if r["label"] >= 0 else len(r["steps"]) for r in records)
    return len(records), sum(len(r["steps"]) for r in records), rated


def math_shepherd_counts(records: list[dict[str, Any]]) -> Counts:
    marks = sum(len(re.findall(r" [+-](?=\n|$)", r["label"])) for r in records)
    return len(records), sum(r["input"].count(" \u043a\u0438") for r in records), marks


def trl_counts(records: list[dict[str, Any]]) -> Counts:
    return len(records), sum(len(r["completions"]) for r in records), sum(len(r["labels"]) for r in records)


def jsonl_counts(records: list[dict[str, Any]]) -> Counts:
    labels = sum(label is not None for r in records for label in r["labels"])
    return len(records), sum(len(r["steps"]) for r in records), labels


# --- Sample files: the real ones, and TRL / generic JSONL built from real records ----------------


def trl_from_processbench(shared_data: Path, tmp_path: Path) -> Path:
    """ProcessBench GSM8K as TRL stepwise supervision: steps up to the first error, bool labels."""
    records = []
    for r in read_raw(shared_data / "processbench" / "gsm8k.jsonl"):
        steps = r["steps"] if r["label"] == -1 else r["steps"][: r["label"] + 1]
        labels = [r["label"] == -1 or j < r["label"] for j in range(len(steps))]
        records.append({"prompt": r["problem"], "completions": steps, "labels": labels})
    return write_jsonl(tmp_path / "gsm8k.trl.jsonl", records)


def jsonl_from_gsm8k(shared_data: Path, tmp_path: Path) -> Path:
    """GSM8K solutions as generic JSONL: lines are steps, +1 each, the final ``#### N`` line unrated."""
    records = []
    for r in read_raw(shared_data / "gsm8k" / "test.lines1-500.jsonl"):
        steps = r["answer"].split("\n")
        records.append(
            {"prompt": r["question"], "steps": steps, "labels": [1] * (len(steps) - 1) + [None], "step_separator": "\n",
             "reference_answer": steps[-1].removeprefix("####").strip(), "model": "gsm8k-reference", "source": "gsm8k"}
        )  # fmt: skip
    return write_jsonl(tmp_path / "gsm8k.generic.jsonl", records)


def real(relative: str) -> Callable[[Path, Path], Path]:
    return lambda shared_data, tmp_path: shared_data / relative


SAMPLES: dict[str, tuple[str, Callable[[Path, Path], Path], Callable[[list[dict[str, Any]]], Counts]]] = {
    "prm800k-phase1": ("prm800k", real("prm800k/phase1_train.examples.jsonl"), prm800k_counts),
    "prm800k-phase2": ("prm800k", real("prm800k/phase2_train.examples.jsonl"), prm800k_counts),
    "processbench-gsm8k": ("processbench", real("processbench/gsm8k.jsonl"), processbench_counts),
    "processbench-math": ("processbench", real("processbench/math.jsonl"), processbench_counts),
    "processbench-olympiadbench": ("processbench", real("processbench/olympiadbench.jsonl"), processbench_counts),
    "processbench-omnimath": ("processbench", real("processbench/omnimath.jsonl"), processbench_counts),
    "math_shepherd": ("math_shepherd", real("math_shepherd/openr_samples.jsonl"), math_shepherd_counts),
    "trl": ("trl", trl_from_processbench, trl_counts),
    "jsonl": ("jsonl", jsonl_from_gsm8k, jsonl_counts),
}


def import_traces(path: Path, fmt: str, *args: str) -> tuple[str, str]:
    """Run the command as a user would; returns (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_traces", str(path), "--format", fmt, "--project", "test", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def summary(stdout: str) -> dict[str, int]:
    match = re.search(r"Imported (\d+) traces \((\d+) steps, (\d+) labels.*?; (\d+) duplicates skipped, (\d+) invalid", stdout)
    assert match, stdout
    return dict(zip(["traces", "steps", "labels", "duplicates", "invalid"], map(int, match.groups())))


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_format_imports_what_the_file_holds(shared_data: Path, tmp_path: Path, project, sample: str) -> None:
    fmt, make_path, counts = SAMPLES[sample]
    path = make_path(shared_data, tmp_path)
    records = read_raw(path)
    assert len({json.dumps(r, sort_keys=True) for r in records}) == len(records), "the sample has no repeated line"
    traces, steps, labels = counts(records)

    stdout, _ = import_traces(path, fmt)
    run = Run.objects.get(project=project)
    assert run.status == RunStatus.SUCCEEDED and run.source_format == fmt and run.source_file == str(path)
    assert Trace.objects.filter(run=run).count() == traces
    assert Step.objects.filter(trace__run=run).count() == steps
    assert Label.objects.filter(trace__run=run, source=f"import:{fmt}").count() == labels
    assert summary(stdout) == {"traces": traces, "steps": steps, "labels": labels, "duplicates": 0, "invalid": 0}

    problems = Problem.objects.count()
    again, _ = import_traces(path, fmt)
    assert summary(again) == {"traces": 0, "steps": 0, "labels": 0, "duplicates": traces, "invalid": 0}
    assert (Trace.objects.count(), Step.objects.count(), Label.objects.count()) == (traces, steps, labels)
    assert Problem.objects.count() == problems


# Per format: a real record made invalid in one field, and the field the error must name.
BREAKS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "prm800k": (
        "prm800k-phase2",
        lambda r: r["label"]["steps"][0]["completions"][0].update(rating=5),
        "label.steps[0].completions[0].rating",
    ),
    "processbench": ("processbench-math", lambda r: r.update(label=len(r["steps"])), "label"),
    "math_shepherd": ("math_shepherd", lambda r: r.update(label=r["label"].replace(" +", " ?", 1)), "label"),
    "trl": ("trl", lambda r: r["labels"].append(True), "labels"),
    "jsonl": ("jsonl", lambda r: r["steps"].__setitem__(0, 42), "steps[0]"),
}  # fmt: skip


def file_with_bad_line(shared_data: Path, tmp_path: Path, fmt: str) -> tuple[Path, int, str, int]:
    """A copy of a sample's first 7 lines whose line 4 is broken: (path, bad line, field, good lines)."""
    sample, corrupt, field = BREAKS[fmt]
    records = read_raw(SAMPLES[sample][1](shared_data, tmp_path))[:7]
    corrupt(records[3])
    return write_jsonl(tmp_path / f"one-bad-line.{fmt}.jsonl", records), 4, field, len(records) - 1


@pytest.mark.parametrize("fmt", BREAKS)
def test_a_bad_line_fails_the_whole_import(shared_data: Path, tmp_path: Path, project, fmt: str) -> None:
    path, line, field, _ = file_with_bad_line(shared_data, tmp_path, fmt)
    with pytest.raises(CommandError) as failed:
        import_traces(path, fmt)
    assert f"nothing was imported: {path}, line {line}, field '{field}':" in str(failed.value)
    assert (Trace.objects.count(), Step.objects.count(), Label.objects.count(), Problem.objects.count()) == (0, 0, 0, 0)
    assert Run.objects.get().status == RunStatus.FAILED


@pytest.mark.parametrize("fmt", BREAKS)
def test_skip_invalid_imports_the_rest_and_reports_the_line(shared_data: Path, tmp_path: Path, project, fmt: str) -> None:
    path, line, field, good = file_with_bad_line(shared_data, tmp_path, fmt)
    stdout, stderr = import_traces(path, fmt, "--skip-invalid")
    assert summary(stdout)["traces"] == good and summary(stdout)["invalid"] == 1
    assert Trace.objects.count() == good
    assert f"skipped {path}, line {line}, field '{field}':" in stderr


def test_trl_step_separator_as_typed_on_a_command_line(shared_data: Path, tmp_path: Path, project) -> None:
    path = trl_from_processbench(shared_data, tmp_path)
    records = read_raw(path)
    import_traces(path, "trl", "--step-separator", "\\n\\n")
    stored = Trace.objects.order_by("sample_index")
    assert [t.raw_text for t in stored] == ["\n\n".join(r["completions"]) for r in records]
    first = stored.first()
    spans = [first.raw_text[s.char_start : s.char_end] for s in Step.objects.filter(trace=first).order_by("index")]
    assert spans == records[0]["completions"]
    assert Run.objects.get().params == {"step_separator": "\n\n"}


def test_step_separator_is_refused_for_formats_without_one(shared_data: Path, project) -> None:
    with pytest.raises(CommandError, match="'prm800k' has no configurable step separator"):
        import_traces(shared_data / "prm800k" / "phase2_train.examples.jsonl", "prm800k", "--step-separator", "\\n")
    assert not Run.objects.exists()


def test_unknown_escape_in_step_separator(shared_data: Path, project) -> None:
    with pytest.raises(CommandError, match=r"unknown escape \\q"):
        import_traces(shared_data / "prm800k" / "phase2_train.examples.jsonl", "trl", "--step-separator", "\\q")


def test_unknown_format_lists_the_valid_ones(shared_data: Path, project) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'csv'.*jsonl.*math_shepherd.*prm800k.*prmbench.*processbench.*trl"):
        import_traces(shared_data / "prm800k" / "phase2_train.examples.jsonl", "csv")


def test_unknown_project_is_named(shared_data: Path, db) -> None:
    with pytest.raises(CommandError, match="No project 'test'"):
        import_traces(shared_data / "prm800k" / "phase2_train.examples.jsonl", "prm800k")


def test_missing_file_is_named(tmp_path: Path, project) -> None:
    with pytest.raises(CommandError, match="nowhere.jsonl: no such file"):
        import_traces(tmp_path / "nowhere.jsonl", "jsonl")


def test_create_project_refuses_a_slug_that_exists(shared_data: Path, project) -> None:
    """Anyone allowed to create projects may have taken the slug: the import never joins it silently."""
    sample = shared_data / "processbench" / "gsm8k.jsonl"
    refusal = (
        "A project 'test' exists already; --create-project only creates a new project. To import into 'test', "
        "check that it is yours and run the command again without --create-project."
    )
    with pytest.raises(CommandError, match=re.escape(refusal)):
        import_traces(sample, "processbench", "--create-project")
    assert not Trace.objects.exists() and not Run.objects.exists()


def test_create_project_creates_a_new_one(shared_data: Path, db) -> None:
    sample = shared_data / "processbench" / "gsm8k.jsonl"
    call_command("import_traces", str(sample), format="processbench", project="fresh", create_project=True,
                 no_analyze=True, stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    assert Trace.objects.filter(project__slug="fresh").count() == len(read_raw(sample))


def test_think_format_is_reported_per_model_or_set_for_the_file(tmp_path: Path, project) -> None:
    """Without --think-format each model's format is decided from its traces and printed with why;
    with it, every trace of the file is read that way and the run records the choice."""
    records = [{"prompt": "2+2?", "completion": f"So 2+2=4.</think>The answer is {n}.", "model": "distill"} for n in (4, 5)]
    path = write_jsonl(tmp_path / "distill.jsonl", records)
    stdout, _ = import_traces(path, "jsonl", "--no-analyze")
    assert "Think format of distill: think_in_prompt (detected: of 2 traces, 2 close </think> without opening it)." in stdout
    assert {t.think_end for t in Trace.objects.all()} == {len("So 2+2=4.")}

    Trace.objects.all().delete()
    stdout, _ = import_traces(path, "jsonl", "--no-analyze", "--think-format", "none")
    assert "Think format of distill: none (chosen for this import)." in stdout
    assert {(t.think_end, t.answer_start) for t in Trace.objects.all()} == {(0, 0)}
    assert Run.objects.latest("pk").params == {"think_format": "none"}
    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        import_traces(path, "jsonl", "--think-format", "xml")
