"""Math-Shepherd reader and writer on the real lines in ../shared/data/math_shepherd (SPEC §2)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from traces.formats.base import ParsedTrace
from traces.formats.math_shepherd import render_math_shepherd

SAMPLE = "math_shepherd/openr_samples.jsonl"
TAG = " \u043a\u0438"  # " ки"


def marks(label: str) -> list[int]:
    """The +/− marks at the end of each step line of a ``label`` string, read with a regex."""
    return [1 if mark == "+" else -1 for mark in re.findall(r" ([+-])(?=\n|$)", label)]


def test_every_record_is_read(shared_data: Path, raw_records, parse_file) -> None:
    path = shared_data / SAMPLE
    records = raw_records(path)
    parsed = parse_file(path, "math_shepherd")
    assert all(isinstance(trace, ParsedTrace) for trace in parsed)
    assert len(parsed) == len(records)
    for trace, record in zip(parsed, records):
        problem, solution = record["input"].split("Step 1:", 1)
        lines = ("Step 1:" + solution).split("\n")
        assert trace.prompt == problem.rstrip()
        assert [step.text for step in trace.steps] == [line.removesuffix(TAG) for line in lines]
        assert len(trace.steps) == record["input"].count(TAG)
        assert [step.label for step in trace.steps] == marks(record["label"])
        assert trace.text == "\n".join(step.text for step in trace.steps)
        assert trace.source == record["task"].lower() and trace.meta["task"] == record["task"]
        assert trace.label_source == "import:math_shepherd"


def test_totals_match_the_file(shared_data: Path, raw_records, parse_file) -> None:
    records = raw_records(shared_data / SAMPLE)
    steps = [step for trace in parse_file(shared_data / SAMPLE, "math_shepherd") for step in trace.steps]
    assert sum(step.label == 1 for step in steps) == sum(r["label"].count(" +\n") + r["label"].endswith(" +") for r in records)
    assert sum(step.label == -1 for step in steps) == sum(r["label"].count(" -\n") + r["label"].endswith(" -") for r in records)
    assert len(steps) == sum(r["input"].count(TAG) for r in records)


def test_round_trip_is_byte_for_byte(shared_data: Path, parse_file) -> None:
    """Import then render gives back each original line, bytes included (SPEC §2 export)."""
    path = shared_data / SAMPLE
    lines = path.read_text(encoding="utf-8").splitlines()
    for trace, line in zip(parse_file(path, "math_shepherd"), lines, strict=True):
        rendered = render_math_shepherd(trace.prompt, [s.text for s in trace.steps], [s.label for s in trace.steps], trace.meta)
        assert json.dumps(rendered) == line


def test_render_refuses_labels_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="step 1"):
        render_math_shepherd("p", ["Step 1: a", "Step 2: b"], [1, 0], {})
    with pytest.raises(ValueError, match="2 steps but 1 labels"):
        render_math_shepherd("p", ["Step 1: a", "Step 2: b"], [1], {})
    with pytest.raises(ValueError, match="at least one step"):
        render_math_shepherd("p", [], [], {})


GOOD = {
    "input": "What is 1+1? Step 1: 1+1=2. ки\nStep 2: The answer is: 2 ки",
    "label": "What is 1+1? Step 1: 1+1=2. +\nStep 2: The answer is: 2 -",
    "task": "GSM8K",
}


def test_small_record(parse_lines) -> None:
    (trace,) = parse_lines("math_shepherd", [GOOD])
    assert [(s.text, s.label) for s in trace.steps] == [("Step 1: 1+1=2.", 1), ("Step 2: The answer is: 2", -1)]
    assert trace.first_error == 1 and trace.is_correct is False


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"label": GOOD["label"].replace("2. +", "2. ?")}, "label", "step 1"),
        ({"label": GOOD["label"].replace("1+1=2", "1+1=3")}, "label", "step 1"),
        ({"label": GOOD["label"].replace("What", "Who")}, "label", "problem"),
        ({"label": GOOD["label"] + " +"}, "label", "after the last"),
        ({"input": GOOD["input"].replace("Step 1:", "First:")}, "input", "Step 1:"),
        ({"input": GOOD["input"].removesuffix(" ки")}, "input", "step tag"),
        ({"input": "Step 1: 1+1=2. ки"}, "input", "empty problem"),
        ({"input": 12}, "input", "string"),
        ({"task": None}, "task", "string"),
    ],
)
def test_bad_values_name_the_field(only_error, change: dict[str, Any], field: str, says: str) -> None:
    error = only_error("math_shepherd", GOOD, {**GOOD, **change})
    assert error.field == field and says in error.message


@pytest.mark.parametrize("missing", ["input", "label", "task"])
def test_missing_fields_name_the_field(only_error, missing: str) -> None:
    error = only_error("math_shepherd", GOOD, {k: v for k, v in GOOD.items() if k != missing})
    assert error.field == missing and "missing" in error.message
