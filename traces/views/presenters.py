"""Plain data the trace viewer renders: steps sliced from the raw text, label chips, alternatives,
and the analysis results: badges and the marks inside the step texts.

docs/concepts.md §1 (Step, Label, Trace annotation), §3.3–3.5 (analysis markers) and §4 (trace viewer).
Everything here is text for Django's autoescaping: nothing is marked safe. Marked text is a list
of plain ``Segment`` values that the template escapes one by one.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any, ClassVar

from django.db.models import Q

from traces.analysis.engine import METHOD, Marker
from traces.models import Part, Trace, TraceAnalysis, TraceAnnotation, is_auto_source
from traces.queries.traces import label_rows, trace_score_rows

if TYPE_CHECKING:
    from traces.views.windows import HiddenSteps, TextRest

#: The think part starts collapsed when it is longer than this many characters (about two screens).
COLLAPSE_THINK_OVER_CHARS = 4000


@dataclass(frozen=True)
class LabelChip:
    """One label of one step from one source."""

    source: str
    who: str  # the person for human labels, "" for automatic ones
    value: int | None
    flagged: bool
    confidence: float | None
    note: str
    auto: bool


@dataclass(frozen=True)
class Alternative:
    """Another completion offered at a PRM800K step, with its rating."""

    text: str
    rating: int | None
    flagged: bool
    human: bool
    chosen: bool


@dataclass(frozen=True)
class MarkStyle:
    """How the viewer shows one kind of analysis marker: its CSS, its inline tag, its legend."""

    css: str  # the ``mark-<css>`` class of the text it covers
    tag: str  # the word of the small tag where it starts
    meaning: str  # what the legend says it is


#: Every marker kind of the analysis engine (``traces.analysis.engine.analyze_trace``), in legend order.
MARK_STYLES: dict[str, MarkStyle] = {
    "t_star": MarkStyle("t-star", "t*", "t*: where the reference answer is first reached"),
    "after_t_star": MarkStyle("after-t-star", "after t*", "shaded: reasoning after t* (overthinking)"),
    "reverification": MarkStyle("reverification", "re-check", "re-verification after t*"),
    "loop": MarkStyle("loop", "↻ loop", "loop: a sentence or block repeated 3 times or more"),
    "thought_switch": MarkStyle("thought-switch", "⇄ switch", "thought switch to another approach"),
    "behaviour_verification": MarkStyle("verification", "verify", "behaviour: verification"),
    "behaviour_backtracking": MarkStyle("backtracking", "backtrack", "behaviour: backtracking"),
    "behaviour_subgoal": MarkStyle("subgoal", "subgoal", "behaviour: subgoal setting"),
    "behaviour_backward_chaining": MarkStyle("backward-chaining", "backward", "behaviour: backward chaining"),
    "behaviour_reflection": MarkStyle("reflection", "aha", "behaviour: reflection, “aha”"),
}

#: The style of a marker kind the viewer does not know yet (a newer engine): shown, never dropped.
OTHER_MARK = MarkStyle("other", "mark", "other analysis marker")


def mark_style(kind: str) -> MarkStyle:
    return MARK_STYLES.get(kind, OTHER_MARK)


@dataclass(frozen=True)
class MarkTag:
    """The small tag shown where a marker starts; ``title`` is the marker's label."""

    css: str
    text: str
    title: str


@dataclass(frozen=True)
class Segment:
    """A run of shown text covered by the same markers (none: plain text), after the tags starting there."""

    text: str
    css: tuple[str, ...] = ()
    title: str = ""
    tags: tuple[MarkTag, ...] = ()


#: KaTeX auto-render's delimiters in the order of ``static/js/katex-render.js`` ("$$" before "$").
TEX_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_TEX_OPEN = re.compile("|".join(re.escape(left) for left, _ in TEX_DELIMITERS))


def _end_of_formula(text: str, right: str, pos: int) -> int:
    """Where ``right`` closes a formula opened before ``pos``, as auto-render's ``findEndOfMath`` finds it.

    The closing delimiter counts at brace level 0 only, and a backslash escapes the next
    character. Returns -1 when the formula never closes.
    """
    level = 0
    while pos < len(text):
        if level <= 0 and text.startswith(right, pos):
            return pos
        char = text[pos]
        if char == "\\":
            pos += 1
        elif char == "{":
            level += 1
        elif char == "}":
            level -= 1
        pos += 1
    return -1


def tex_spans(text: str) -> list[tuple[int, int]]:
    """The ``[start, end)`` of each formula KaTeX auto-render finds in ``text``, delimiters included.

    A port of auto-render's ``splitAtDelimiters``: the earliest opening delimiter, then its closing
    one. An opening delimiter that never closes makes auto-render leave the rest of the text
    alone; that rest is returned as one span, so no mark is cut inside it either.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    while found := _TEX_OPEN.search(text, pos):
        left, right = next(pair for pair in TEX_DELIMITERS if text.startswith(pair[0], found.start()))
        close = _end_of_formula(text, right, found.start() + len(left))
        if close == -1:
            spans.append((found.start(), len(text)))
            break
        pos = close + len(right)
        spans.append((found.start(), pos))
    return spans


def outside_formulas(pos: int, formulas: list[tuple[int, int]], starts: list[int], *, upward: bool) -> int:
    """``pos``, or the end (``upward``) or start of the formula it falls strictly inside."""
    i = bisect_right(starts, pos) - 1
    if i >= 0 and formulas[i][0] < pos < formulas[i][1]:
        return formulas[i][1] if upward else formulas[i][0]
    return pos


@dataclass(frozen=True)
class _Placed:
    """A marker clipped to one shown text: offsets in that text, and whether its tag goes here."""

    start: int
    end: int
    style: MarkStyle
    label: str
    tagged_here: bool


#: The order of the mark classes on a piece of text covered by several markers.
STYLE_ORDER = (*MARK_STYLES.values(), OTHER_MARK)


def segments_of(text: str, placed: list[_Placed]) -> list[Segment]:
    """``text`` cut at every boundary of ``placed`` markers; each piece lists the markers covering it.

    A sweep over the cuts: the markers covering a piece are those still open at its start, so the
    cost grows with the markers open at once, not with all the markers of the text.
    """
    cuts = sorted({0, len(text), *(p.start for p in placed), *(p.end for p in placed)})
    starting: dict[int, list[_Placed]] = defaultdict(list)
    for p in placed:
        starting[p.start].append(p)
    covering: list[_Placed] = []
    segments = []
    for start, end in pairwise(cuts):
        covering = [p for p in covering if p.end > start] + starting[start]
        present = {p.style for p in covering}
        segments.append(
            Segment(
                text=text[start:end],
                css=tuple(style.css for style in STYLE_ORDER if style in present),
                title=" · ".join(dict.fromkeys(p.label for p in covering)),
                tags=tags_of([p for p in starting[start] if p.tagged_here]),
            )
        )
    return segments


def tags_of(placed: list[_Placed]) -> tuple[MarkTag, ...]:
    """One tag per kind of the markers starting at one place, in their order: markers moved to one
    formula's edge start together (41 repeats of a loop inside one formula), and read "↻ loop ×41"."""
    by_style: dict[MarkStyle, list[str]] = defaultdict(list)
    for p in placed:
        by_style[p.style].append(p.label)
    return tuple(
        MarkTag(style.css, style.tag if len(labels) == 1 else f"{style.tag} ×{len(labels)}", " · ".join(labels))
        for style, labels in by_style.items()
    )


def marked_texts(
    text: str,
    spans: Sequence[tuple[int, int]],
    markers: Sequence[Marker],
    untagged: Sequence[tuple[int, int]] = (),
) -> list[list[Segment]]:
    """The segments of each shown span ``text[start:end]``, in the order of ``spans`` (docs/concepts.md §4 analysis markers).

    Markers may overlap each other and cross span boundaries: each is clipped to every span it
    covers, and its tag appears once, where it first shows, unless it starts in one of the
    ``untagged`` ranges (steps shown elsewhere, which tag it themselves). KaTeX renders each text node on its
    own, so a cut inside a formula would break it: a marker edge that falls strictly inside a
    formula (``tex_spans``) is moved out to the formula's edge, so marks wrap whole formulas. The
    spans must not overlap each other.
    """
    order = sorted(range(len(spans)), key=lambda k: spans[k])
    by_start = sorted(range(len(markers)), key=lambda i: markers[i].start)
    taken = 0  # markers by_start[:taken] start before the current span ends
    active: list[int] = []
    tagged: set[int] = set()
    result: dict[int, list[Segment]] = {}
    for k in order:
        start, end = spans[k]
        while taken < len(by_start) and markers[by_start[taken]].start < end:
            active.append(by_start[taken])
            taken += 1
        active = [i for i in active if markers[i].end > start]
        shown = text[start:end]
        formulas = tex_spans(shown)
        starts = [f[0] for f in formulas]
        placed = []
        for i in active:
            marker = markers[i]
            lo = outside_formulas(max(marker.start, start) - start, formulas, starts, upward=False)
            hi = outside_formulas(min(marker.end, end) - start, formulas, starts, upward=True)
            if lo < hi:
                tag = i not in tagged and not any(lo <= marker.start < hi for lo, hi in untagged)
                placed.append(_Placed(lo, hi, mark_style(marker.kind), marker.label, tag))
                tagged.add(i)
        result[k] = segments_of(shown, placed)
    return [result[k] for k in range(len(spans))]


def shown_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without the whitespace around it: what a step shows of itself."""
    piece = text[start:end]
    core = piece.strip()
    if not core:
        return start, start
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(core)


@dataclass
class StepRow:
    """One step of the current segmentation as the viewer shows it."""

    hidden: ClassVar[bool] = False  # a row of steps not shown yet says True (``windows.HiddenSteps``)
    index: int  # 0-based, as stored and as ProcessBench counts
    text: str
    part: str
    segments: list[Segment] = field(default_factory=list)
    labels: list[LabelChip] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)
    first_error: bool = False
    rest: TextRest | None = None  # the end of a long step, loaded on demand

    @property
    def number(self) -> int:
        """The 1-based number shown to people."""
        return self.index + 1


@dataclass(frozen=True)
class FirstError:
    """The first-error verdict of one trace annotation (docs/concepts.md §1 Trace annotation)."""

    step_index: int  # 0-based; -1 = "no error"
    source: str

    @property
    def step_number(self) -> int | None:
        """The 1-based step number shown to people, None for "no error"."""
        return self.step_index + 1 if self.step_index >= 0 else None


@dataclass
class ViewerParts:
    """The steps of a trace split into its think part and its answer part (on the viewer, a window
    of them: rows of steps not shown yet stand for the others)."""

    think: list[StepRow | HiddenSteps]
    answer: list[StepRow | HiddenSteps]
    first_error: FirstError | None
    think_collapsed: bool
    think_count: int  # steps in the part, shown or not
    answer_count: int
    think_text: list[Segment] = field(default_factory=list)  # the marked think part when it has no steps
    answer_text: list[Segment] = field(default_factory=list)  # the marked answer part when it has no steps
    think_rest: TextRest | None = None  # the end of a long think part without steps, loaded on demand
    answer_rest: TextRest | None = None

    @property
    def step_count(self) -> int:
        return self.think_count + self.answer_count


def label_chips_by_step(trace: Trace, hidden: Q | None = None) -> dict[int, list[LabelChip]]:
    """Every label of the current segmentation's steps, by step id, sorted by source (one query),
    but those ``hidden`` matches (the gold labels an annotator must not see)."""
    chips: dict[int, list[LabelChip]] = defaultdict(list)
    for step_id, source, who, value, flagged, confidence, note in label_rows(trace, hidden):
        auto = is_auto_source(source)
        chips[step_id].append(
            LabelChip(
                source=source,
                who="" if auto or who is None else str(who),
                value=value,
                flagged=bool(flagged),
                confidence=confidence,
                note=note,
                auto=auto,
            )
        )
    return chips


def alternatives_of(raw: Any, step_text: str) -> list[Alternative]:
    """The completions of a PRM800K step record other than the one the step's text took."""
    record = raw if isinstance(raw, dict) else {"completions": raw or []}
    chosen = record.get("chosen_completion")
    options = [
        (completion, index == chosen, False) for index, completion in enumerate(record.get("completions") or [])
    ]
    if isinstance(record.get("human_completion"), dict):
        options.append((record["human_completion"], False, True))
    alternatives = [
        Alternative(
            text=str(option.get("text") or ""),
            rating=option.get("rating"),
            flagged=bool(option.get("flagged")),
            human=human,
            chosen=chosen_flag,
        )
        for option, chosen_flag, human in options
        if isinstance(option, dict)
    ]
    return [alt for alt in alternatives if alt.text.strip() != step_text.strip()]


def first_error_of(annotations: list[TraceAnnotation]) -> FirstError | None:
    """The first-error verdict of the first annotation that sets one."""
    return next(
        (FirstError(a.first_error_step, a.source) for a in annotations if a.first_error_step is not None), None
    )


def think_is_long(trace: Trace) -> bool:
    """Whether the think part is long enough to start collapsed."""
    return trace.think_end - trace.think_start > COLLAPSE_THINK_OVER_CHARS


def step_row(
    step: dict[str, Any],
    text: str,
    segments: list[Segment],
    labels: dict[int, list[LabelChip]],
    first_error: FirstError | None,
    rest: TextRest | None = None,
) -> StepRow:
    """The viewer's row of one step (a ``step_rows`` row) showing ``text`` marked as ``segments``."""
    return StepRow(
        index=step["index"],
        text=text,
        part=step["part"],
        segments=segments,
        labels=labels.get(step["id"], []),
        alternatives=alternatives_of(json.loads(step["alternatives_json"] or "null"), text),
        first_error=first_error is not None and step["index"] == first_error.step_index,
        rest=rest,
    )


def part_spans(trace: Trace) -> dict[str, tuple[int, int]]:
    """Where the think part and the answer part lie in the raw text."""
    return {Part.THINK: (trace.think_start, trace.think_end), Part.ANSWER: (trace.answer_start, trace.answer_end)}


@dataclass(frozen=True)
class ScoreRow:
    """One trace-level score (docs/concepts.md §1 Score)."""

    name: str
    method: str
    value: float


@dataclass(frozen=True)
class LegendEntry:
    """One kind of mark present in the trace, with how many of it."""

    style: MarkStyle
    count: int


@dataclass(frozen=True)
class AnalysisSummary:
    """What the viewer's badges and legend say about one analysed trace (docs/concepts.md §3.3–3.5)."""

    version: str
    has_think: bool  # False: the completion has no think part, so there is no think–answer comparison
    mismatch: str  # match / mismatch / undetermined
    think_answer: str | None  # the conclusion of the thinking that the final answer is compared with
    truncated: bool
    think_empty: bool
    unsupported: bool | None  # the final answer is never reached in the thinking; None: not applicable
    overthinking_ratio: float | None  # None: undetermined, as for a completion without a think part
    t_star_step: int | None  # the 1-based number of the shown step holding t*
    tokens_after_t_star: int | None
    reverifications: int | None
    loop_count: int
    loop_tokens_wasted: int
    legend: list[LegendEntry]
    scores: list[ScoreRow]

    @property
    def reasoning_part(self) -> str:
        """The part t* is looked for in: the thinking, or the answer of a completion without one."""
        return "thinking" if self.has_think else "answer"

    @property
    def overthinking_percent(self) -> int | None:
        return None if self.overthinking_ratio is None else round(100 * self.overthinking_ratio)


def analysis_of(trace: Trace) -> TraceAnalysis | None:
    """The trace's stored analysis, None when it was never analysed (load it with ``select_related``)."""
    try:
        return trace.analysis
    except TraceAnalysis.DoesNotExist:
        return None


def markers_of(analysis: TraceAnalysis | None) -> list[Marker]:
    """The stored markers as the engine's ``Marker`` values (none without an analysis)."""
    if analysis is None:
        return []
    return [Marker(str(m["kind"]), int(m["start"]), int(m["end"]), str(m["label"])) for m in analysis.markers]


def trace_scores(trace: Trace) -> list[ScoreRow]:
    """Every trace-level score of the trace, by method and name (one query)."""
    return [ScoreRow(name, method, value) for name, method, value in trace_score_rows(trace)]


def step_number_at(steps: list[dict[str, Any]], pos: int) -> int | None:
    """The 1-based number of the step whose text holds character ``pos``."""
    return next((step["index"] + 1 for step in steps if step["char_start"] <= pos < step["char_end"]), None)


def legend_of(markers: Sequence[Marker]) -> list[LegendEntry]:
    """The kinds of mark present, in legend order, each with its count."""
    counts = Counter(mark_style(marker.kind) for marker in markers)
    return [LegendEntry(style, counts[style]) for style in STYLE_ORDER if counts[style]]


def analysis_summary(
    trace: Trace,
    analysis: TraceAnalysis,
    markers: Sequence[Marker],
    scores: list[ScoreRow],
    steps: list[dict[str, Any]],
) -> AnalysisSummary:
    """The badges of an analysed trace from its verdicts, its ``analysis`` scores and its t* marker."""
    verdicts = analysis.verdicts
    values = {row.name: row.value for row in scores if row.method == METHOD}
    t_star = next((marker for marker in markers if marker.kind == "t_star"), None)

    def count(name: str) -> int | None:
        return int(values[name]) if name in values else None

    return AnalysisSummary(
        version=analysis.version,
        has_think=trace.think_split.has_think,
        mismatch=str(verdicts.get("mismatch") or "undetermined"),
        think_answer=verdicts.get("think_answer"),
        truncated=bool(verdicts.get("truncated")),
        think_empty=bool(verdicts.get("think_empty")),
        unsupported=verdicts.get("unsupported_answer"),
        # Overthinking is thinking spent after t*: with no think part there is none to measure.
        overthinking_ratio=values.get("overthinking_ratio") if trace.think_split.has_think else None,
        t_star_step=step_number_at(steps, t_star.start) if t_star else None,
        tokens_after_t_star=count("tokens_after_t_star"),
        reverifications=count("reverifications_after_t_star"),
        loop_count=count("loop_count") or 0,
        loop_tokens_wasted=count("loop_tokens_wasted") or 0,
        legend=legend_of(markers),
        scores=scores,
    )
