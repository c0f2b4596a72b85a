"""The export renderers (SPEC §2 exports) on hand-built traces: no database."""

from __future__ import annotations

import pytest

from traces.exports.policy import LabelPolicy, SourcedLabel
from traces.exports.records import (
    FIRST_ERROR_UNDETERMINED,
    FIRST_STEP_UNLABELLED,
    NO_LABELLED_STEP,
    ExportStep,
    ExportTrace,
    RenderSettings,
    SkipTrace,
)
from traces.formats.base import ParsedTrace
from traces.formats.flat import render_flat_record
from traces.formats.math_shepherd import parse_record as parse_math_shepherd
from traces.formats.math_shepherd import render_math_shepherd_record
from traces.formats.prm800k import render_prm800k_record
from traces.formats.processbench import render_processbench_record
from traces.formats.trl import render_trl_record, trl_completion

SOURCE = "llm_judge:test"
KEEP = LabelPolicy(sources=SOURCE)
DEFAULT = RenderSettings()


def make_trace(texts: list[str], values: list[int | None], **fields: object) -> ExportTrace:
    steps = tuple(
        ExportStep(i, text, () if value is None else (SourcedLabel(SOURCE, value),))
        for i, (text, value) in enumerate(zip(texts, values, strict=True))
    )
    base: dict[str, object] = {
        "id": 7,
        "prompt": "What is 2 + 2?",
        "reference_answer": "4",
        "problem_id": 3,
        "problem_hash": "ab" * 32,
        "model": "model-a",
        "run_id": 1,
        "steps": steps,
    }
    return ExportTrace(**{**base, **fields})


@pytest.mark.parametrize(
    ("text", "separator", "expected"),
    [
        ("Add them.\n\n", "\n", "Add them."),
        ("Add them.\n", "\n\n", "Add them."),
        ("Add them. ки", " ки", "Add them."),
        ("Line one\nline two", "\n", "Line one\nline two"),
        ("Keep   ", "", "Keep"),
    ],
)
def test_trl_completion_leaves_the_separator_to_trl(text: str, separator: str, expected: str) -> None:
    assert trl_completion(text, separator) == expected


def test_trl_record_is_the_labelled_prefix_with_bool_labels() -> None:
    trace = make_trace(["Two plus two.\n", "Is five.\n", "No, four.\n", "Done."], [1, -1, 1, None])
    record = render_trl_record(trace, KEEP, DEFAULT)
    assert record == {
        "prompt": "What is 2 + 2?",
        "completions": ["Two plus two.", "Is five.", "No, four."],
        "labels": [True, False, True],
    }
    cut = render_trl_record(trace, LabelPolicy(sources=SOURCE, after_error="cut"), DEFAULT)
    assert cut["labels"] == [True, False]


def test_trl_record_skips_a_trace_without_labels() -> None:
    with pytest.raises(SkipTrace, match=NO_LABELLED_STEP):
        render_trl_record(make_trace(["a", "b"], [None, None]), KEEP, DEFAULT)


def test_trl_record_says_why_a_trace_labelled_after_its_first_step_is_skipped() -> None:
    with pytest.raises(SkipTrace) as skipped:
        render_trl_record(make_trace(["a", "b"], [None, 1]), KEEP, DEFAULT)
    assert str(skipped.value) == FIRST_STEP_UNLABELLED


def test_math_shepherd_record_numbers_steps_of_other_sources() -> None:
    trace = make_trace(["Add 2 and 2.\n", "It is 4."], [1, -1], problem_source="gsm8k")
    record = render_math_shepherd_record(trace, KEEP, DEFAULT)
    assert record == {
        "input": "What is 2 + 2? Step 1: Add 2 and 2. ки\nStep 2: It is 4. ки",
        "label": "What is 2 + 2? Step 1: Add 2 and 2. +\nStep 2: It is 4. -",
        "task": "GSM8K",
    }
    reparsed: ParsedTrace = parse_math_shepherd(record, 1)[0]
    assert [s.label for s in reparsed.steps or []] == [1, -1]


def test_math_shepherd_record_maps_neutral() -> None:
    trace = make_trace(["a", "b", "c"], [1, 0, 1])
    positive = render_math_shepherd_record(trace, LabelPolicy(sources=SOURCE, neutral="positive"), DEFAULT)
    assert positive["label"].endswith("Step 1: a +\nStep 2: b +\nStep 3: c +")
    dropped = render_math_shepherd_record(trace, LabelPolicy(sources=SOURCE, neutral="drop"), DEFAULT)
    assert dropped["input"].endswith("Step 1: a ки\nStep 2: c ки")


def test_processbench_record_first_error_and_undetermined() -> None:
    trace = make_trace(["s0", "s1", "s2", "s3"], [1, 1, -1, None], meta={"id": "gsm8k-3"}, is_correct=False)
    record = render_processbench_record(trace, KEEP, DEFAULT)
    assert record == {
        "id": "thinkscope-7",  # the id is the file's only for traces imported from ProcessBench
        "generator": "model-a",
        "problem": "What is 2 + 2?",
        "steps": ["s0", "s1", "s2", "s3"],
        "final_answer_correct": False,
        "label": 2,
    }
    imported = make_trace(["s0", "s1"], [1, 1], meta={"id": "gsm8k-3"}, source_format="processbench")
    assert render_processbench_record(imported, KEEP, DEFAULT)["id"] == "gsm8k-3"
    assert render_processbench_record(imported, KEEP, DEFAULT)["label"] == -1
    with pytest.raises(SkipTrace, match=FIRST_ERROR_UNDETERMINED):
        render_processbench_record(make_trace(["s0", "s1", "s2"], [1, None, -1]), KEEP, DEFAULT)
    neutral_error = make_trace(["s0", "s1", "s2"], [1, 0, -1])
    for neutral, first_error in (("negative", 1), ("positive", 2)):
        policy = LabelPolicy(sources=SOURCE, neutral=neutral)
        assert render_processbench_record(neutral_error, policy, DEFAULT)["label"] == first_error
    dropped = render_processbench_record(neutral_error, LabelPolicy(sources=SOURCE, neutral="drop"), DEFAULT)
    assert (dropped["steps"], dropped["label"]) == (["s0", "s2"], 1)


def test_prm800k_record_of_a_trace_from_elsewhere() -> None:
    trace = make_trace(["s0", "s1", "s2"], [1, 0, None])
    record = render_prm800k_record(trace, LabelPolicy(sources=SOURCE, neutral="drop"), DEFAULT)
    assert record["question"] == {"problem": "What is 2 + 2?", "ground_truth_answer": "4"}
    assert [step["completions"][0]["rating"] for step in record["label"]["steps"]] == [1, 0, None]
    assert all(step["chosen_completion"] == 0 for step in record["label"]["steps"])
    assert record["label"]["finish_reason"] is None  # not every step rated, none wrong
    wrong = render_prm800k_record(make_trace(["s0", "s1"], [1, -1]), KEEP, DEFAULT)
    assert wrong["label"]["finish_reason"] == "found_error"


def test_prm800k_record_sets_the_policy_rating_on_the_path_completion_only() -> None:
    stored = {
        "completions": [
            {"text": "wrong way", "rating": -1, "flagged": False},
            {"text": "right way", "rating": 1, "flagged": None},
        ],
        "human_completion": None,
        "chosen_completion": 1,
    }
    step = ExportStep(0, "right way", (SourcedLabel("human", 0, True, 5),), stored)
    meta = {"labeler": "x", "finish_reason": "solution"}
    trace = make_trace([], [], steps=(step,), source_format="prm800k", meta=meta)
    record = render_prm800k_record(trace, LabelPolicy(sources="human"), DEFAULT)
    completions = record["label"]["steps"][0]["completions"]
    assert completions == [
        {"text": "wrong way", "rating": -1, "flagged": False},
        {"text": "right way", "rating": 0, "flagged": True},
    ]
    assert stored["completions"][1]["rating"] == 1  # the stored record is not modified
    assert record["labeler"] == "x" and record["label"]["finish_reason"] == "solution"


def test_flat_row_counts_labels_under_the_policy() -> None:
    trace = make_trace(["a", "b", "c", "d"], [1, 0, -1, None], scores={"score:loop_count:analysis": 2.0})
    settings = RenderSettings(score_columns=("score:loop_count:analysis", "score:other:x"))
    row = render_flat_record(trace, LabelPolicy(sources=SOURCE, neutral="positive"), settings)
    assert (row["step_count"], row["labelled_steps"], row["positive_steps"], row["negative_steps"]) == (4, 3, 2, 1)
    assert row["first_error_step"] == 2
    assert row["score:loop_count:analysis"] == 2.0 and row["score:other:x"] is None
    clean = render_flat_record(make_trace(["a", "b"], [1, 0]), LabelPolicy(sources=SOURCE, neutral="drop"), settings)
    assert clean["first_error_step"] == -1
    unknown = render_flat_record(make_trace(["a", "b"], [1, None]), KEEP, settings)
    assert unknown["first_error_step"] is None
