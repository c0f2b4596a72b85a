"""The import action on the real samples: what each format's labels become, failures, scale.

Row counts per format, re-import and the CLI are in tests/traces/test_import_command.py; here the
stored values are checked against the raw files, read independently of the importer.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from traces.actions.imports import ImportFailed, do_import
from traces.models import Label, Problem, Run, RunStatus, Step, Trace, TraceAnnotation

pytestmark = pytest.mark.django_db


def raw_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def stored_steps(trace: Trace) -> list[tuple[str, list[int]]]:
    """(text, label values) of each step of a stored trace, in order."""
    steps = Step.objects.filter(trace=trace).order_by("index").prefetch_related("labels")
    return [(trace.raw_text[s.char_start : s.char_end], [label.value for label in s.labels.all()]) for s in steps]


@pytest.mark.parametrize("name", ["phase1_train.examples.jsonl", "phase2_train.examples.jsonl"])
def test_prm800k_keeps_every_alternative_and_rating(shared_data: Path, project, name: str) -> None:
    path = shared_data / "prm800k" / name
    records = raw_lines(path)
    result = do_import(project, path, "prm800k")
    traces = Trace.objects.filter(run=result.run).order_by("sample_index")
    assert traces.count() == len(records)
    for trace, record in zip(traces, records):
        raw_steps = record["label"]["steps"]
        assert list(Step.objects.filter(trace=trace).order_by("index").values_list("alternatives", flat=True)) == raw_steps
        for (text, labels), raw in zip(stored_steps(trace), raw_steps, strict=True):
            candidates = raw["completions"] + ([raw["human_completion"]] if raw["human_completion"] else [])
            ratings = {c["rating"] for c in candidates if c["text"] == text}
            assert ratings, f"step text {text[:40]!r} is none of its completions"
            assert labels == [r for r in ratings if r is not None][:1]
    assert set(Label.objects.filter(trace__run=result.run).values_list("source", flat=True)) == {"import:prm800k"}
    assert result.run.status == RunStatus.SUCCEEDED


@pytest.mark.parametrize("split", ["gsm8k", "math", "olympiadbench", "omnimath"])
def test_processbench_keeps_first_error(shared_data: Path, project, split: str) -> None:
    path = shared_data / "processbench" / f"{split}.jsonl"
    records = raw_lines(path)
    result = do_import(project, path, "processbench")
    first_errors = dict(
        TraceAnnotation.objects.filter(trace__run=result.run).values_list("trace__meta__line_no", "first_error_step")
    )
    assert first_errors == {i: r["label"] for i, r in enumerate(records, start=1)}
    wrong = Label.objects.filter(trace__run=result.run, value=-1).count()
    assert wrong == sum(1 for r in records if r["label"] >= 0)
    traces = Trace.objects.filter(run=result.run).order_by("sample_index").select_related("model")
    assert [(t.model.name, t.is_correct, t.meta["id"]) for t in traces] == [
        (r["generator"], r["final_answer_correct"], r["id"]) for r in records
    ]


def test_math_shepherd_keeps_plus_minus(shared_data: Path, project) -> None:
    path = shared_data / "math_shepherd" / "openr_samples.jsonl"
    records = raw_lines(path)
    result = do_import(project, path, "math_shepherd")
    for trace, record in zip(Trace.objects.filter(run=result.run).order_by("sample_index"), records, strict=True):
        marks = re.findall(r" ([+-])(?=\n|$)", record["label"])
        assert [labels for _, labels in stored_steps(trace)] == [[1 if m == "+" else -1] for m in marks]


def test_trl_labels_and_first_error(tmp_path: Path, shared_data: Path, project) -> None:
    """TRL lines built from ProcessBench: bools become ±1 and the first false step the first error."""
    records = []
    for r in raw_lines(shared_data / "processbench" / "math.jsonl"):
        labels = [r["label"] == -1 or j < r["label"] for j in range(len(r["steps"]))]
        records.append({"prompt": r["problem"], "completions": r["steps"], "labels": labels})
    path = tmp_path / "math.trl.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = do_import(project, path, "trl")
    for trace, record in zip(Trace.objects.filter(run=result.run).order_by("sample_index"), records, strict=True):
        assert stored_steps(trace) == [(text, [1 if ok else -1]) for text, ok in zip(record["completions"], record["labels"])]
        annotation = TraceAnnotation.objects.get(trace=trace)
        assert annotation.first_error_step == (record["labels"].index(False) if False in record["labels"] else -1)
        assert annotation.source == "import:trl"


def test_generic_jsonl_gsm8k_solutions_grade_correct(tmp_path: Path, shared_data: Path, project) -> None:
    """GSM8K reference solutions imported as completions: segmented, and correct against their own answer."""
    records = raw_lines(shared_data / "gsm8k" / "test.lines1-500.jsonl")[:60]
    lines = [
        {"prompt": r["question"], "completion": r["answer"], "reference_answer": r["answer"].rsplit("####", 1)[1].strip()}
        for r in records
    ]
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = do_import(project, path, "jsonl")
    traces = Trace.objects.filter(run=result.run)
    assert traces.count() == len(records)
    assert list(traces.values_list("is_correct", flat=True).distinct()) == [True]
    assert not Step.objects.filter(trace__run=result.run, char_end__lte=0).exists()
    with_steps = set(Step.objects.filter(trace__run=result.run).values_list("trace_id", flat=True))
    assert with_steps == set(traces.values_list("id", flat=True))


def test_bad_line_aborts_whole_import(tmp_path: Path, shared_data: Path, project) -> None:
    lines = (shared_data / "processbench" / "gsm8k.jsonl").read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[2])
    bad["steps"] = "not a list"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([lines[0], lines[1], json.dumps(bad), lines[3]]) + "\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        do_import(project, path, "processbench")
    assert "line 3" in str(failed.value) and "steps" in str(failed.value) and "bad.jsonl" in str(failed.value)
    assert Trace.objects.count() == 0 and Problem.objects.count() == 0 and Step.objects.count() == 0
    run = Run.objects.get()
    assert run.status == RunStatus.FAILED and "line 3" in run.error
    assert run.report == {"error": {"line": 3, "field": "steps", "message": "expected a list, got string"}}


def test_skip_invalid_imports_the_rest(tmp_path: Path, shared_data: Path, project) -> None:
    lines = (shared_data / "processbench" / "gsm8k.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    lines.insert(2, "{truncated")
    path = tmp_path / "some-bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = do_import(project, path, "processbench", skip_invalid=True)
    assert result.store.traces_created == 5
    assert result.skipped_count == 1 and result.skipped[0].line_no == 3
    assert result.run.report["skipped"][0]["line"] == 3


def test_non_utf8_file_is_refused(tmp_path: Path, project) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"prompt": "caf\u00e9", "completion": "x"}\n'.encode("latin-1"))
    with pytest.raises(ImportFailed, match="not UTF-8"):
        do_import(project, path, "jsonl")
    assert Trace.objects.count() == 0


def test_step_separator_is_recorded_on_the_run(tmp_path: Path, project) -> None:
    path = tmp_path / "tiny.trl.jsonl"
    line = {"prompt": "1+1?", "completions": ["1+1=2", "So 2."], "labels": [True, True]}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = do_import(project, path, "trl", step_separator=" | ")
    assert result.run.params == {"step_separator": " | "}
    assert Trace.objects.get().raw_text == "1+1=2 | So 2."


def test_a_100k_line_file_streams_through(tmp_path: Path, project) -> None:
    """Issue 3: 100k-line files must be fine: streamed in batches, every line stored once.

    Small generic-JSONL lines (one given step, every tenth labeled, 100 distinct problems) keep the
    test to the store's own per-row cost; reading in constant memory is measured in
    tests/traces/formats/test_read_records.py.
    """
    lines = 100_000
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            step = f"Sample {i}: {i % 100} + 1 = {i % 100 + 1}."
            record = {"prompt": f"What is {i % 100} + 1?", "steps": [step], "labels": [1 if i % 10 == 0 else None], "model": "m"}
            out.write(json.dumps(record) + "\n")
    started = time.perf_counter()
    result = do_import(project, path, "jsonl")
    seconds = time.perf_counter() - started
    assert result.store.traces_created == lines and result.run.status == RunStatus.SUCCEEDED
    assert (Trace.objects.count(), Step.objects.count(), Label.objects.count()) == (lines, lines, lines // 10)
    assert Problem.objects.count() == 100
    print(f"100k-line import: {seconds:.1f} s, {lines / seconds:.0f} lines/s")


def test_prm800k_give_up_without_completions_is_imported_strictly(shared_data: Path, project, tmp_path: Path) -> None:
    """A give_up record whose last step offered no completions (``null``) and was written by hand
    is imported whole, without --skip-invalid, its human completion the last step."""
    record = raw_lines(shared_data / "prm800k" / "phase1_train.examples.jsonl")[1]
    record["label"]["steps"][-1] = {
        "completions": None,
        "human_completion": {"text": "I cannot see how to go on.", "rating": None, "flagged": None},
        "chosen_completion": None,
    }
    path = tmp_path / "give_up.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = do_import(project, path, "prm800k")
    assert result.store.traces_created == 1 and result.skipped_count == 0
    trace = Trace.objects.get(run=result.run)
    last_text, last_labels = stored_steps(trace)[-1]
    assert (last_text, last_labels) == ("I cannot see how to go on.", [])
    assert Step.objects.filter(trace=trace).order_by("index").last().alternatives == record["label"]["steps"][-1]
