"""Loops: passages repeated ≥ 3 times, sentences and formulas ≥ 5 times, and the tokens they waste
(docs/concepts.md §3.4), on the real Sky-T1 traces."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyt1_samples import SkyTrace

from traces.analysis.loops import (
    DEFAULT_MIN_PASSAGE_TOKENS,
    DEFAULT_MIN_SHORT_REPEATS,
    DEFAULT_MIN_TOKENS,
    Loops,
    find_loops,
)
from traces.analysis.overthinking import reasoning_range
from traces.analysis.segmentation import Span
from traces.analysis.think import split_think
from traces.analysis.tokens import count_tokens, token_words

Found = tuple[SkyTrace, tuple[int, int], Loops]


def _squeezed(s: str) -> str:
    return "".join(s.split()).casefold()


@pytest.fixture(scope="module")
def found(skyt1_traces: list[SkyTrace]) -> list[tuple[SkyTrace, tuple[int, int], Loops]]:
    """Loops of the reasoning of every trace (the think part, or the whole text without tags)."""
    out = []
    for trace in skyt1_traces:
        start, end = reasoning_range(split_think(trace.text))
        out.append((trace, (start, end), find_loops(trace.text, start, end)))
    return out


def test_paragraph_of_a_real_trace_repeated_three_times(found: list[Found]) -> None:
    """A passage (a paragraph of at least ``DEFAULT_MIN_PASSAGE_TOKENS``) three times is a loop."""
    trace, (start, end), paragraphs = next(
        (f[0], f[1], passages)
        for f in found
        if f[1][0] > 0 and not f[2].loops and f[0].score
        and (passages := [p for p in f[0].text[f[1][0] : f[1][1]].split("\n\n") if count_tokens(p) >= DEFAULT_MIN_PASSAGE_TOKENS])
    )
    paragraph = paragraphs[len(paragraphs) // 2]
    at = trace.text.index(paragraph, start)
    text = trace.text[:at] + "\n\n".join([paragraph] * 3) + trace.text[at + len(paragraph) :]
    new_start, new_end = reasoning_range(split_think(text))

    loops = find_loops(text, new_start, new_end).loops

    step = len(paragraph) + 2
    assert [loop.repeats for loop in loops] == [
        tuple(Span(at + i * step, at + i * step + len(paragraph)) for i in range(3))
    ]
    assert loops[0].count == 3
    assert loops[0].tokens_wasted == 2 * count_tokens(paragraph)


def test_repeats_differing_in_case_and_spacing_are_one_loop(skyt1_traces: list[SkyTrace]) -> None:
    sentence = (
        "Wait, maybe I should consider the case where x is negative, because then the square root is not real."
    )
    variants = [sentence, sentence.upper(), sentence.replace(" ", "  \n "), sentence.lower(), sentence.title()]
    paragraphs = skyt1_traces[0].thought.split("\n\n")
    text = "\n\n".join([*paragraphs[:3], " ".join(variants), *paragraphs[3:6]])
    loops = find_loops(text).loops
    assert len(loops) == 1 and loops[0].count == 5
    assert [text[r.start : r.end] for r in loops[0].repeats] == variants
    assert loops[0].tokens_wasted == 4 * count_tokens(sentence)


@pytest.mark.parametrize(
    "derivation",
    [
        # R1 style: a definition restated once per value it is applied to.
        "We have f(n) = n^2 + n + 41 and need f(1) + f(2) + f(3).\n\n"
        "For n = 1: f(n) = n^2 + n + 41, so f(1) = 1 + 1 + 41 = 43.\n\n"
        "For n = 2: again f(n) = n^2 + n + 41, so f(2) = 4 + 2 + 41 = 47.\n\n"
        "For n = 3: f(n) = n^2 + n + 41 gives f(3) = 9 + 3 + 41 = 53.\n\nSo the sum is 143.",
        # Sky-T1 style: a product written out three times while it is expanded.
        "Let me write \\( p(x) = (x-2)(x-3)(x-4)(x-5)(x-6)(x-7) \\).\n\n"
        "At x = 8, \\( (x-2)(x-3)(x-4)(x-5)(x-6)(x-7) \\) is 6 \\cdot 5 \\cdot 4 \\cdot 3 \\cdot 2 \\cdot 1 = 720.\n\n"
        "At x = 1, \\( (x-2)(x-3)(x-4)(x-5)(x-6)(x-7) \\) is (-1)(-2)(-3)(-4)(-5)(-6) = 720 as well.",
    ],
)
def test_a_formula_restated_while_working_is_no_loop(derivation: str) -> None:
    """Three or four repeats of a short block are a derivation at work; five or more are a loop."""
    assert find_loops(derivation).loops == ()
    formula = "Wait, f(n) = n^2 + n + 41 for every n we try, so check it again."
    stuck = " ".join([formula] * DEFAULT_MIN_SHORT_REPEATS)
    assert [loop.count for loop in find_loops(stuck).loops] == [DEFAULT_MIN_SHORT_REPEATS]


def test_every_loop_in_the_real_traces_is_a_true_repeat(found: list[Found]) -> None:
    looping = 0
    wasted = 0
    by_truncation: dict[bool, list[bool]] = defaultdict(list)
    for trace, (start, end), result in found:
        by_truncation[trace.truncated].append(bool(result.loops))
        looping += bool(result.loops)
        wasted += result.tokens_wasted
        covered: list[Span] = []
        for loop in result.loops:
            repeats = loop.repeats
            assert loop.count == len(repeats) >= 3
            texts = [trace.text[r.start : r.end] for r in repeats]
            assert len({_squeezed(t) for t in texts}) == 1
            assert count_tokens(texts[0]) >= DEFAULT_MIN_TOKENS
            assert all(start <= r.start < r.end <= end for r in repeats)
            for a, b in zip(repeats, repeats[1:]):
                assert a.end <= b.start
                assert count_tokens(trace.text[a.end : b.start]) <= count_tokens(texts[0])
            assert loop.tokens_wasted == sum(count_tokens(t) for t in texts[1:])
            covered.extend(repeats)
        covered.sort(key=lambda s: s.start)
        assert all(a.end <= b.start for a, b in zip(covered, covered[1:])), trace.idx
    n = len(found)
    rate = {k: sum(v) / len(v) for k, v in by_truncation.items()}
    print(
        f"\nSky-T1 loop rate: {looping}/{n} traces ({looping / n:.1%}); tokens wasted in loops: {wasted}; "
        f"loop rate of truncated thoughts {rate[True]:.1%} vs others {rate[False]:.1%}"
    )
    assert rate[True] > rate[False]


def test_lines_repeated_close_together_are_reported(found: list[Found]) -> None:
    """An independent detector: a line of ≥ 24 tokens occurring 3+ times, each gap shorter than it."""
    checked = 0
    for trace, (start, end), result in found:
        reasoning = trace.text[start:end]
        positions: dict[str, list[int]] = defaultdict(list)
        for m in re.finditer(r"[^\n]+", reasoning):
            line = m.group().strip()
            if count_tokens(line) >= DEFAULT_MIN_TOKENS:
                positions[line].append(start + m.start() + m.group().index(line))
        for line, where in positions.items():
            tokens = count_tokens(line)
            pairs = zip(where, where[1:])
            close = [(a, b) for a, b in pairs if count_tokens(trace.text[a + len(line) : b]) <= tokens]
            if len(close) < 2 or close[0][1] != close[1][0]:
                continue
            checked += 1
            for at in (close[0][0], close[0][1], close[1][1]):
                repeats = [r for loop in result.loops for r in loop.repeats]
                assert any(r.start < at + len(line) and at < r.end for r in repeats), (trace.idx, line)
    assert checked >= 5


def test_real_token_offsets_count_the_waste() -> None:
    block = "So the sum of the digits is seven plus two plus one, which is ten, not nine. "
    text = "Start. " + block * 5 + "End."
    per_char = list(range(len(text)))
    loop = find_loops(text, token_starts=per_char).loops[0]
    assert loop.count == 5 and loop.tokens_wasted == sum(r.end - r.start for r in loop.repeats[1:])


def test_rejects_meaningless_parameters() -> None:
    with pytest.raises(ValueError, match="min_repeats"):
        find_loops("a b c", min_repeats=1)
    with pytest.raises(ValueError, match="min_tokens"):
        find_loops("a b c", min_tokens=0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(st.sampled_from(["Wait", ", ", "x = 1", ". ", "\n", "so", " the ", "ab"]), max_size=300)
    .map("".join)
    | st.text(max_size=400),
    start=st.integers(-5, 500),
    end=st.integers(-5, 500) | st.none(),
    min_tokens=st.integers(1, 6),
    min_repeats=st.integers(2, 4),
)
def test_never_raises_and_spans_stay_in_bounds(
    text: str, start: int, end: int | None, min_tokens: int, min_repeats: int
) -> None:
    lo = max(0, min(start, len(text)))
    hi = len(text) if end is None else max(0, min(end, len(text)))
    result = find_loops(text, start, end, min_tokens=min_tokens, min_repeats=min_repeats)
    for loop in result.loops:
        assert loop.count >= min_repeats and loop.tokens_wasted >= 0
        assert len({_squeezed(text[r.start : r.end]) for r in loop.repeats}) == 1
        for r in loop.repeats:
            assert lo <= r.start < r.end <= hi
        assert all(a.end <= b.start for a, b in zip(loop.repeats, loop.repeats[1:]))


@settings(max_examples=200, deadline=None)
@given(
    repeated=st.sampled_from(["Wait, 12345 is wrong.", "So x=1024 and yz = 7.", "ab cd ef gh ij kl"]),
    times=st.integers(0, 5),
    cuts=st.tuples(st.integers(0, 200), st.integers(0, 200)),
)
def test_tokens_of_the_whole_text_give_the_loops_of_any_range(
    repeated: str, times: int, cuts: tuple[int, int]
) -> None:
    """The engine passes the whole text's tokens; ranges that cut a token ("12|345") still match
    the tokens of the range itself."""
    text = "Start 98765. " + " ".join([repeated] * times) + " end"
    start, end = sorted(cuts)
    assert find_loops(text, start, end, tokens=token_words(text)) == find_loops(text, start, end)


@pytest.mark.parametrize(
    ("text", "loops"),
    [
        ("Wait, that is not right. " * 8_000, 1),
        ("a " * 100_000, 1),
        ("1" * 200_000, 1),
        ("{" * 200_000, 1),
        (" ".join(f"w{i % 997} z{i % 991}" for i in range(20_000)), None),
        ("\n" * 200_000, 0),
    ],
    ids=["one-sentence", "one-word", "digits", "braces", "near-periodic", "blank"],
)
def test_pathological_200kb_inputs_complete(text: str, loops: int | None) -> None:
    result = find_loops(text)
    if loops is not None:
        assert len(result.loops) == loops
    if loops == 1:
        assert result.tokens_wasted >= count_tokens(text) * 0.9
