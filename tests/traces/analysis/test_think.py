"""The think/answer split and the per-model think format (docs/concepts.md §1 Trace) on the real
Sky-T1, R1-family and Kimi-K2 traces, on re-tagged copies of them, and on made-up ones."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyt1_samples import SkyTrace

from traces.analysis.think import FormatDecision as ThinkFormatDecision
from traces.analysis.think import (
    ThinkEvidence,
    ThinkSplit,
    decide_think_format,
    has_separate_reasoning,
    split_think,
    text_evidence,
)

R1_FILE = "reasoning_traces/math500_r1_family.jsonl"
KIMI_FILE = "reasoning_traces/mmlupro_kimi_k2.jsonl"
Records = Callable[[str], list[dict[str, Any]]]


def _closed_traces(traces: list[SkyTrace]) -> list[SkyTrace]:
    return [t for t in traces if t.think_span is not None and not t.truncated]


def decided(records: list[dict[str, Any]], model: str) -> str:
    """The think format ``decide_think_format`` gives ``model`` from its records."""
    evidence = ThinkEvidence()
    for record in records:
        if record["model"] == model:
            evidence.add(record["completion"] or "", record["reasoning_content"])
    return decide_think_format(evidence).think_format


@pytest.mark.parametrize("fmt", ["sky_t1", "auto"])
def test_sky_t1_split_matches_the_tags_of_every_real_trace(skyt1_traces: list[SkyTrace], fmt: str) -> None:
    mismatches = []
    for trace in skyt1_traces:
        split = split_think(trace.text, fmt)
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
        assert split_think(tagged, "auto") == split == split_think(tagged, "think_in_prompt")
        # R1 chat templates put the opening tag in the prompt: the completion starts inside the thought.
        r1 = f"{thought}</think>{solution}"
        for fmt in ("think_tags", "think_in_prompt", "auto"):
            split = split_think(r1, fmt)
            assert (split.think_text(r1), split.answer_text(r1)) == (thought, solution)
        # A thought cut off by the length limit is truncated: no answer part, opener or not.
        for cut, fmt in ((f"<think>{thought}", "auto"), (f"<think>{thought}", "think_tags"), (thought, "think_in_prompt")):
            split = split_think(cut, fmt)
            assert (split.think_text(cut), split.answer_text(cut), split.think_closed) == (thought, "", False)


def test_raw_r1_distill_traces_split_at_their_closing_tag(sample_records: Records) -> None:
    """R1-Distill outputs served raw begin inside the thinking (no ``<think>``): the thinking is
    everything before ``</think>``, and the one output cut at its token limit before ``</think>`` is
    truncated thinking with no answer part, under the format decided for its model."""
    records = [r for r in sample_records(R1_FILE) if "Distill" in r["model"]]
    assert {decided(records, model) for model in {r["model"] for r in records}} == {"think_in_prompt"}
    cut = 0
    for record in records:
        text = record["completion"]
        split = split_think(text, "think_in_prompt", record["finish_reason"])
        closer = text.find("</think>")
        assert "<think>" not in text
        if closer < 0:
            cut += 1
            assert record["meta"]["hit_token_limit"]
            assert (split.think_start, split.think_end, split.answer_start, split.think_closed) == (0, len(text), len(text), False)
        else:
            assert (split.think_text(text), split.answer_text(text), split.think_closed) == (
                text[:closer], text[closer + len("</think>") :], True)  # fmt: skip
    assert cut == 1


def test_truncation_is_exactly_an_unclosed_think_block(sample_records: Records, skyt1_traces: list[SkyTrace]) -> None:
    """Across R1-family and Sky-T1 traces, read with their models' formats: a trace is truncated
    exactly when its think block never closes, opener in the text or not (read independently with
    ``str.find``)."""
    r1 = sample_records(R1_FILE)
    traces = [(r["completion"], decided(r1, r["model"])) for r in r1]
    traces += [(t.text, "sky_t1") for t in skyt1_traces]
    for text, fmt in traces:
        if fmt == "sky_t1":
            opened = "<|begin_of_thought|>" in text
            closed = "<|end_of_thought|>" in text or "<|begin_of_solution|>" in text or "<|im_start|>solution" in text
        else:
            opened = fmt == "think_in_prompt" or "<think>" in text
            closed = "</think>" in text
        assert split_think(text, fmt).think_closed == (closed or not opened), text[:80]
    assert sum(not split_think(t, f).think_closed for t, f in traces) == 53


def test_each_model_of_the_real_files_gets_one_format(sample_records: Records, skyt1_traces: list[SkyTrace]) -> None:
    """R1 through its API writes ``<think>`` itself, its distills served raw do not, Kimi-K2 keeps its
    thinking in reasoning_content (one answer holds a stray ``</think>``), Sky-T1 uses its markers
    (130 of its traces have none): each model's format comes from all its traces, in any order."""
    r1, kimi = sample_records(R1_FILE), sample_records(KIMI_FILE)
    assert {r["model"]: decided(r1, r["model"]) for r in r1} == {
        "deepseek-ai/DeepSeek-R1 (DeepSeek API 'deepseek-reasoner')": "think_tags",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-8B": "think_in_prompt",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": "think_in_prompt",
    }
    assert decided(kimi, "moonshotai/Kimi-K2-Thinking") == "reasoning_content"
    assert sum(text_evidence(r["completion"] or "") == "think_in_prompt" for r in kimi) == 1
    sky = ThinkEvidence()
    for trace in random.Random(7).sample(skyt1_traces, len(skyt1_traces)):
        sky.add(trace.text, None)
    decision = decide_think_format(sky)
    assert (decision.think_format, decision.determined) == ("sky_t1", True)
    assert decision.reason == "of 300 traces, 170 have Sky-T1 thought markers, 130 have no think delimiter"


def test_a_copy_of_the_thinking_is_not_separate_reasoning(sample_records: Records) -> None:
    """The R1 file keeps each raw output beside the server's reasoning_content (a copy of the text
    before ``</think>``); Kimi-K2's reasoning_content is its only thinking."""
    r1, kimi = sample_records(R1_FILE), sample_records(KIMI_FILE)
    assert not any(has_separate_reasoning(r["completion"], r["reasoning_content"]) for r in r1)
    separate = [has_separate_reasoning(r["completion"] or "", r["reasoning_content"]) for r in kimi]
    assert sum(separate) == sum(1 for r in kimi if r["reasoning_content"]) == 109


def test_undetermined_formats_say_so() -> None:
    evidence = ThinkEvidence()
    for text in ("The answer is 4.", "x = 2"):
        evidence.add(text, None)
    assert decide_think_format(evidence) == ThinkFormatDecision("none", False, "of 2 traces, 2 have no think delimiter")
    evidence.add("", "")  # a server that split off an empty thinking
    assert (decide_think_format(evidence).think_format, decide_think_format(evidence).determined) == (
        "reasoning_content", True)  # fmt: skip


def test_think_tags_need_the_model_to_open_them() -> None:
    """A model that writes ``<think>`` itself and did not open one wrote only an answer; a model
    whose prompt opened the thinking and did not close it was cut, unless it stopped by itself."""
    text = "The answer is 4."
    assert split_think(text, "think_tags", "length") == ThinkSplit(0, 0, 0, len(text), True)
    for finish in (None, "length", "unknown", "error"):
        assert split_think(text, "think_in_prompt", finish) == ThinkSplit(0, len(text), len(text), len(text), False)
    assert split_think(text, "think_in_prompt", "stop") == ThinkSplit(0, 0, 0, len(text), True)


@pytest.mark.parametrize(
    ("text", "fmt", "think"),
    [
        ("Let me see. <think>a</think>b", "think_tags", "Let me see. <think>a"),
        ("So I need x. <|begin_of_thought|>y<|end_of_thought|><|begin_of_solution|>z", "sky_t1",
         "So I need x. <|begin_of_thought|>y"),
        ("  \n<think>a</think>b", "think_tags", "a"),
        ("Hmm. <think>still going", "think_in_prompt", "Hmm. <think>still going"),
    ],
)
def test_text_before_an_opening_tag_is_thinking(text: str, fmt: str, think: str) -> None:
    """Text before the opener that is more than whitespace belongs to the thinking: the model was
    already thinking, and an answer cannot come before its thinking."""
    split = split_think(text, fmt)
    assert split.think_text(text) == think


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
    assert text_evidence("plain text") is None


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown think format 'xml'"):
        split_think("x", "xml")


_TAG_SOUP = st.lists(
    st.sampled_from(
        ["<think>", "</think>", "< / think >", "<|begin_of_thought|>", "<|end_of_thought|>",
         "<|begin_of_solution|>", "<|end_of_solution|>", "<|im_start|>solution", "<|", "|>", "\n"]
    )
    | st.text(max_size=20),
    max_size=30,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    text=_TAG_SOUP,
    fmt=st.sampled_from(["think_tags", "think_in_prompt", "sky_t1", "none", "auto"]),
    finish=st.sampled_from([None, "stop", "length"]),
)
def test_split_is_ordered_inside_the_text_and_its_regions_tile_it(text: str, fmt: str, finish: str | None) -> None:
    split = split_think(text, fmt, finish)
    assert 0 <= split.think_start <= split.think_end <= split.answer_start <= split.answer_end <= len(text)
    if not split.think_closed:
        assert split.think_end == split.answer_start == split.answer_end == len(text)
    (think_start, think_end), (answer_start, answer_end) = split.regions(len(text))
    assert think_start == 0 and think_end == answer_start and answer_end == len(text)
    if split.has_think:
        assert think_end >= split.think_end
    assert answer_start <= split.answer_start
