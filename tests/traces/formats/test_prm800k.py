"""PRM800K reader on every real record in ../shared/data/prm800k, phase 1 and phase 2 (SPEC §2)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from traces.formats.base import ParsedStep, ParsedTrace

FILES = ["phase1_train.examples.jsonl", "phase2_train.examples.jsonl"]


def fields(completion: dict[str, Any]) -> tuple[str, int | None, bool | None]:
    return completion["text"], completion["rating"], completion.get("flagged")


def assert_on_labellers_path(step: ParsedStep, raw: dict[str, Any], is_last: bool) -> None:
    """The step is the completion the labeller took: chosen, else written by hand, else where they stopped."""
    taken = (step.text, step.label, step.flagged)
    if raw["chosen_completion"] is not None:
        assert taken == fields(raw["completions"][raw["chosen_completion"]])
    elif raw["human_completion"] is not None:
        assert taken == fields(raw["human_completion"])
    else:
        assert is_last, "only the step where the labeller stopped has neither a choice nor a human completion"
        wrong = [c for c in raw["completions"] if c["rating"] == -1]
        assert taken == fields((wrong or raw["completions"])[0])


@pytest.mark.parametrize("name", FILES)
def test_every_record_is_read(shared_data: Path, raw_records, parse_file, name: str) -> None:
    path = shared_data / "prm800k" / name
    records = raw_records(path)
    parsed = parse_file(path, "prm800k")
    assert all(isinstance(trace, ParsedTrace) for trace in parsed)
    assert len(parsed) == len(records)
    for trace, record in zip(parsed, records):
        raw_steps = record["label"]["steps"]
        assert trace.prompt == record["question"]["problem"]
        assert trace.reference_answer == record["question"]["ground_truth_answer"]
        assert len(trace.steps) == len(raw_steps)
        for i, (step, raw) in enumerate(zip(trace.steps, raw_steps)):
            assert step.alternatives == raw  # every completion, rating, flag and the human completion
            assert_on_labellers_path(step, raw, is_last=i == len(raw_steps) - 1)
            # A person wrote the step exactly when the path took the human completion (rule 2).
            assert step.human_written == (raw["chosen_completion"] is None and raw["human_completion"] is not None)
        assert trace.text == "\n\n".join(step.text for step in trace.steps)
        assert trace.label_source == "import:prm800k"
        for key in ("labeler", "timestamp", "generation", "is_quality_control_question", "is_initial_screening_question"):
            assert trace.meta[key] == record[key]
        assert trace.meta["total_time"] == record["label"]["total_time"]
        assert trace.meta["finish_reason"] == record["label"]["finish_reason"]
        generation = record["generation"]
        assert trace.model_name == ("prm800k-generator" if generation is None else f"prm800k-gen-{generation}")
        ratings = [step.label for step in trace.steps]
        if -1 in ratings:
            assert trace.first_error == ratings.index(-1)
        else:
            assert trace.first_error == (-1 if record["label"]["finish_reason"] == "solution" else None)


def test_phase_1_marks_the_steps_its_labellers_wrote(shared_data: Path, parse_file) -> None:
    """The phase-1 samples take the human completion at 13 steps of their three records."""
    parsed = parse_file(shared_data / "prm800k" / FILES[0], "prm800k")
    written = [[i for i, step in enumerate(trace.steps) if step.human_written] for trace in parsed]
    assert written == [[1], [1, 5, 6, 14, 18, 19, 21, 22, 26, 27], [0, 4]]
    assert all(trace.steps[i].label is None for trace, positions in zip(parsed, written) for i in positions)


@pytest.mark.parametrize("name", FILES)
def test_nothing_of_the_record_is_lost(shared_data: Path, raw_records, parse_file, name: str) -> None:
    """Prompt, reference, meta, problem_meta and the steps' raw records rebuild each line exactly."""
    path = shared_data / "prm800k" / name
    for trace, record in zip(parse_file(path, "prm800k"), raw_records(path)):
        meta = dict(trace.meta)
        label = {"steps": [step.alternatives for step in trace.steps]}
        label.update({key: meta.pop(key) for key in ("total_time", "finish_reason")})
        question = {"problem": trace.prompt, "ground_truth_answer": trace.reference_answer, **trace.problem_meta}
        question.update({key: meta.pop(key) for key in list(meta) if key.startswith("pre_generated_")})
        rebuilt = {**meta, "question": question, "label": label}
        assert rebuilt == record


def test_alternatives_and_ratings_are_all_kept(shared_data: Path, raw_records, parse_file) -> None:
    for name in FILES:
        path = shared_data / "prm800k" / name
        records = raw_records(path)
        parsed = parse_file(path, "prm800k")
        kept = [c for trace in parsed for step in trace.steps for c in step.alternatives["completions"]]
        source = [c for r in records for s in r["label"]["steps"] for c in s["completions"]]
        assert [fields(c) for c in kept] == [fields(c) for c in source]
        humans = [s["human_completion"] for r in records for s in r["label"]["steps"] if s["human_completion"]]
        kept_humans = [s.alternatives["human_completion"] for t in parsed for s in t.steps]
        assert [h for h in kept_humans if h] == humans


def first_record(shared_data: Path, raw_records) -> dict[str, Any]:
    return raw_records(shared_data / "prm800k" / "phase1_train.examples.jsonl")[0]


def with_change(record: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["label", "steps", 1, "completions", 2, "rating"], 2, "label.steps[1].completions[2].rating"),
        (["label", "steps", 1, "completions", 0, "rating"], "-1", "label.steps[1].completions[0].rating"),
        (["label", "steps", 0, "completions", 0, "flagged"], "no", "label.steps[0].completions[0].flagged"),
        (["label", "steps", 0, "completions", 0, "text"], None, "label.steps[0].completions[0].text"),
        (["label", "steps", 5, "chosen_completion"], 5, "label.steps[5].chosen_completion"),
        (["label", "steps", 1, "human_completion"], "text", "label.steps[1].human_completion"),
        (["label", "steps", 2], [], "label.steps[2]"),
        (["label", "steps"], {}, "label.steps"),
        (["label", "finish_reason"], "done", "label.finish_reason"),
        (["label", "total_time"], "1s", "label.total_time"),
        (["question", "problem"], " ", "question.problem"),
        (["question", "ground_truth_answer"], ["29"], "question.ground_truth_answer"),
        (["question"], "What is 2+2?", "question"),
        (["generation"], "6", "generation"),
        (["is_quality_control_question"], 0, "is_quality_control_question"),
    ],
)
def test_bad_values_name_the_field(shared_data: Path, raw_records, only_error, path, value, field: str) -> None:
    record = first_record(shared_data, raw_records)
    error = only_error("prm800k", record, with_change(record, path, value))
    assert error.field == field


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (["question"], "question"),
        (["label"], "label"),
        (["question", "problem"], "question.problem"),
        (["label", "steps"], "label.steps"),
        (["label", "steps", 3, "completions"], "label.steps[3].completions"),
        (["label", "steps", 3, "completions", 0, "text"], "label.steps[3].completions[0].text"),
    ],
)
def test_missing_fields_name_the_field(shared_data: Path, raw_records, only_error, path, field: str) -> None:
    record = copy.deepcopy(first_record(shared_data, raw_records))
    target = record
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    error = only_error("prm800k", first_record(shared_data, raw_records), record)
    assert error.field == field and "missing" in error.message


def give_up_by_hand(shared_data: Path, raw_records) -> dict[str, Any]:
    """The real phase-1 give_up record, its last step reshaped as the labeller who gives up and
    writes the step by hand leaves it: no completions offered (``null``), a human completion."""
    record = copy.deepcopy(raw_records(shared_data / "prm800k" / "phase1_train.examples.jsonl")[1])
    assert record["label"]["finish_reason"] == "give_up"
    record["label"]["steps"][-1] = {
        "completions": None,
        "human_completion": {"text": "I give up: I cannot finish this one.", "rating": None, "flagged": None},
        "chosen_completion": None,
    }
    return record


@pytest.mark.parametrize("offered", [None, []])
def test_a_step_without_completions_follows_its_human_completion(
    shared_data: Path, raw_records, parse_lines, offered: list[Any] | None
) -> None:
    """``completions: null`` and ``[]`` both mean none were offered: the record is read, its human
    completion is the step's text, and the raw step keeps what the file said."""
    record = give_up_by_hand(shared_data, raw_records)
    record["label"]["steps"][-1]["completions"] = offered
    [trace] = parse_lines("prm800k", [record])
    last = trace.steps[-1]
    assert (last.text, last.label) == ("I give up: I cannot finish this one.", None)
    assert last.alternatives == record["label"]["steps"][-1]
    assert trace.first_error is None and trace.meta["finish_reason"] == "give_up"
    assert len(trace.steps) == len(record["label"]["steps"])


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"completions": None, "human_completion": None, "chosen_completion": None}, "completions"),
        ({"completions": None, "human_completion": None, "chosen_completion": 0}, "chosen_completion"),
        ({"completions": "none", "human_completion": None, "chosen_completion": None}, "completions"),
    ],
)
def test_a_step_with_nothing_to_follow_is_still_refused(shared_data: Path, raw_records, only_error, step, field) -> None:
    record = give_up_by_hand(shared_data, raw_records)
    bad = with_change(record, ["label", "steps", len(record["label"]["steps"]) - 1], step)
    error = only_error("prm800k", record, bad)
    assert error.field == f"label.steps[{len(record['label']['steps']) - 1}].{field}"
