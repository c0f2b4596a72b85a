"""Property tests: whatever a line holds, every reader yields a well-formed trace or a FormatError."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traces.formats import FORMAT_NAMES, get_parser
from traces.formats.base import FormatError, ParsedTrace, read_records

#: Each format's top-level field names (SPEC §2), so generated records reach past "missing field".
FIELDS = {
    "jsonl": ["prompt", "problem", "completion", "text", "reference_answer", "model", "reasoning_content", "steps",
              "labels", "step_separator", "first_error", "is_correct", "meta", "think_tokens", "answer_tokens",
              "sample_index", "think_format", "logprobs", "finish_reason"],
    "prm800k": ["labeler", "timestamp", "generation", "is_quality_control_question", "question", "label"],
    "math_shepherd": ["input", "label", "task"],
    "processbench": ["id", "generator", "problem", "steps", "final_answer_correct", "label"],
    "prmbench": ["idx", "classification", "modified_question", "modified_process", "error_steps", "modified_steps",
                 "original_question", "original_process", "reason", "question"],
    "trl": ["prompt", "completions", "labels"],
}  # fmt: skip

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=10,
)

PROPERTY = settings(max_examples=60, deadline=None)


def real_record(shared_data: Path, fmt: str) -> dict[str, Any]:
    """One real record of each format (TRL and generic JSONL built from real ProcessBench/GSM8K lines)."""
    first_line = {
        "prm800k": "prm800k/phase1_train.examples.jsonl",
        "math_shepherd": "math_shepherd/openr_samples.jsonl",
        "processbench": "processbench/gsm8k.jsonl",
        "prmbench": "prmbench/prm800k_test_p2_4o_circular.lines1-40.jsonl",
        "trl": "processbench/gsm8k.jsonl",
        "jsonl": "gsm8k/test.lines1-500.jsonl",
    }[fmt]
    with (shared_data / first_line).open(encoding="utf-8") as fp:
        record: dict[str, Any] = json.loads(fp.readline())
    if fmt == "trl":
        return {"prompt": record["problem"], "completions": record["steps"], "labels": [True] * len(record["steps"])}
    if fmt == "jsonl":
        steps = record["answer"].split("\n")
        return {"prompt": record["question"], "steps": steps, "labels": [1] * len(steps), "step_separator": "\n",
                "reference_answer": "18", "first_error": -1, "meta": {"n": 1}}  # fmt: skip
    return record


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every position inside a decoded JSON value, the value itself first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutated(record: dict[str, Any], path: tuple[str | int, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(record)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


def read_line(fmt: str, line: str) -> list[ParsedTrace | FormatError]:
    """Read one line; anything raised but a FormatError (a bad JSON-array file) fails the test."""
    try:
        results = list(read_records(io.StringIO(line + "\n", newline=""), get_parser(fmt)))
    except FormatError as error:
        results = [error]
    for result in results:
        if isinstance(result, FormatError):
            assert isinstance(result.line_no, int) and result.line_no >= 1 and result.message
        else:
            assert_well_formed(result)
    return results


def assert_well_formed(trace: ParsedTrace) -> None:
    """What the store relies on: strings where text goes, labels in {−1, 0, +1}, JSON-storable meta."""
    assert isinstance(trace.prompt, str) and trace.prompt.strip()
    assert isinstance(trace.text, str) and isinstance(trace.model_name, str)
    if trace.steps is not None:
        assert all(isinstance(step.text, str) and step.label in (-1, 0, 1, None) for step in trace.steps)
        if trace.first_error is not None:
            assert -1 <= trace.first_error < len(trace.steps)
    json.dumps([trace.meta, trace.problem_meta, [s.alternatives for s in trace.steps or []]], allow_nan=False)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@PROPERTY
@given(value=JSON_VALUES)
def test_any_json_value(fmt: str, value: Any) -> None:
    read_line(fmt, json.dumps(value))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@PROPERTY
@given(line=st.text(max_size=200))
def test_any_text(fmt: str, line: str) -> None:
    read_line(fmt, line.replace("\n", " ").replace("\r", " "))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_records_of_the_formats_fields(fmt: str, data: st.DataObject) -> None:
    record = data.draw(st.dictionaries(st.sampled_from(FIELDS[fmt]), JSON_VALUES, min_size=1))
    read_line(fmt, json.dumps(record))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_a_real_record_with_one_value_changed(shared_data: Path, fmt: str, data: st.DataObject) -> None:
    record = real_record(shared_data, fmt)
    assert all(isinstance(r, ParsedTrace) for r in read_line(fmt, json.dumps(record)))
    path = data.draw(st.sampled_from(list(paths(record))))
    delete = bool(path) and data.draw(st.booleans())
    read_line(fmt, json.dumps(mutated(record, path, data.draw(JSON_VALUES), delete)))
