"""Behaviour cues: verification, backtracking, subgoals, backward chaining, reflection (SPEC §3.5)."""

from __future__ import annotations

import re
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyt1_samples import SkyTrace

from traces.analysis.behaviours import (
    BACKTRACKING_PHRASES,
    BACKWARD_CHAINING_PHRASES,
    PATTERNS,
    REFLECTION_PHRASES,
    SUBGOAL_PHRASES,
    VERIFICATION_PHRASES,
    Behaviours,
    find_behaviours,
    find_phrases,
)

_PHRASES = {
    "verification": VERIFICATION_PHRASES,
    "backtracking": BACKTRACKING_PHRASES,
    "subgoal": SUBGOAL_PHRASES,
    "backward_chaining": BACKWARD_CHAINING_PHRASES,
    "reflection": REFLECTION_PHRASES,
}


@pytest.fixture(scope="module")
def found(skyt1_traces: list[SkyTrace]) -> list[tuple[SkyTrace, Behaviours]]:
    return [(trace, find_behaviours(trace.text)) for trace in skyt1_traces]


def _canonical(phrase: str) -> str:
    return " ".join(phrase.casefold().replace("’", "'").replace("-", " ").split())


def test_every_cue_in_the_real_traces_is_a_listed_phrase(found: list[tuple[SkyTrace, Behaviours]]) -> None:
    listed = {name: {_canonical(p) for p in phrases} for name, phrases in _PHRASES.items()}
    template = re.compile(
        r"to (?:get|find|obtain|compute|determine|have|make)\b.*\b(?:we|i) (?:need|must|have to|should)$"
    )
    totals: dict[bool, list[dict[str, int]]] = {True: [], False: []}
    for trace, behaviours in found:
        for m in behaviours.matches:
            assert trace.text[m.start : m.end] == m.text
            cue = _canonical(m.text)
            goal_template = m.category == "backward_chaining" and template.match(cue)
            assert cue in listed[m.category] or goal_template, cue
        assert behaviours.matches == tuple(sorted(behaviours.matches, key=lambda m: (m.start, m.end)))
        assert sum(behaviours.counts.values()) == len(behaviours.matches)
        totals[trace.score].append(behaviours.counts)
    print("\nmean behaviour cues per trace (correct vs incorrect Sky-T1 traces):")
    for name in PATTERNS:
        right = statistics.mean(c[name] for c in totals[True])
        wrong = statistics.mean(c[name] for c in totals[False])
        print(f"  {name:18s} {right:6.2f} vs {wrong:6.2f}")


def test_every_wait_of_the_real_traces_is_a_backtracking_cue(
    found: list[tuple[SkyTrace, Behaviours]],
) -> None:
    """Counted independently: the word "wait" among the words of each trace (split on non-letters)."""
    for trace, behaviours in found:
        words = re.findall(r"[A-Za-z'’-]+", trace.text)
        expected = sum(1 for w in words if w.casefold() == "wait")
        waits = [m for m in behaviours.matches if m.category == "backtracking" and m.text.casefold() == "wait"]
        assert len(waits) == expected


def test_phrases_match_on_word_boundaries_in_any_case() -> None:
    text = (
        "WAIT, that’s wrong. I awaited the unverified result while waiting. "
        "Let me double check by plugging back x = 2. First, I need to find y; "
        "to find y we need x. Working backwards from 12. Aha! Now I see the key insight."
    )
    found = [(m.category, m.text) for m in find_behaviours(text).matches]
    assert found == [
        ("backtracking", "WAIT"),
        ("backtracking", "that’s wrong"),
        ("verification", "double check"),
        ("verification", "plugging back"),
        ("subgoal", "First, I need to"),
        ("backward_chaining", "to find y we need"),
        ("backward_chaining", "Working backwards"),
        ("reflection", "Aha"),
        ("reflection", "Now I see"),
        ("reflection", "the key insight"),
    ]


def test_range_limits_the_search() -> None:
    text = "Wait. Let me verify. Wait."
    found = find_behaviours(text, 5, 20)
    assert [(m.category, m.start, m.end) for m in found.matches] == [("verification", 6, 19)]
    assert find_behaviours(text, 30, 10).matches == ()
    assert find_behaviours(text, -4).counts["backtracking"] == 2


def _scanned_one_pattern_at_a_time(text: str, start: int = 0, end: int | None = None) -> Behaviours:
    """The definition ``find_behaviours`` implements with one scan: every pattern's own ``finditer``."""
    found = [m for name, pattern in PATTERNS.items() for m in find_phrases(pattern, name, text, start, end)]
    return Behaviours(tuple(sorted(found, key=lambda m: (m.start, m.end))))


def test_one_scan_finds_what_five_scans_find_in_the_real_traces(found: list[tuple[SkyTrace, Behaviours]]) -> None:
    for trace, behaviours in found:
        assert behaviours == _scanned_one_pattern_at_a_time(trace.text)


_PIECES = st.sampled_from(
    [phrase for phrases in _PHRASES.values() for phrase in phrases]
    + ["First, let me check", "to get x, we need", "WAIT", "wait,", "let's", "’", "-", " ", "\n", "x", "again"]
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(_PIECES | st.text(max_size=8), max_size=14),
    joiner=st.sampled_from([" ", "", ", ", "\n"]),
    start=st.integers(-2, 60),
    end=st.integers(0, 400) | st.none(),
)
def test_one_scan_finds_what_five_scans_find_even_where_cues_overlap(
    pieces: list[str], joiner: str, start: int, end: int | None
) -> None:
    text = joiner.join(pieces)
    assert find_behaviours(text, start, end) == _scanned_one_pattern_at_a_time(text, start, end)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), start=st.integers(-5, 400), end=st.integers(-5, 400) | st.none())
def test_never_raises_and_spans_stay_in_bounds(text: str, start: int, end: int | None) -> None:
    lo = max(0, min(start, len(text)))
    for m in find_behaviours(text, start, end).matches:
        assert lo <= m.start < m.end <= len(text) and text[m.start : m.end] == m.text


@pytest.mark.parametrize(
    "text",
    ["wait " * 40_000, "to get " * 30_000 + "we need", "let me " * 30_000, "-" * 200_000],
    ids=["waits", "open-goal", "let-me", "hyphens"],
)
def test_pathological_200kb_inputs_complete(text: str) -> None:
    find_behaviours(text)
