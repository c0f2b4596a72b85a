"""Overthinking (t*, ratio, re-verifications) and underthinking (SPEC §3.4) on the real Sky-T1 traces."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from math_verify import parse, verify
from skyt1_samples import SkyTrace

from traces.analysis.answers import NUMBER_WORDS, infer_answer_type
from traces.analysis.behaviours import VERIFICATION_PHRASES
from traces.analysis.overthinking import (
    Overthinking,
    measure_overthinking,
    measure_underthinking,
    reasoning_range,
)
from traces.analysis.segmentation import Span, segment
from traces.analysis.think import split_think
from traces.analysis.tokens import count_tokens

_SIMPLE_BOX = re.compile(r"\\boxed\{([^{}]*)\}")
_CHOICE_REFERENCE = re.compile(r"(?:\\text\{)?\(?([A-J])\)?\}?")
_STATED_CHOICE = re.compile(r"\(?([A-J])\)?(?![A-Za-z])")
_COLUMN = re.compile(r"\\begin\{pmatrix\}(.*)\\end\{pmatrix\}")
_UNIT_WORDS = re.compile(r"(?<=\d)\s+[A-Za-z][A-Za-z ]*\Z")  # "6 Trinkets" states 6


@dataclass(frozen=True)
class Measured:
    trace: SkyTrace
    start: int
    end: int
    steps: list[Span]
    result: Overthinking


def _measure(trace: SkyTrace, reference: str) -> Measured:
    start, end = reasoning_range(split_think(trace.text))
    steps = segment(trace.text, "reasoning", start, end)
    # The answer type is inferred from the reference, as the importer stores it on the problem.
    answer_type = infer_answer_type(reference)
    return Measured(trace, start, end, steps, measure_overthinking(trace.text, steps, reference, answer_type=answer_type))


@pytest.fixture(scope="module")
def measured(skyt1_traces: list[SkyTrace]) -> list[Measured]:
    """Every trace measured against its own MATH-500 reference answer."""
    return [_measure(trace, trace.answer) for trace in skyt1_traces]


def _equivalent(reference: str, candidate: str) -> bool:
    """The same option letter for a choice reference (``\\text{(E)}`` by "(E) Hyperbola"), else
    math-verify called directly, not through ``answers.grade`` and its normaliser."""
    choice = _CHOICE_REFERENCE.fullmatch(reference.strip())
    if choice:
        stated = _STATED_CHOICE.match(candidate.strip())
        return stated is not None and stated.group(1) == choice.group(1)
    candidate = _UNIT_WORDS.sub("", candidate)
    candidate = str(NUMBER_WORDS.get(candidate.casefold(), candidate))  # "two" y-intercepts states 2
    column = _COLUMN.fullmatch(reference.strip())
    if column and candidate[:1] in "([":  # a vector written as a tuple (or in brackets) states its column
        reference = "(" + ", ".join(cell.strip() for cell in column.group(1).split("\\\\")) + ")"
        candidate = "(" + candidate[1:-1] + ")"
    return any(
        verify(parse(wrap(reference)), parse(wrap(candidate)))
        for wrap in (lambda s: f"${s}$", lambda s: f"\\boxed{{{s}}}")
    )


def test_t_star_and_ratio_for_every_correct_trace(measured: list[Measured]) -> None:
    correct = [m for m in measured if m.trace.score]
    assert len(correct) == sum(1 for m in measured if m.trace.score) > 150
    ratios = []
    for m in correct:
        r = m.result
        assert r.think_tokens == count_tokens(m.trace.text[m.start : m.end])
        assert 0.0 <= r.ratio <= 1.0
        ratios.append(r.ratio)
        if r.t_star is None:
            assert (r.ratio, r.tokens_after, r.tail_start, r.reverifications) == (0.0, 0, None, ())
            continue
        step = m.steps[r.t_star]
        found = r.first_correct
        assert found is not None and step.start <= found.start < step.end
        assert m.trace.text[found.start : found.end] == found.text
        assert _equivalent(m.trace.answer, found.text), (m.trace.idx, found)
        assert r.tail_start == found.end
        assert r.tokens_after == count_tokens(m.trace.text[found.end : m.end])
    found_share = sum(m.result.t_star is not None for m in correct) / len(correct)
    print(
        f"\nSky-T1 correct traces: {len(correct)}; t* found in {found_share:.1%}; "
        f"median overthinking ratio {statistics.median(ratios):.3f} "
        f"(mean {statistics.mean(ratios):.3f}); median re-verifications after t* "
        f"{statistics.median(len(m.result.reverifications) for m in correct)}"
    )
    # Issue 4: t* for every correct trace (the reference is stated somewhere in each thought).
    assert found_share == 1.0, [m.trace.idx for m in correct if m.result.t_star is None]


def test_no_step_before_t_star_boxes_the_reference(measured: list[Measured]) -> None:
    """t* is the *first* step: no earlier step holds a plain ``\\boxed{X}`` with X the reference."""
    for m in measured:
        if m.result.t_star is None:
            continue
        before = m.trace.text[m.start : m.steps[m.result.t_star].start]
        assert not any(_equivalent(m.trace.answer, box) for box in _SIMPLE_BOX.findall(before)), m.trace.idx


def test_reverifications_are_verification_phrases_after_t_star(measured: list[Measured]) -> None:
    phrases = {p.replace("-", " ") for p in VERIFICATION_PHRASES}
    for m in measured:
        if m.result.t_star is None:
            continue
        after = m.result.tail_start
        assert after is not None
        for cue in m.result.reverifications:
            assert after <= cue.start < cue.end <= m.end
            assert " ".join(cue.text.casefold().replace("-", " ").split()) in phrases


def test_a_reference_never_reached_gives_ratio_zero(measured: list[Measured]) -> None:
    """Every trace measured against an answer it never states: no t*, ratio 0 (SPEC §3.4)."""
    for m in measured[:40]:
        r = measure_overthinking(m.trace.text, m.steps, "987654321")
        assert (r.t_star, r.first_correct, r.ratio, r.reverifications) == (None, None, 0.0, ())
        assert r.think_tokens == m.result.think_tokens


def test_incorrect_traces_that_passed_the_reference(measured: list[Measured]) -> None:
    """Wrong final answers whose thinking had reached the reference: reported, bounded ratios."""
    wrong = [m for m in measured if not m.trace.score]
    reached = [m for m in wrong if m.result.t_star is not None]
    for m in wrong:
        assert 0.0 <= m.result.ratio <= 1.0
    print(f"\nSky-T1 incorrect traces: {len(wrong)}; thinking reached the reference in {len(reached)}")


def test_real_token_offsets_are_used_when_given(measured: list[Measured]) -> None:
    m = next(m for m in measured if m.result.t_star is not None)
    per_char = list(range(len(m.trace.text)))  # a "tokenizer" with one token per character
    r = measure_overthinking(m.trace.text, m.steps, m.trace.answer, token_starts=per_char)
    assert r.think_tokens == m.end - m.start
    assert r.tokens_after == m.end - r.first_correct.end


def test_tokens_after_t_star_start_inside_a_long_step() -> None:
    """A thinking written as one paragraph is one step: the tokens after t* are counted from the
    answer that reaches the reference, not from the end of that step (SPEC §3.4)."""
    filler = " ".join(f"Checking once more that case {i} also gives 42 seems right." for i in range(25))
    thinking = f"So the answer is \\boxed{{42}}. {filler}"
    text = f"<think>{thinking}</think>The answer is 42."
    split = split_think(text)
    steps = segment(text, "reasoning", split.think_start, split.think_end)
    assert len(steps) == 1 and count_tokens(thinking) >= 300
    over = measure_overthinking(text, steps, "42")
    assert over.t_star == 0 and over.first_correct is not None
    assert over.tail_start == over.first_correct.end < steps[0].end
    assert 0.85 < over.ratio < 1.0


@pytest.mark.parametrize(
    ("thinking", "reference", "reached_in"),
    [
        # The reference reached in prose (own R1-style traces).
        ("Seven boxes of fourteen pens.\n\nSeven tens make seventy. This totals to 98 pens.\n\nThat's 98 again.",
         "98", "This totals to 98 pens."),
        ("Each barrel holds 20 litres and there are 5.\n\nThis gives me 100 barrels.\n\nSo 100.", "100",
         "This gives me 100 barrels."),
        # The task's own numbers and equations still to be solved are not reached answers.
        ("I need the sum of the proper divisors of 284.\n\nThe divisors add up: 142 + 71 + 4 + 2 + 1 = 220.\n\n"
         "Then 1 + 2 + 4 + 5 + 10 + 11 + 20 + 22 + 44 + 55 + 110 = 284.", "284", "Then 1 + 2"),
        ("Gina has 28, so 28 = 2F.\n\nDividing by 2: F = 14.", "28", None),
        # An option's content reaches its letter when the problem lists the options (Kimi-style).
        ("Thus the integral = -27 - 729 = -756, which is one of the choices.\n\nSo the answer is E.", "E",
         "-756, which"),
        ("The value 1.57 matches G.\n\nSo answer is G.", "G", "The value 1.57 matches G."),
    ],
)
def test_t_star_where_a_reader_puts_it(thinking: str, reference: str, reached_in: str | None) -> None:
    options = ["-1024", "650", "0", "504", "-756", "-504", "1.57", "1024"]
    problem = "Q?\n" + "\n".join(f"{'ABCDEFGH'[i]}. {o}" for i, o in enumerate(options)) if reference in "EG" else None
    answer_type = "choice" if problem else "numeric"
    text = f"<think>{thinking}</think>The answer is {reference}."
    split = split_think(text)
    steps = segment(text, "reasoning", split.think_start, split.think_end)
    over = measure_overthinking(text, steps, reference, answer_type=answer_type, problem=problem)
    if reached_in is None:
        assert over.t_star is None
    else:
        sentence_start = text.index(reached_in)
        sentence_end = min(i for i in (text.find("\n", sentence_start), text.index("</think>")) if i >= 0)
        assert over.first_correct is not None
        assert sentence_start <= over.first_correct.start < sentence_end


def test_reasoning_range_is_the_think_part_or_the_whole_text(skyt1_traces: list[SkyTrace]) -> None:
    for trace in skyt1_traces:
        expected = trace.think_span if trace.think_span is not None else (0, len(trace.text))
        assert reasoning_range(split_think(trace.text)) == expected


def test_underthinking_counts_switches_before_the_correct_path() -> None:
    text = (
        "Let me set x = 2y. Then nothing works.\n\n"
        "Alternatively, maybe use symmetry. That fails too.\n\n"
        "Wait, maybe I should factor. Still stuck.\n\n"
        "Another approach: count directly. So the total is 42.\n\n"
        "Let me verify: 6 times 7 = 42. Alternatively, 40 + 2 = 42."
    )
    steps = segment(text, "paragraphs")
    over = measure_overthinking(text, steps, "42")
    assert over.t_star == 3 and over.first_correct is not None and over.first_correct.text == "42"
    under = measure_underthinking(text, 0, len(text), over.first_correct)
    assert [s.text for s in under.switches] == ["Alternatively", "Wait, maybe", "Another approach", "Alternatively"]
    assert under.correct_path_start == text.index("Another approach")
    assert under.switches_before_correct_path == 2
    assert [c.text for c in over.reverifications] == ["Let me verify"]
    never = measure_underthinking(text, 0, len(text), None)
    assert (never.correct_path_start, never.switches_before_correct_path) == (None, None)
    assert len(never.switches) == 4


def test_underthinking_on_real_traces(measured: list[Measured]) -> None:
    """Thought switches beside correctness (SPEC §3.4): printed, and positions inside the thinking."""
    before: list[int] = []
    totals = {True: [], False: []}  # type: dict[bool, list[int]]
    for m in measured:
        under = measure_underthinking(m.trace.text, m.start, m.end, m.result.first_correct)
        for s in under.switches:
            assert m.start <= s.start < s.end <= m.end
        totals[m.trace.score].append(len(under.switches))
        if under.switches_before_correct_path is not None:
            assert m.start <= under.correct_path_start <= m.result.first_correct.start
            before.append(under.switches_before_correct_path)
    print(
        f"\nthought switches: median {statistics.median(totals[True])} in correct traces, "
        f"{statistics.median(totals[False])} in incorrect; median before the correct path {statistics.median(before)}"
    )


_spans = st.lists(st.tuples(st.integers(-5, 400), st.integers(-5, 400)), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.sampled_from(list("ab =.\n5\\boxed{}So,xWait")), max_size=300) | st.text(max_size=300),
       raw_steps=_spans, reference=st.sampled_from(["5", "x", "", "\\frac{1}{2}"]))
def test_never_raises_and_stays_in_bounds(text: str, raw_steps: list[tuple[int, int]], reference: str) -> None:
    steps = [Span(a, b) for a, b in raw_steps]
    over = measure_overthinking(text, steps, reference or None)
    assert 0.0 <= over.ratio <= 1.0
    if over.first_correct is not None:
        assert 0 <= over.first_correct.start <= over.first_correct.end <= len(text)
        assert 0 <= over.t_star < len(steps)
    for cue in over.reverifications:
        assert 0 <= cue.start <= cue.end <= len(text)
    under = measure_underthinking(text, -3, len(text) + 3, over.first_correct)
    for s in under.switches:
        assert 0 <= s.start <= s.end <= len(text)


@pytest.mark.parametrize(
    "text",
    [
        "So x = 1. " * 20_000,
        "= " * 100_000,
        "\\boxed{" * 30_000,
        "Alternatively, let me check. " * 7_000,
        "a" * 200_000,
    ],
    ids=["results", "equals", "open-boxes", "switches", "one-word"],
)
def test_pathological_200kb_inputs_complete(text: str) -> None:
    steps = segment(text, "reasoning")
    over = measure_overthinking(text, steps, "\\frac{\\pi}{7}")
    under = measure_underthinking(text, 0, len(text), over.first_correct)
    assert over.ratio == 0.0 and under.switches_before_correct_path is None
