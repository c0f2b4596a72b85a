"""Reached answers, think–answer mismatch and truncation (docs/concepts.md §3.3) on the real Sky-T1 traces
and on traces of our own making."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyt1_samples import SkyTrace

from traces.analysis.answers import infer_answer_type
from traces.analysis.mismatch import (
    Mismatch,
    is_truncated,
    reached_answers,
    states_answer,
    think_answer_mismatch,
)
from traces.analysis.think import ThinkSplit, split_think

_SIMPLE_BOX = re.compile(r"\\boxed\{([^{}]*)\}")


@pytest.fixture(scope="module")
def verdicts(skyt1_traces: list[SkyTrace]) -> list[tuple[SkyTrace, Mismatch]]:
    """Each trace's verdict, with the answer type inferred from its reference as the importer stores it."""
    return [
        (trace, think_answer_mismatch(trace.text, split_think(trace.text), answer_type=infer_answer_type(trace.answer)))
        for trace in skyt1_traces
    ]


def _last_simple_box(text: str) -> str | None:
    boxes = _SIMPLE_BOX.findall(text)
    return "".join(boxes[-1].split()) if boxes else None


def test_every_real_trace_gets_a_verdict_with_positions(verdicts: list[tuple[SkyTrace, Mismatch]]) -> None:
    for trace, m in verdicts:
        assert m.truncated == trace.cut_off
        assert m.think_empty == (trace.think_span is not None and not trace.thought.strip())
        if m.think_answer is not None:
            assert trace.think_span is not None
            assert trace.think_span[0] <= m.think_answer.start < m.think_answer.end <= trace.think_span[1]
            assert trace.text[m.think_answer.start : m.think_answer.end] == m.think_answer.text
        if m.final_answer is not None:
            assert trace.solution_span[0] <= m.final_answer.start < m.final_answer.end <= trace.solution_span[1]
            assert trace.text[m.final_answer.start : m.final_answer.end] == m.final_answer.text
        if m.think_answer is None or m.final_answer is None:
            assert m.verdict == "undetermined"
        if trace.think_span is None or m.final_answer is None:
            assert m.unsupported is None
        if m.verdict == "match":
            assert m.unsupported is False
    counts = Counter(m.verdict for _, m in verdicts)
    with_think = [m for t, m in verdicts if t.think_span is not None]
    print(
        f"\nSky-T1 think–answer verdicts over {len(verdicts)} traces ({len(with_think)} with a think part): "
        f"{dict(counts)}; answer without thinking support: {sum(m.unsupported is True for _, m in verdicts)}; "
        f"truncated: {sum(m.truncated for _, m in verdicts)}"
    )
    for trace, m in verdicts:
        if m.verdict == "mismatch":
            assert m.think_answer is not None and m.final_answer is not None
            print(f"  mismatch idx {trace.idx}: think {m.think_answer.text!r} vs final {m.final_answer.text!r}")


def test_same_box_in_thought_and_solution_is_a_match(verdicts: list[tuple[SkyTrace, Mismatch]]) -> None:
    """Where thought and solution both end on the same ``\\boxed{X}`` (read by a plain regex here)."""
    same = [
        (t, m)
        for t, m in verdicts
        if t.think_span is not None and _last_simple_box(t.thought) is not None
        and _last_simple_box(t.thought) == _last_simple_box(t.solution)
    ]
    assert len(same) >= 5
    assert [(t.idx, m.verdict) for t, m in same if m.verdict != "match"] == []


def test_changing_the_final_answer_of_a_real_trace_is_a_mismatch(
    verdicts: list[tuple[SkyTrace, Mismatch]],
) -> None:
    """The real solution's last box is replaced by a value the thinking never states."""
    matched = [(t, m) for t, m in verdicts if m.verdict == "match" and m.final_answer is not None][:15]
    assert len(matched) == 15
    for trace, m in matched:
        final = m.final_answer
        assert final is not None
        text = trace.text[: final.start] + "987654321" + trace.text[final.end :]
        changed = think_answer_mismatch(text, split_think(text))
        assert changed.verdict == "mismatch", trace.idx
        assert changed.final_answer is not None and changed.final_answer.text == "987654321"
        assert changed.think_answer == m.think_answer
        assert changed.unsupported is True


def test_an_earlier_supporting_answer_is_support(verdicts: list[tuple[SkyTrace, Mismatch]]) -> None:
    """A final answer reached earlier in the thinking, then abandoned: mismatch but supported."""
    trace, m = next((t, m) for t, m in verdicts if m.verdict == "match" and t.think_span is not None)
    assert m.think_answer is not None
    think_end = trace.think_span[1]
    text = trace.text[:think_end] + "\n\nSo the answer is 987654321.\n\n" + trace.text[think_end:]
    changed = think_answer_mismatch(text, split_think(text))
    assert changed.think_answer is not None and changed.think_answer.text == "987654321"
    assert (changed.verdict, changed.unsupported) == ("mismatch", False)


def test_reached_answers_in_real_sentences(skyt1_traces: list[SkyTrace]) -> None:
    """Conclusions and results are found, premises are not (sentences cut from the real traces)."""
    by_idx = {t.idx: t.text for t in skyt1_traces}
    cases = [
        (0, "Therefore, the polar coordinates are (3, π/2).", [("(3, π/2)", "conclusion")]),
        (5, "Plugging in the numbers: 126 - 2 times 6 times 7 = 126 - 84 = 42 inches.", [("42 inches", "result")]),
        (6, "3n + 3 = 27\n\n3n = 24\n\nn = 8", [("8", "result")]),
        (61, "\\[a = -256\\]", [("-256", "result")]),
        (0, "x = 3 cos(π/2) = 3 * 0 = 0", [("0", "result")]),
        (0, "The formula for r is:\n\nr = √(x² + y²)", []),
        (107, "So, the intersection has 9 elements.", [("9 elements", "conclusion")]),
        (218, "So, again, I get (-1,6).", [("(-1,6)", "conclusion")]),
        (98, "Now, putting it all together, I get:\n\n\\[ 2k + 2 \\]", [("2k + 2", "conclusion")]),
        (245, "so the remainder when divided by \\( x^2 - 1 \\) is \\( r(x) = f(x) \\) modulo", []),
        (36, "Therefore, the roots are x = 3, x = 5, and x = 7.", [("x = 3, x = 5, and x = 7", "conclusion")]),
        (22, "So, the solutions are x = 0 or x = 5.", [("x = 0 or x = 5", "conclusion")]),
        (74, "the expression becomes:\n\n\\[\\frac{\\frac{1}{\\cos x}}{\\sin x} - \\frac{\\sin x}{\\cos x}.\\]", []),
    ]
    for idx, snippet, expected in cases:
        text = by_idx[idx]
        at = text.index(snippet)
        found = reached_answers(text, at, at + len(snippet))
        assert [(a.text, a.kind) for a in found] == expected, (idx, snippet)


def test_stated_answers_keep_their_kind(skyt1_traces: list[SkyTrace]) -> None:
    trace = next(t for t in skyt1_traces if t.think_span is not None and "\\boxed{" in t.solution)
    found = reached_answers(trace.text, *trace.solution_span)
    assert found and found[-1].kind == "boxed"
    assert found[-1].text == _last_simple_box(trace.solution) or "{" in found[-1].text


def test_empty_and_truncated_thinking() -> None:
    empty = "<think>\n\n</think>\n\nThe answer is 5."
    m = think_answer_mismatch(empty, split_think(empty))
    assert (m.think_empty, m.truncated, m.verdict, m.unsupported) == (True, False, "undetermined", True)
    cut = "<think>\nSo x = 5. Let me double-check by plugging back"
    m = think_answer_mismatch(cut, split_think(cut))
    assert (m.truncated, m.final_answer, m.unsupported) == (True, None, None)
    assert m.think_answer is not None and m.think_answer.text == "5"
    closed = "<think>So x = 5.</think>The answer is 5."
    assert is_truncated(split_think(closed), "length") and not is_truncated(split_think(closed), "stop")
    none = "The answer is 5."
    m = think_answer_mismatch(none, split_think(none))
    assert (m.verdict, m.unsupported, m.think_empty, m.truncated) == ("undetermined", None, False, False)


def _verdict(think: str, answer: str, answer_type: str = "math", problem: str | None = None) -> Mismatch:
    """The verdict of a trace whose thinking arrives separately (``reasoning_content``)."""
    text = f"{think}\n\n{answer}"
    split = ThinkSplit(0, len(think), len(think) + 2, len(text), True)
    return think_answer_mismatch(text, split, answer_type=answer_type, problem=problem)


@pytest.mark.parametrize(
    ("think", "answer", "answer_type", "verdict"),
    [
        # The same number with a unit word or in words is no mismatch (own traces, R1 and Sky-T1 style).
        ("20 × 13 = 260.\n\nSo the farmer has 260 sheep in total.", "**Answer: 260 sheep**", "numeric", "match"),
        ("So the answer should be 9 customers.", "The answer is $\\boxed{9}$.", "numeric", "match"),
        ("12 goes into 36 three times.\n\nSo he fills three boxes.", "Tom fills three boxes.", "numeric", "match"),
        # An equation still to be solved is no conclusion: the thinking concludes with its solution.
        ("Gina has 28, so 28 = 2F.\n\nDividing by 2: F = 14.\n\nSo Fred has 14 stickers.\n\n"
         "Check: twice 14 is 2 × 14 = 28.", "**Answer:** 14", "numeric", "match"),
        # A plan that is never carried out concludes nothing: undetermined, not a mismatch.
        ("The plan: first find the least common multiple of 2, 3 and 4.\n\nThen rescale each fraction.\n\n"
         "Finally, check whether the result can be reduced.\n\nOkay, that's the approach.",
         "The answer is $\\frac{17}{12}$.", "math", "undetermined"),
        ("I need to count the divisors of 196. First factor it, then use the formula.", "The answer is 9.", "numeric",
         "undetermined"),
        # A true mismatch: the thinking concludes one value, the answer states another.
        ("The area is 6 × 7 = 42.\n\nSo the area is 42 square centimetres.", "The area of the rectangle is 24 cm².",
         "numeric", "mismatch"),
        ("So the prime is 29, which is option C.", "FINAL ANSWER: B", "choice", "mismatch"),
    ],
)
def test_mismatch_as_a_reader_judges_it(think: str, answer: str, answer_type: str, verdict: str) -> None:
    options = "Which is prime?\nA) 21\nB) 27\nC) 29\nD) 33" if answer_type == "choice" else None
    assert _verdict(think, answer, answer_type, options).verdict == verdict


def _separate(think: str, answer: str) -> tuple[str, ThinkSplit]:
    """The raw text and split of a trace whose thinking came in ``reasoning_content``."""
    text = f"{think}\n\n{answer}"
    return text, ThinkSplit(0, len(think), len(think) + 2, len(text), True)


@pytest.mark.parametrize(
    ("text", "split", "truncated"),
    [
        # A separate thinking that no answer follows was cut off (Kimi-style reasoning_content).
        (*_separate("We need to parse the problem. The sample mass is 1.4 g and the", ""), True),
        (*_separate("Thus the answer is C.\n\nNow we need to produce the final", " "), True),
        (*_separate("Thus the answer is C.", "FINAL ANSWER: C"), False),
        # Closed think tags followed by nothing: closed, so not cut off.
        ("<think>So x = 5.</think>", split_think("<think>So x = 5.</think>"), False),
        # No think markers: a response stopping mid-sentence was cut off, a finished one was not (Sky-T1 style).
        ("So, the number is of the form ...20.\n\nSo,", None, True),
        ("The formula is:\n\n\\[\\cos \\theta = \\frac{|d_1 \\cdot", None, True),
        ("So the angle at P is x degrees, and the angle at R is", None, True),
        ("Therefore, the number of divisors of 196 is 9.", None, False),
        ("#### 18", None, False),
    ],
)
def test_truncated_thinking(text: str, split: ThinkSplit | None, truncated: bool) -> None:
    assert is_truncated(split or split_think(text, "none"), None, text) is truncated


def test_states_answer_screens_before_grading() -> None:
    assert states_answer("42 inches", "42") and states_answer("(3, π/2)", "\\left( 3, \\frac{\\pi}{2} \\right)")
    assert not states_answer("\\frac{37}{8} \\cdot \\frac{8}{37}", "1")  # a computation, not a statement
    assert not states_answer("2", "p - q") and not states_answer("4", "(1, -2)")
    assert states_answer("B", "(B)", "choice") and states_answer("Evelyn", "\\text{Evelyn}", "text")


@pytest.mark.parametrize(
    ("candidate", "target", "states"),
    [
        # A scalar is no matrix: screened out before math-verify (which took 290 ms on the first).
        ("\\pm 1", "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", False),
        ("\\lambda_2", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", False),
        # Row breaks are counted before normalising eats the space of "\\ " (a real Sky-T1 pair).
        (
            "\\begin{pmatrix} -\\frac{1}{3} \\\\ \\frac{2}{3} \\\\ \\frac{5}{3} \\end{pmatrix}",
            "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}",
            True,
        ),
        # An algebraic number is no multiple of π ...
        ("\\frac{9\\sqrt{2} + 8\\sqrt{3}}{6}", "\\pi", False),
        ("20\\pi", "\\sqrt{5}", False),
        # ... unless a function may turn one into the other.
        ("\\frac{\\pi}{3}", "\\arccos \\frac{1}{2}", True),
        ("2\\pi", "\\pi + \\pi", True),
        # A function the target does not apply is a computation on the way (tan 120° is -√3).
        ("\\frac{\\sin 120^\\circ}{\\cos 120^\\circ}", "-\\sqrt{3}", False),
        ("\\arccos \\frac{1}{2}", "\\frac{\\pi}{3}", False),
        # One unknown's solutions state their list, not one of them.
        ("x = 3, x = 5, and x = 7", "3, 5, 7", True),
        ("x = 0 or x = 5", "5", False),
        ("x = 3, y = 5", "3, 5", False),
    ],
)
def test_states_answer_screens_shapes_math_verify_need_not_see(candidate: str, target: str, states: bool) -> None:
    assert states_answer(candidate, target) is states


_TAGS = st.sampled_from(["<think>", "</think>", "<|begin_of_thought|>", "<|end_of_thought|>",
                         "<|begin_of_solution|>", "\\boxed{", "}", "So x = ", "The answer is ", "\n\n"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(_TAGS | st.text(max_size=40), max_size=12),
       start=st.integers(-10, 500), end=st.integers(-10, 500) | st.none())
def test_never_raises_and_spans_stay_in_bounds(parts: list[str], start: int, end: int | None) -> None:
    text = "".join(parts)
    lo, hi = max(0, min(start, len(text))), len(text) if end is None else max(0, min(end, len(text)))
    found = reached_answers(text, start, end)
    assert found == sorted(found, key=lambda a: (a.start, a.end))
    for a in found:
        assert lo <= a.start < a.end <= max(lo, hi) and text[a.start : a.end] == a.text
    m = think_answer_mismatch(text, split_think(text), finish_reason="length")
    assert m.truncated
    for answer in (m.think_answer, m.final_answer):
        assert answer is None or text[answer.start : answer.end] == answer.text


@pytest.mark.parametrize(
    "text",
    [
        "<think>" + "So x = 1. " * 20_000 + "</think>The answer is 2.",
        "<think>" + "\\boxed{" * 28_000 + "</think>",
        "<think>" + "= " * 100_000,
        "So the answer is " * 12_000,
        "(" * 200_000,
    ],
    ids=["results", "open-boxes", "equals", "answer-is", "parens"],
)
def test_pathological_200kb_inputs_complete(text: str) -> None:
    m = think_answer_mismatch(text, split_think(text))
    assert m.verdict in ("match", "mismatch", "undetermined")
