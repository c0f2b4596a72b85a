"""PRMBench reader on every real line in ../shared/data/prmbench (8 error classes, 320 lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from traces.formats.base import ParsedTrace
from traces.formats.prmbench import source_id

CLASSES = ["circular", "confidence", "counterfactual", "deception", "domain_inconsistency", "missing_condition",
           "redundency", "step_contradiction"]  # fmt: skip


@pytest.mark.parametrize("name", CLASSES)
def test_every_line_is_read_with_its_error_steps(shared_data: Path, raw_records, parse_file, name: str) -> None:
    path = shared_data / "prmbench" / f"prm800k_test_p2_4o_{name}.lines1-40.jsonl"
    records = raw_records(path)
    parsed = parse_file(path, "prmbench")
    assert len(parsed) == len(records) == 40 and all(isinstance(trace, ParsedTrace) for trace in parsed)
    for trace, record in zip(parsed, records, strict=True):
        assert trace.prompt == record["modified_question"]
        assert [step.text for step in trace.steps] == record["modified_process"]
        wrong = [k for k, step in enumerate(trace.steps, start=1) if step.label == -1]
        assert wrong == sorted(k for k in set(record["error_steps"]) if k <= len(record["modified_process"]))
        assert all(step.label == 1 for k, step in enumerate(trace.steps, start=1) if k not in record["error_steps"])
        assert trace.first_error == (wrong[0] - 1 if wrong else None)
        assert (trace.split, trace.source, trace.label_source) == (name, "prmbench", "import:prmbench")
        for key in ("original_question", "original_process", "modified_steps", "error_steps", "reason", "question"):
            assert trace.meta[key] == record[key]
        assert source_id(trace.meta) == f"{name}_{record['idx']}"


def test_error_steps_past_the_end_label_nothing(shared_data: Path, parse_file) -> None:
    """Some circular lines list error steps beyond their last step: those label no step."""
    path = shared_data / "prmbench" / "prm800k_test_p2_4o_circular.lines1-40.jsonl"
    parsed = parse_file(path, "prmbench")
    past = [trace for trace in parsed if max(trace.meta["error_steps"]) > len(trace.steps)]
    assert past
    for trace in past:
        inside = [k for k in trace.meta["error_steps"] if k <= len(trace.steps)]
        assert sum(step.label == -1 for step in trace.steps) == len(set(inside))


def test_bad_step_numbers_name_the_field(shared_data: Path, raw_records, only_error) -> None:
    good = raw_records(shared_data / "prmbench" / "prm800k_test_p2_4o_confidence.lines1-40.jsonl")[0]
    error = only_error("prmbench", good, {**good, "error_steps": [2, 0]})
    assert error.field == "error_steps[1]" and "start at 1" in error.message
    error = only_error("prmbench", good, {**good, "modified_process": []})
    assert error.field == "modified_process"
