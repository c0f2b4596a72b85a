"""TRL stepwise-supervision reader and writer, on TRL lines built from real ProcessBench data (SPEC §2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traces.formats.base import ParsedTrace
from traces.formats.trl import render_trl


def as_trl(record: dict[str, Any]) -> dict[str, Any]:
    """A ProcessBench record as TRL would train on it: steps up to the first error, labels as bools."""
    first = record["label"]
    steps = record["steps"] if first == -1 else record["steps"][: first + 1]
    return {"prompt": record["problem"], "completions": steps, "labels": [first == -1 or j < first for j in range(len(steps))]}


@pytest.fixture
def trl_file(shared_data: Path, raw_records, tmp_path: Path) -> Path:
    path = tmp_path / "processbench-gsm8k.trl.jsonl"
    records = raw_records(shared_data / "processbench" / "gsm8k.jsonl")
    lines = [json.dumps(as_trl(record), ensure_ascii=False) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_record_is_read(trl_file: Path, raw_records, parse_file) -> None:
    records = raw_records(trl_file)
    parsed = parse_file(trl_file, "trl")
    assert all(isinstance(trace, ParsedTrace) for trace in parsed)
    assert len(parsed) == len(records)
    for trace, record in zip(parsed, records):
        assert trace.prompt == record["prompt"]
        assert [s.text for s in trace.steps] == record["completions"]
        assert [s.label for s in trace.steps] == [1 if flag else -1 for flag in record["labels"]]
        assert trace.text == "\n".join(record["completions"])
        assert trace.first_error == (record["labels"].index(False) if False in record["labels"] else -1)
        assert trace.label_source == "import:trl" and trace.meta == {}
    assert sum(len(t.steps) for t in parsed) == sum(len(r["labels"]) for r in records)
    assert sum(s.label == -1 for t in parsed for s in t.steps) == sum(r["labels"].count(False) for r in records)


def test_round_trip_is_byte_for_byte(trl_file: Path, parse_file) -> None:
    lines = trl_file.read_text(encoding="utf-8").splitlines()
    for trace, line in zip(parse_file(trl_file, "trl"), lines, strict=True):
        rendered = render_trl(trace.prompt, [s.text for s in trace.steps], [s.label for s in trace.steps])
        assert json.dumps(rendered, ensure_ascii=False) == line


def test_step_separator_is_configurable(trl_file: Path, raw_records, parse_file) -> None:
    records = raw_records(trl_file)
    parsed = parse_file(trl_file, "trl", step_separator="\n\n")
    assert [t.text for t in parsed] == ["\n\n".join(r["completions"]) for r in records]
    assert {t.step_separator for t in parsed} == {"\n\n"}


def test_extra_fields_go_to_meta(parse_lines) -> None:
    (trace,) = parse_lines("trl", [{"prompt": "p", "completions": ["a"], "labels": [True], "id": 3, "source": "x"}])
    assert trace.meta == {"extra_fields": {"id": 3, "source": "x"}}
    assert trace.model_name == "unknown" and trace.is_correct is None


def test_render_refuses_labels_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="step 0"):
        render_trl("p", ["a"], [None])
    with pytest.raises(ValueError, match="step 1"):
        render_trl("p", ["a", "b"], [1, 0])
    with pytest.raises(ValueError, match="1 steps but 2 labels"):
        render_trl("p", ["a"], [1, 1])


GOOD = {"prompt": "What is 1+1?", "completions": ["1+1=2.", "The answer is 2."], "labels": [True, True]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"labels": [True]}, "labels"),
        ({"labels": [True, True, False]}, "labels"),
        ({"labels": [True, 1]}, "labels[1]"),
        ({"labels": [None, True]}, "labels[0]"),
        ({"labels": "TT"}, "labels"),
        ({"completions": "1+1=2."}, "completions"),
        ({"completions": []}, "completions"),
        ({"completions": ["a", {"text": "b"}]}, "completions[1]"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": [{"role": "user", "content": "hi"}]}, "prompt"),
    ],
)
def test_bad_values_name_the_field(only_error, change: dict[str, Any], field: str) -> None:
    error = only_error("trl", GOOD, {**GOOD, **change})
    assert error.field == field


@pytest.mark.parametrize("missing", ["prompt", "completions", "labels"])
def test_missing_fields_name_the_field(only_error, missing: str) -> None:
    error = only_error("trl", GOOD, {k: v for k, v in GOOD.items() if k != missing})
    assert error.field == missing and "missing" in error.message


def test_label_count_mismatch_says_both_counts(only_error) -> None:
    error = only_error("trl", GOOD, {**GOOD, "labels": [True]})
    assert "1 labels for 2 completions" in error.message
