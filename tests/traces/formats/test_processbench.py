"""ProcessBench reader on every real record in ../shared/data/processbench (SPEC §2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traces.formats.base import FormatError, ParsedTrace

SPLITS = ["gsm8k", "math", "olympiadbench", "omnimath"]


def expected_labels(record: dict[str, Any]) -> list[int | None]:
    """SPEC §2: ``label`` is the first wrong step; the steps before it are right, after it unrated."""
    first = record["label"]
    return [1 if first == -1 or j < first else -1 if j == first else None for j in range(len(record["steps"]))]


@pytest.mark.parametrize("split", SPLITS)
def test_every_record_is_read(shared_data: Path, raw_records, parse_file, split: str) -> None:
    path = shared_data / "processbench" / f"{split}.jsonl"
    records = raw_records(path)
    parsed = parse_file(path, "processbench")
    assert all(isinstance(trace, ParsedTrace) for trace in parsed)
    assert len(parsed) == len(records)
    for line_no, (trace, record) in enumerate(zip(parsed, records), start=1):
        assert trace.line_no == line_no
        assert trace.prompt == record["problem"]
        assert trace.model_name == record["generator"]
        assert [step.text for step in trace.steps] == record["steps"]
        assert trace.text == "\n\n".join(record["steps"])
        assert [step.label for step in trace.steps] == expected_labels(record)
        assert trace.first_error == record["label"]
        assert trace.is_correct is record["final_answer_correct"]
        assert trace.meta == {"id": record["id"]}
        assert trace.split == split and trace.source == "processbench"
        assert trace.label_source == "import:processbench"


@pytest.mark.parametrize("split", SPLITS)
def test_totals_match_the_file(shared_data: Path, parse_file, split: str) -> None:
    path = shared_data / "processbench" / f"{split}.jsonl"
    with path.open(encoding="utf-8") as fp:
        records = [json.loads(line) for line in fp]
    parsed = parse_file(path, "processbench")
    steps = [step for trace in parsed for step in trace.steps]
    assert len(steps) == sum(len(r["steps"]) for r in records)
    erroneous = [r for r in records if r["label"] >= 0]
    assert sum(step.label == -1 for step in steps) == len(erroneous)
    assert sum(step.label == 1 for step in steps) == sum(r["label"] for r in erroneous) + sum(
        len(r["steps"]) for r in records if r["label"] == -1
    )
    assert sum(step.label is None for step in steps) == sum(len(r["steps"]) - r["label"] - 1 for r in erroneous)


def test_original_json_array_layout(shared_data: Path, tmp_path: Path, raw_records, parse_file) -> None:
    """The upstream files are one JSON array per split: read the same as the JSONL slice."""
    source = shared_data / "processbench" / "gsm8k.jsonl"
    array = tmp_path / "gsm8k.json"
    array.write_text(json.dumps(raw_records(source), indent=2), encoding="utf-8")
    from_array = parse_file(array, "processbench")
    from_lines = parse_file(source, "processbench")
    assert [(t.line_no, t.prompt, t.text, t.first_error) for t in from_array] == [
        (t.line_no, t.prompt, t.text, t.first_error) for t in from_lines
    ]


def test_error_free_record_is_all_positive(parse_lines) -> None:
    record = {"id": "x-1", "generator": "m", "problem": "p", "steps": ["a", "b", "c"], "final_answer_correct": True, "label": -1}
    (trace,) = parse_lines("processbench", [record])
    assert [step.label for step in trace.steps] == [1, 1, 1] and trace.first_error == -1


def test_unknown_fields_are_kept(parse_lines) -> None:
    record = {"id": "noid", "generator": "m", "problem": "p", "steps": ["a"], "label": 0, "difficulty": 3}
    (trace,) = parse_lines("processbench", [record])
    assert trace.meta == {"id": "noid", "extra_fields": {"difficulty": 3}}
    assert trace.split == "" and trace.is_correct is None


GOOD = {"id": "gsm8k-0", "generator": "m", "problem": "p", "steps": ["a", "b"], "final_answer_correct": False, "label": 1}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label": 2}, "label"),  # one past the last step
        ({"label": -2}, "label"),
        ({"label": "1"}, "label"),
        ({"label": True}, "label"),
        ({"label": 1.0}, "label"),
        ({"label": None}, "label"),
        ({"steps": "a\n\nb"}, "steps"),
        ({"steps": []}, "steps"),
        ({"steps": ["a", 2]}, "steps[1]"),
        ({"problem": ""}, "problem"),
        ({"problem": ["p"]}, "problem"),
        ({"generator": 7}, "generator"),
        ({"id": None}, "id"),
        ({"final_answer_correct": "yes"}, "final_answer_correct"),
    ],
)
def test_bad_values_name_the_field(only_error, change: dict[str, Any], field: str) -> None:
    error = only_error("processbench", GOOD, {**GOOD, **change})
    assert error.field == field


@pytest.mark.parametrize("missing", ["id", "generator", "problem", "steps", "label"])
def test_missing_fields_name_the_field(only_error, missing: str) -> None:
    bad = {key: value for key, value in GOOD.items() if key != missing}
    error = only_error("processbench", GOOD, bad)
    assert error.field == missing and "missing" in error.message


def test_out_of_range_label_says_the_valid_range(only_error) -> None:
    error = only_error("processbench", GOOD, {**GOOD, "label": 5})
    assert "0..1" in error.message and "5" in error.message
    assert str(error).startswith("<input>, line 3, field 'label'")


def test_malformed_json_line(only_error) -> None:
    error = only_error("processbench", GOOD, '{"id": "gsm8k-1", "steps": [')
    assert error.field is None and "invalid JSON" in error.message


def test_each_bad_line_is_reported_and_the_rest_read(parse_lines) -> None:
    results = parse_lines("processbench", [GOOD, "[1, 2]", {**GOOD, "label": 9}, GOOD])
    assert [type(r) for r in results] == [ParsedTrace, FormatError, FormatError, ParsedTrace]
    assert [r.line_no for r in results] == [1, 2, 3, 4]
