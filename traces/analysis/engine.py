"""One pass of every per-trace analysis (docs/concepts.md §3.3–3.5) over one trace: scores, verdicts, markers.

``analyze_trace`` is what the analysis layer stores for each trace: numbers as ``Score`` rows
(so lists can filter and sort by them), verdicts and the character spans the viewer marks (t*,
the shaded tokens after t*, loops, behaviour cues, thought switches). It is pure: plain values
in, plain values out; ``traces.actions.analysis`` loads traces and stores the results.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from traces.analysis.answers import AnswerType
from traces.analysis.behaviours import find_behaviours
from traces.analysis.loops import Loops, find_loops
from traces.analysis.mismatch import Mismatch, reached_answers, think_answer_mismatch
from traces.analysis.overthinking import (
    Overthinking,
    Underthinking,
    measure_overthinking,
    measure_underthinking,
    reasoning_range,
)
from traces.analysis.segmentation import Span
from traces.analysis.think import ThinkSplit
from traces.analysis.tokens import token_words

ANALYSIS_VERSION = "6"
"""Bump when a change to any analysis changes its results: ``manage.py analyze`` re-runs older rows.

2: reached answers that apply a function their target does not, or differ from it in matrix cells
or in mentioning π, no longer state it (``mismatch.states_answer``), which may move t*.
3: conclusions after ", we get", with "has" as a relation, displayed on the line after a colon
("…, I get:"), and lists of one unknown's solutions ("x = 0 or x = 5") are reached answers
(``mismatch``), which may set or move t*; a count in words ("two y-intercepts") grades as its
number (``answers.normalize_answer``); a bare function name ("f(x)") is no conclusion.
4: a count in digits followed by words ("13 marbles", "9 customers") grades as its number, which
may change a mismatch verdict, t* or the correctness the analysis reports.
5: the tokens after t* (``overthinking_ratio``, the shaded stretch, re-verifications) start where
the answer reaching the reference ends, not where step t* ends, so a long step no longer hides them.
6: grading and reading answers as a careful grader does (numbers with units or in words, prose
conclusions, option letters against option texts, no answer read from a restatement of the task;
plan-only thinking concludes nothing), a sentence or formula must repeat five times to be a loop,
and a thinking cut off before any answer is truncated even where no delimiter shows its end, which
may change correctness, mismatch verdicts, t*, loops and truncation."""

METHOD = "analysis"
"""The ``Score.method`` of every score this module produces."""

MISMATCH_VALUES = {"match": 0.0, "mismatch": 1.0}
"""``think_answer_mismatch`` score: 1 mismatch, 0 match; absent when undetermined (docs/concepts.md §3.3)."""


@dataclass(frozen=True)
class TraceInput:
    """What the analyses read of one trace: its text and spans, and its problem's reference."""

    text: str
    split: ThinkSplit
    steps: Sequence[Span]
    finish_reason: str | None = None
    reference: str | None = None
    answer_type: AnswerType = "math"
    token_starts: Sequence[int] | None = None
    problem: str | None = None
    """The problem's text: a multiple-choice problem lists its options there, which grading reads."""


@dataclass(frozen=True)
class Marker:
    """A span of the trace's raw text that the viewer highlights (``kind`` picks the style)."""

    kind: str
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class TraceReport:
    """Every result of one trace: named numbers, verdicts and markers in text order."""

    scores: dict[str, float]
    verdicts: dict[str, str | bool | int | None]
    markers: list[Marker] = field(default_factory=list)


def analyze_trace(trace: TraceInput) -> TraceReport:
    """Run mismatch, overthinking, underthinking, loops and behaviours on one trace (docs/concepts.md §3.3–3.5).

    The reasoning measured is the think part, or the whole answer part when the completion has no
    think delimiters (``overthinking.reasoning_range``); ``steps`` are the trace's steps, of which
    those inside that range are the steps t* is counted in.
    """
    start, end = reasoning_range(trace.split)
    # Tokenised once: loops match these tokens, and they count tokens unless real ones are given.
    tokens = token_words(trace.text)
    token_starts = tokens.starts.tolist() if trace.token_starts is None else trace.token_starts
    steps = steps_within(trace.steps, start, end)
    # Mismatch reads the answers reached in the think part, overthinking those in the range its
    # steps tile: usually both are the reasoning range, then they are found once.
    tiled = bool(steps) and steps[0].start == start and steps[-1].end == end
    shared = trace.split.has_think or (tiled and bool(trace.reference))
    reached = reached_answers(trace.text, start, end) if shared else None
    mismatch = think_answer_mismatch(
        trace.text,
        trace.split,
        answer_type=trace.answer_type,
        finish_reason=trace.finish_reason,
        reached=reached,
        problem=trace.problem,
    )
    over = measure_overthinking(
        trace.text,
        steps,
        trace.reference or None,
        answer_type=trace.answer_type,
        token_starts=token_starts,
        reached=reached if tiled else None,
        problem=trace.problem,
    )
    under = measure_underthinking(trace.text, start, end, over.first_correct)
    loops = find_loops(trace.text, start, end, token_starts=token_starts, tokens=tokens)
    behaviours = find_behaviours(trace.text, start, end)
    scores = {
        **mismatch_scores(mismatch),
        **overthinking_scores(over, under),
        "loop_count": float(len(loops.loops)),
        "loop_tokens_wasted": float(loops.tokens_wasted),
        **{f"behaviour_{name}": float(count) for name, count in behaviours.counts.items()},
    }
    verdicts: dict[str, str | bool | int | None] = {
        "mismatch": mismatch.verdict,
        "think_answer": mismatch.think_answer.text if mismatch.think_answer else None,
        "unsupported_answer": mismatch.unsupported,
        "think_empty": mismatch.think_empty,
        "truncated": mismatch.truncated,
        "t_star": over.t_star,
        "loop": bool(loops.loops),
    }
    markers = [
        *overthinking_markers(over, end),
        *loop_markers(loops),
        *(Marker("thought_switch", m.start, m.end, m.text) for m in under.switches),
        *(Marker(f"behaviour_{m.category}", m.start, m.end, m.text) for m in behaviours.matches),
    ]
    markers.sort(key=lambda m: (m.start, m.end, m.kind))
    return TraceReport(scores, verdicts, markers)


def steps_within(steps: Sequence[Span], start: int, end: int) -> list[Span]:
    """The parts of ``steps`` inside ``[start, end)``: a part's first and last steps also hold its
    delimiters and the text around them (``trace_builder.segmented_spans``), which the analyses of
    its content leave out."""
    inside = (Span(max(step.start, start), min(step.end, end)) for step in steps)
    return [step for step in inside if step.end > step.start]


def mismatch_scores(mismatch: Mismatch) -> dict[str, float]:
    """docs/concepts.md §3.3 as numbers: mismatch (when determined), unsupported answer, truncation, empty think."""
    scores = {"truncated": float(mismatch.truncated), "think_empty": float(mismatch.think_empty)}
    if mismatch.verdict in MISMATCH_VALUES:
        scores["think_answer_mismatch"] = MISMATCH_VALUES[mismatch.verdict]
    if mismatch.unsupported is not None:
        scores["unsupported_answer"] = float(mismatch.unsupported)
    return scores


def overthinking_scores(over: Overthinking, under: Underthinking) -> dict[str, float]:
    """docs/concepts.md §3.4 as numbers; t* and what depends on it only when the reference was reached."""
    scores = {
        "overthinking_ratio": over.ratio,
        "thought_switches": float(len(under.switches)),
        "think_tokens_measured": float(over.think_tokens),
    }
    if over.t_star is not None:
        scores["t_star_step"] = float(over.t_star)
        scores["tokens_after_t_star"] = float(over.tokens_after)
        scores["reverifications_after_t_star"] = float(len(over.reverifications))
    if under.switches_before_correct_path is not None:
        scores["switches_before_correct_path"] = float(under.switches_before_correct_path)
    return scores


def overthinking_markers(over: Overthinking, reasoning_end: int) -> list[Marker]:
    """The t* marker at the first correct answer, and the shaded stretch after that answer."""
    if over.first_correct is None or over.tail_start is None:
        return []
    found = over.first_correct
    markers = [Marker("t_star", found.start, found.end, f"t*: reference answer first reached ({found.text})")]
    if reasoning_end > over.tail_start:
        markers.append(
            Marker("after_t_star", over.tail_start, reasoning_end, f"{over.tokens_after} tokens after t*")
        )
    markers.extend(Marker("reverification", m.start, m.end, m.text) for m in over.reverifications)
    return markers


LOOP_LABEL = re.compile(r"loop (?P<loop>\d+): repeat (?P<repeat>\d+) of (?P<count>\d+)")
"""How ``loop_markers`` labels each repeat: the viewer reads the loop and the repeat back from it."""


def loop_markers(loops: Loops) -> list[Marker]:
    """One marker per repeat of each loop, labelled with its position in the loop (``LOOP_LABEL``)."""
    return [
        Marker("loop", span.start, span.end, f"loop {i + 1}: repeat {j + 1} of {loop.count}")
        for i, loop in enumerate(loops.loops)
        for j, span in enumerate(loop.repeats)
    ]
