"""Segmentation into steps (SPEC §3.1) on ProcessBench, PRMBench, Math-Shepherd and Sky-T1 samples."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyt1_samples import SkyTrace

from traces.analysis.segmentation import (
    DEFAULT_MIN_CHARS,
    SEGMENTERS,
    Span,
    choose_segmenter,
    segment,
)

Records = Callable[[str], list[dict[str, Any]]]

PROCESSBENCH_FILES = [f"processbench/{name}.jsonl" for name in ("gsm8k", "math", "olympiadbench", "omnimath")]
PRMBENCH_CLASSES = (
    "circular", "confidence", "counterfactual", "deception", "domain_inconsistency",
    "missing_condition", "redundency", "step_contradiction",
)
PRMBENCH_FILES = [f"prmbench/prm800k_test_p2_4o_{name}.lines1-40.jsonl" for name in PRMBENCH_CLASSES]
SEPARATOR = "\n\n"


def assert_tiles(spans: list[Span], start: int, end: int) -> None:
    """``spans`` are non-empty, in order, without gaps or overlaps, and cover ``[start, end)``."""
    assert all(span.start < span.end for span in spans)
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    if spans:
        assert (spans[0].start, spans[-1].end) == (start, end)
    else:
        assert start == end


def _round_trip(steps: list[str]) -> None:
    """Steps joined with a blank line come back from the ``paragraphs`` segmenter."""
    text = SEPARATOR.join(steps)
    spans = segment(text, "paragraphs")
    assert_tiles(spans, 0, len(text))
    pieces = [text[span.start : span.end] for span in spans]
    assert pieces == [step + SEPARATOR for step in steps[:-1]] + steps[-1:]


@pytest.mark.parametrize("path", PROCESSBENCH_FILES)
def test_processbench_steps_round_trip(sample_records: Records, path: str) -> None:
    records = sample_records(path)
    assert records
    for record in records:
        _round_trip(record["steps"])


@pytest.mark.parametrize("path", PRMBENCH_FILES)
def test_prmbench_steps_round_trip(sample_records: Records, path: str) -> None:
    records = sample_records(path)
    assert records
    for record in records:
        _round_trip(record["original_process"])
        _round_trip(record["modified_process"])


def test_math_shepherd_markers_give_one_step_per_tag(sample_records: Records) -> None:
    for record in sample_records("math_shepherd/openr_samples.jsonl"):
        text = record["input"]
        tags = text.count(" ки")  # the step tag, counted independently
        assert choose_segmenter(text) == "markers"
        spans = segment(text, "markers")
        assert_tiles(spans, 0, len(text))
        assert len(spans) == tags
        # Each step ends with its tag (the newline after it stays with the step).
        assert all(text[span.start : span.end].rstrip("\n").endswith(" ки") for span in spans)
        # Each "Step k:" after the first opens a step.
        assert [text[span.start : span.end].split(":")[0] for span in spans[1:]] == [
            f"Step {k}" for k in range(2, tags + 1)
        ]


def test_gsm8k_solution_lines(sample_records: Records) -> None:
    for record in sample_records("gsm8k/test.lines1-500.jsonl")[:100]:
        text = record["answer"]
        assert choose_segmenter(text) == "lines"
        spans = segment(text, "lines")
        assert [text[s.start : s.end].rstrip("\n") for s in spans] == text.split("\n")


# --------------------------------------------------------------------------------------------
# Reasoning-aware segmentation of long chain-of-thought
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def thoughts(skyt1_traces: list[SkyTrace]) -> list[tuple[SkyTrace, list[Span]]]:
    """Every Sky-T1 thought, segmented with the ``reasoning`` method."""
    with_thought = [t for t in skyt1_traces if t.think_span is not None]
    assert len(with_thought) >= 100
    return [(t, segment(t.text, "reasoning", *t.think_span)) for t in with_thought]


def test_reasoning_spans_tile_each_thought(thoughts: list[tuple[SkyTrace, list[Span]]]) -> None:
    for trace, spans in thoughts:
        assert_tiles(spans, *trace.think_span)
        assert "".join(trace.text[s.start : s.end] for s in spans) == trace.thought


def test_no_fragment_shorter_than_the_minimum_except_the_last(thoughts: list[tuple[SkyTrace, list[Span]]]) -> None:
    short = [(trace.idx, trace.text[s.start : s.end]) for trace, spans in thoughts for s in spans[:-1] if len(s) < DEFAULT_MIN_CHARS]
    assert short == []


def test_choose_segmenter_picks_reasoning_for_long_thoughts(thoughts: list[tuple[SkyTrace, list[Span]]]) -> None:
    long = [trace for trace, _ in thoughts if len(trace.thought) > 2000]
    assert long and all(choose_segmenter(trace.thought) == "reasoning" for trace in long)


def _pivot_hits(thoughts: list[tuple[SkyTrace, list[Span]]], pattern: str) -> tuple[int, int]:
    """(occurrences of ``pattern``'s group 1 in the thoughts, how many of them open a span)."""
    found = opened = 0
    for trace, spans in thoughts:
        starts = {s.start for s in spans}
        think_start = trace.think_span[0]
        for m in re.finditer(pattern, trace.thought):
            found += 1
            opened += think_start + m.start(1) in starts
    return found, opened


@pytest.mark.parametrize(
    ("pivot", "share"),
    [("Wait", 0.95), ("Alternatively", 0.9), ("Hmm", 0.99), ("But", 0.97), ("Let me check", 0.75)],
)
def test_paragraphs_opening_with_a_pivot_open_a_step(
    thoughts: list[tuple[SkyTrace, list[Span]]], pivot: str, share: float
) -> None:
    """A paragraph that starts with a pivot starts a step, unless a short opener before it
    ("Hmm, that seems consistent.", "Wait, is that true?") was merged forward into it (measured:
    Wait 852/884, Alternatively 471/514, Hmm 103/103, But 602/612, "Let me check" 26/34)."""
    found, opened = _pivot_hits(thoughts, r"\n\n(" + pivot + r")\b")
    print(f"{pivot!r} opening a paragraph: {opened}/{found} open a step")
    assert found >= 30
    assert opened / found >= share


@pytest.mark.parametrize("pivot", ("Wait", "Hmm", "Alternatively"))
def test_pivots_inside_a_paragraph_open_a_step(thoughts: list[tuple[SkyTrace, list[Span]]], pivot: str) -> None:
    found, opened = _pivot_hits(thoughts, r"[.!?] (" + pivot + r")\b")
    print(f"{pivot!r} after a sentence: {opened}/{found} open a step")
    assert found >= 5
    assert opened / found >= 0.9


def test_but_inside_a_sentence_is_not_a_pivot(thoughts: list[tuple[SkyTrace, list[Span]]]) -> None:
    found, opened = _pivot_hits(thoughts, r"[a-z,] (But)\b")
    assert opened == 0


def test_reasoning_unit() -> None:
    text = (
        "First compute the sum of the first ten positive integers.\n\n"
        "Ok.\n\n"
        "It is 55, by the formula n(n+1)/2 with n = 10. Wait, the question asks for the odd ones "
        "only. Hmm.\n\nAlternatively, we can list them: 1, 3, 5, 7 and 9, whose sum is 25.\n\n"
        "Let me check:\n\n1 + 3 + 5 + 7 + 9 = 25. But that is 5 squared.\n\n"
        "But yes, that is the square of the count of odd numbers.\n\nDone."
    )
    pieces = [text[s.start : s.end] for s in segment(text, "reasoning")]
    assert pieces == [
        # "Ok." is short and opens nothing: it joins the step before it.
        "First compute the sum of the first ten positive integers.\n\nOk.\n\n",
        "It is 55, by the formula n(n+1)/2 with n = 10. ",
        "Wait, the question asks for the odd ones only. ",
        # A short pivot ("Hmm.", "Let me check:") opens the step after it.
        "Hmm.\n\nAlternatively, we can list them: 1, 3, 5, 7 and 9, whose sum is 25.\n\n",
        # "But" inside a line is no pivot; at the start of a line it is.
        "Let me check:\n\n1 + 3 + 5 + 7 + 9 = 25. But that is 5 squared.\n\n",
        # A short last fragment joins the step before it.
        "But yes, that is the square of the count of odd numbers.\n\nDone.",
    ]


def test_offsets_are_absolute_and_clamped() -> None:
    text = "skip me\nline one\nline two\n"
    spans = segment(text, "lines", start=8)
    assert [text[s.start : s.end] for s in spans] == ["line one\n", "line two\n"]
    assert segment(text, "lines", start=-5, end=10_000) == segment(text, "lines")
    assert segment(text, "lines", start=9, end=3) == []
    assert segment("", "reasoning") == []


def test_unknown_method_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown segmenter 'sentences'"):
        segment("x", "sentences")


# --------------------------------------------------------------------------------------------
# Arbitrary and pathological text
# --------------------------------------------------------------------------------------------

_STEPPY_TEXT = st.lists(
    st.sampled_from(
        ["Wait", "But", "Hmm", "Alternatively", "Let me check", "So the answer", "**", "#", ". ", "? ",
         "\n", "\n\n", " \n \n", " ", "Step 1:", "Step 12.", " ки", "ки", ":", "x", "word"]
    )
    | st.text(max_size=15),
    max_size=40,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    text=_STEPPY_TEXT,
    method=st.sampled_from(SEGMENTERS),
    bounds=st.tuples(st.integers(-5, 400), st.integers(-5, 400) | st.none()),
    min_chars=st.integers(0, 80),
)
def test_segment_tiles_any_range(text: str, method: str, bounds: tuple[int, int | None], min_chars: int) -> None:
    start, end = bounds
    spans = segment(text, method, start, end, min_chars=min_chars)
    clamped_end = len(text) if end is None else max(0, min(end, len(text)))
    clamped_start = max(0, min(start, clamped_end))
    assert_tiles(spans, clamped_start, clamped_end)
    if method == "reasoning":
        assert all(len(s) >= min_chars for s in spans[:-1])


PATHOLOGICAL = {
    "100k nested braces": "{" * 100_000,
    "1 MB of \\boxed{": "\\boxed{" * 150_000,
    "200k-digit number": "9" * 200_000,
    "100k pivots": "Wait. " * 100_000,
    "300k newlines": "\n" * 300_000,
    "1M spaces": " " * 1_000_000,
    "100k tags": " ки" * 100_000,
    "50k markers": "Step 1:\n" * 50_000,
    "100k emphasis": "*" * 100_000 + "Wait",
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_inputs_return(text: str) -> None:
    for method in SEGMENTERS:
        assert_tiles(segment(text, method), 0, len(text))
    choose_segmenter(text)
