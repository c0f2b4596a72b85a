"""thinkscope's generic JSONL reader, on GSM8K solutions mapped into its shape (SPEC §2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traces.formats.base import ParsedTrace

GSM8K = "gsm8k/test.lines1-500.jsonl"


def as_generic(record: dict[str, Any], line_no: int) -> dict[str, Any]:
    """A GSM8K record as a generic-JSONL trace: the worked solution is the completion."""
    return {
        "prompt": record["question"],
        "completion": record["answer"],
        "reference_answer": record["answer"].rsplit("####", 1)[1].strip(),
        "model": "gsm8k-reference",
        "source": "gsm8k",
        "split": "test",
        "problem_id": line_no,
        "finish_reason": "stop",
    }


def as_labeled_steps(record: dict[str, Any]) -> dict[str, Any]:
    """The same solution with its lines as given steps, each labeled correct."""
    steps = record["answer"].split("\n")
    return {"problem": record["question"], "steps": steps, "labels": [True] * len(steps), "step_separator": "\n"}


@pytest.fixture
def gsm8k(shared_data: Path, raw_records) -> list[dict[str, Any]]:
    return raw_records(shared_data / GSM8K)


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_every_gsm8k_solution_is_read(gsm8k, tmp_path: Path, parse_file) -> None:
    generic = [as_generic(record, n) for n, record in enumerate(gsm8k, start=1)]
    parsed = parse_file(write(tmp_path / "gsm8k.jsonl", generic), "jsonl")
    assert all(isinstance(trace, ParsedTrace) for trace in parsed)
    assert len(parsed) == len(gsm8k)
    for trace, record, line in zip(parsed, gsm8k, generic):
        assert trace.prompt == record["question"] and trace.text == record["answer"]
        assert trace.reference_answer == line["reference_answer"]
        assert trace.problem_id == str(line["problem_id"]) and (trace.source, trace.split) == ("gsm8k", "test")
        assert trace.model_name == "gsm8k-reference" and trace.finish_reason == "stop"
        assert trace.steps is None and trace.label_source == "import:jsonl" and trace.meta == {}


def test_given_steps_and_labels(gsm8k, tmp_path: Path, parse_file) -> None:
    parsed = parse_file(write(tmp_path / "steps.jsonl", [as_labeled_steps(r) for r in gsm8k]), "jsonl")
    assert [t.text for t in parsed] == [r["answer"] for r in gsm8k]
    assert sum(len(t.steps) for t in parsed) == sum(r["answer"].count("\n") + 1 for r in gsm8k)
    assert {s.label for t in parsed for s in t.steps} == {1}


def test_unknown_fields_and_aliases_are_kept(parse_lines) -> None:
    line = {"prompt": "p", "problem": "other", "completion": "c", "score": 0.5}
    (trace,) = parse_lines("jsonl", [line])
    assert trace.prompt == "p" and trace.meta == {"extra_fields": {"problem": "other", "score": 0.5}}


def test_a_lines_think_format_is_left_to_the_import_unless_it_names_one(parse_lines) -> None:
    """A reasoning_content does not set the line's format: the import decides it once per model
    (docs/concepts.md §1); a line's own ``think_format`` is kept."""
    lines = [
        {"prompt": "p", "reasoning_content": "hmm", "completion": "4"},
        {"prompt": "p", "completion": "hmm</think>4", "think_format": "think_in_prompt"},
    ]
    first, second = parse_lines("jsonl", lines)
    assert (first.reasoning_content, first.think_format, second.think_format) == ("hmm", "auto", "think_in_prompt")


def test_a_null_completion_is_an_empty_one(parse_lines) -> None:
    """``completion: null`` says the model returned nothing (a source's record of an empty
    output); a line with no completion at all is still refused."""
    (trace,) = parse_lines("jsonl", [{"prompt": "p", "completion": None, "reasoning_content": None}])
    assert (trace.text, trace.reasoning_content) == ("", None)


GOOD = {"prompt": "What is 1+1?", "completion": "2", "steps": ["1+1", "=2"], "labels": [1, 0]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"labels": [1]}, "labels"),
        ({"labels": [1, 2]}, "labels[1]"),
        ({"labels": [1, "+"]}, "labels[1]"),
        ({"steps": ["1+1", {"text": "=2", "label": -1}], "labels": [1, 1]}, "labels[1]"),
        ({"steps": ["1+1", {"text": "=2", "why": "x"}]}, "steps[1].why"),
        ({"steps": ["1+1", {"label": 1}]}, "steps[1].text"),
        ({"steps": "1+1 =2"}, "steps"),
        ({"first_error": 2}, "first_error"),
        ({"first_error": -2}, "first_error"),
        ({"think_format": "xml"}, "think_format"),
        ({"sample_index": -1}, "sample_index"),
        ({"think_tokens": 1.5}, "think_tokens"),
        ({"is_correct": "true"}, "is_correct"),
        ({"meta": []}, "meta"),
        ({"meta": {"extra_fields": 1}, "unknown": 1}, "meta.extra_fields"),
        ({"logprobs": {}}, "logprobs"),
        ({"prompt": "  "}, "prompt"),
        ({"model": ["m"]}, "model"),
        ({"completion": 2}, "completion"),
    ],
)
def test_bad_values_name_the_field(only_error, change: dict[str, Any], field: str) -> None:
    error = only_error("jsonl", GOOD, {**GOOD, **change})
    assert error.field == field


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"completion": "2"}, "prompt"),
        ({"prompt": "p"}, "completion"),
        ({"prompt": "p", "completion": "c", "labels": [1]}, "labels"),
    ],
)
def test_missing_fields_name_the_field(only_error, line: dict[str, Any], field: str) -> None:
    assert only_error("jsonl", GOOD, line).field == field
