"""The think/answer split (SPEC §1 Trace) on the real Sky-T1 traces and on re-tagged copies of them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traces.analysis.think import ThinkSplit, detect_think_format, split_think

from skyt1_samples import SkyTrace


def _closed_traces(traces: list[SkyTrace]) -> list[SkyTrace]:
    return [t for t in traces if t.think_span is not None and not t.truncated]


@pytest.mark.parametrize("fmt", ["sky_t1", "auto"])
def test_sky_t1_split_matches_the_tags_of_every_real_trace(skyt1_traces: list[SkyTrace], fmt: str) -> None:
    mismatches = []
    for trace in skyt1_traces:
        split = split_think(trace.text, fmt)  # type: ignore[arg-type]
        think = (split.think_start, split.think_end) if split.has_think else None
        got = (think, (split.answer_start, split.answer_end), not split.think_closed)
        expected = (trace.think_span, trace.solution_span, trace.truncated)
        if got != expected:
            mismatches.append((trace.idx, got, expected))
    assert mismatches == []


def test_sky_t1_sample_has_every_shape_of_trace(skyt1_traces: list[SkyTrace]) -> None:
    """The sample exercises complete, truncated and tag-less outputs (counted from the raw text)."""
    truncated = [t for t in skyt1_traces if "<|begin_of_thought|>" in t.text and "<|end_of_thought|>" not in t.text]
    tagless = [t for t in skyt1_traces if "<|" not in t.text]
    closed = [t for t in skyt1_traces if "<|end_of_thought|>" in t.text]
    assert truncated and tagless and closed
    assert sum(not split_think(t.text, "sky_t1").think_closed for t in skyt1_traces) == len(truncated)
    assert all(split_think(t.text, "auto") == ThinkSplit(0, 0, 0, len(t.text), True) for t in tagless)
    print(f"Sky-T1: {len(closed)} closed thoughts, {len(truncated)} truncated, {len(tagless)} without tags")


def test_think_tags_on_retagged_real_traces(skyt1_traces: list[SkyTrace]) -> None:
    """Real thoughts and solutions re-wrapped as R1/QwQ output split back into the same parts."""
    for trace in _closed_traces(skyt1_traces)[:40]:
        thought, solution = trace.thought, trace.solution
        tagged = f"<think>{thought}</think>{solution}"
        split = split_think(tagged, "think_tags")
        assert (split.think_text(tagged), split.answer_text(tagged), split.think_closed) == (thought, solution, True)
        assert split_think(tagged, "auto") == split
        # R1 chat templates put the opening tag in the prompt: the completion starts inside the thought.
        r1 = f"{thought}</think>{solution}"
        split = split_think(r1, "think_tags")
        assert (split.think_text(r1), split.answer_text(r1)) == (thought, solution)
        # A thought cut off by the length limit is truncated: no answer part.
        cut = f"<think>{thought}"
        split = split_think(cut, "auto")
        assert (split.think_text(cut), split.answer_text(cut), split.think_closed) == (thought, "", False)


def test_lenient_tags() -> None:
    text = "<THINK>a</ think >b"
    assert split_think(text).think_text(text) == "a"
    assert split_think(text).answer_text(text) == "b"
    text = "<| begin_of_thought |>x<|End_Of_Thought|>y<|begin_of_solution|>z<|end_of_solution|>"
    split = split_think(text)
    assert (split.think_text(text), split.answer_text(text)) == ("x", "z")


def test_none_format_is_all_answer() -> None:
    text = "<think>not a thought here</think>42"
    assert split_think(text, "none") == ThinkSplit(0, 0, 0, len(text), True)
    assert not split_think(text, "none").has_think
    assert detect_think_format("plain text") == "none"


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown think format 'xml'"):
        split_think("x", "xml")  # type: ignore[arg-type]


_TAG_SOUP = st.lists(
    st.sampled_from(
        ["<think>", "</think>", "< / think >", "<|begin_of_thought|>", "<|end_of_thought|>",
         "<|begin_of_solution|>", "<|end_of_solution|>", "<|im_start|>solution", "<|", "|>", "\n"]
    )
    | st.text(max_size=20),
    max_size=30,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=_TAG_SOUP, fmt=st.sampled_from(["think_tags", "sky_t1", "none", "auto"]))
def test_split_is_ordered_and_inside_the_text(text: str, fmt: str) -> None:
    split = split_think(text, fmt)  # type: ignore[arg-type]
    assert 0 <= split.think_start <= split.think_end <= split.answer_start <= split.answer_end <= len(text)
    if not split.think_closed:
        assert split.think_end == split.answer_start == split.answer_end == len(text)
