"""Bounded trace pages: which steps, and how much of each long text, a page shows at first.

A reasoning model that loops repeats one paragraph until its token limit: a 1 MB trace of 8,737
steps made a 9 MB viewer page (30,579 loop marks) and a 5 MB labeling page. So the viewer and the
labeling page show a *window* of each part's steps, and nothing of the trace becomes unreachable:

* the repeats of a loop after its first ``KEEP_REPEATS`` are collapsed into one row ("the next
  2,182 repeats of this block are collapsed"), which loads them;
* after ``PAGE_STEPS`` steps, ``PAGE_CHARS`` characters of step text or ``PAGE_MARKS`` marks, the
  rest of the part waits behind one row that loads the next window;
* a text longer than ``TEXT_CHARS`` (a step, a part without steps, the problem) shows its first
  ``TEXT_CHARS`` characters; a button loads the rest, a piece of that size at a time.

Both load through htmx fragments of the page's own URL, bounded the same way: ``?first=&stop=``
(``&expand=1`` inside a loop's repeats, whose steps are then all shown) answers the rows of steps
``[first, stop)``, ``?text=<name>&at=<offset>`` the next piece of a text. A whole page asked with
``?start=<step>`` begins that step's part at the step (links to a step the first window does not
show go there).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from traces.analysis.engine import LOOP_LABEL, Marker
from traces.models import Part, Trace, TraceAnnotation
from traces.views.presenters import (
    FirstError,
    LabelChip,
    Segment,
    StepRow,
    ViewerParts,
    first_error_of,
    marked_texts,
    outside_formulas,
    part_spans,
    shown_span,
    step_row,
    tex_spans,
    think_is_long,
)

#: The query parameters of a window (``WindowForm``): a link to another window replaces them all.
WINDOW_PARAMS = ("first", "stop", "start", "expand", "text", "at")

#: Rows (steps, and rows of hidden steps) a window shows at most (a page has one window per part):
#: they stay under ~250 KB of HTML and KaTeX typesets their formulas in well under a second.
PAGE_STEPS = 150

#: Characters of step text a window shows at most. Escaping makes a character at most 6 bytes
#: ('"' becomes "&quot;"): two windows and the problem's first piece stay under ~1.8 MB of HTML
#: whatever the text.
PAGE_CHARS = 120_000

#: Marked pieces of text a window draws at most: ~200 bytes of HTML each with their title, and
#: each costs the template ~0.25 ms (a line looped 50,000 times in one step drew 1,500 in 0.4 s).
PAGE_MARKS = 1_000

#: Characters of one text shown before the rest waits behind a button: the most KaTeX still
#: typesets in one element (``MAX_TEX_CHARS`` of static/js/katex-render.js), so each piece is typeset.
TEXT_CHARS = 50_000

#: The repeats of a loop shown before the rest are collapsed: the block, and once more to show it loops.
KEEP_REPEATS = 2

#: Fewer steps than this are shown rather than collapsed into a row as long as themselves.
MIN_COLLAPSED_STEPS = 3


@dataclass(frozen=True)
class LoopRegion:
    """The collapsible stretch of one loop: from its first repeat after ``KEEP_REPEATS`` to the end of its last."""

    number: int  # the loop's number in the analysis labels ("loop 3: …")
    start: int
    end: int
    repeat_starts: tuple[int, ...]  # where each collapsible repeat starts, in text order

    def repeats_within(self, start: int, end: int) -> int:
        """How many of the collapsible repeats start in ``[start, end)``."""
        return bisect_left(self.repeat_starts, end) - bisect_left(self.repeat_starts, start)


def loop_regions(markers: Sequence[Marker]) -> list[LoopRegion]:
    """The collapsible stretch of every loop with more than ``KEEP_REPEATS`` repeats, in text order."""
    repeats: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for marker in markers:
        found = LOOP_LABEL.fullmatch(marker.label) if marker.kind == "loop" else None
        if found:
            repeats[int(found["loop"])].append((int(found["repeat"]), marker.start, marker.end))
    regions = []
    for number, spans in repeats.items():
        collapsed = sorted(spans)[KEEP_REPEATS:]
        if collapsed:
            starts = tuple(sorted(start for _, start, _ in collapsed))
            regions.append(LoopRegion(number, starts[0], max(end for _, _, end in collapsed), starts))
    return sorted(regions, key=lambda region: region.start)


@dataclass(frozen=True)
class HiddenSteps:
    """Steps ``[first, stop)`` (0-based positions) a page does not show yet: one row that loads them."""

    hidden: ClassVar[bool] = True  # a step row says False: the templates tell them apart by it
    first: int
    stop: int
    loop: int | None = None  # the loop whose repeats these steps are; None: past the page's budget
    repeats: int = 0  # the loop's repeats that start in these steps
    expand: bool = False  # loaded, every step shows (no repeat collapsed again)

    @property
    def count(self) -> int:
        return self.stop - self.first

    @property
    def first_number(self) -> int:
        """The 1-based number of the first hidden step."""
        return self.first + 1

    @property
    def last_number(self) -> int:
        return self.stop


WindowItem = int | HiddenSteps  # the position of a step to show, or a row of hidden steps


class StepPlanner:
    """Which steps of a trace a page shows, from the shown span of every step and the loops."""

    def __init__(self, spans: Sequence[tuple[int, int]], regions: Sequence[LoopRegion], share: float = 1.0) -> None:
        self.spans = spans
        self.regions = regions
        self.share = share  # of a window's budget (a page showing several traces shares one page's)
        self.region_of = self._region_of_each_step()

    def budget(self, whole: int) -> int:
        """This planner's share of a window's budget ``whole`` (``PAGE_STEPS``, ``PAGE_CHARS``, ``PAGE_MARKS``)."""
        return max(1, int(whole * self.share))

    def _region_of_each_step(self) -> list[LoopRegion | None]:
        """The loop region each step lies wholly inside (steps and regions both in text order)."""
        found: list[LoopRegion | None] = []
        k = 0
        for start, end in self.spans:
            while k < len(self.regions) and self.regions[k].end < end:
                k += 1
            inside = k < len(self.regions) and self.regions[k].start <= start
            found.append(self.regions[k] if inside else None)
        return found

    def hidden(self, first: int, stop: int, expand: bool) -> HiddenSteps:
        """The row hiding steps ``[first, stop)``: a loop's repeats when they all lie in one loop region."""
        region = self.region_of[first]
        if region is None or self.region_of[stop - 1] is not region:  # steps in text order: all between too
            return HiddenSteps(first, stop, expand=expand)
        repeats = region.repeats_within(self.spans[first][0], self.spans[stop - 1][1])
        return HiddenSteps(first, stop, loop=region.number, repeats=repeats, expand=True)

    def _collapsible_run(self, i: int, stop: int) -> int:
        """Where the run of steps from ``i`` inside one loop region ends (``i`` when none starts there)."""
        region = self.region_of[i]
        if region is None:
            return i
        j = i
        while j < stop and self.region_of[j] is region:
            j += 1
        return j

    def window(self, first: int, stop: int, expand: bool = False, opened: LoopRegion | None = None) -> list[WindowItem]:
        """The steps ``[first, stop)`` a page shows: loops collapsed (unless ``expand``; never the
        ``opened`` one, where a page was opened at a step), within budget."""
        items: list[WindowItem] = []
        chars = 0
        i = first
        while i < stop:
            collapsible = not expand and self.region_of[i] is not opened
            run_end = self._collapsible_run(i, stop) if collapsible else i
            collapses = run_end - i >= MIN_COLLAPSED_STEPS
            length = 0 if collapses else min(self.spans[i][1] - self.spans[i][0], TEXT_CHARS)
            if items and (len(items) >= self.budget(PAGE_STEPS) or chars + length > self.budget(PAGE_CHARS)):
                items.append(self.hidden(i, stop, expand))
                break
            if collapses:
                items.append(self.hidden(i, run_end, expand=True))
                i = run_end
                continue
            items.append(i)
            chars += length
            i += 1
        return items

    def window_from(self, first: int, start: int, stop: int, expand: bool) -> list[WindowItem]:
        """``window(start, stop)`` after one row hiding ``[first, start)``: a range opened at a step
        inside it, whose loop repeats around that step are shown, not collapsed."""
        if start == first:
            return self.window(first, stop, expand)
        return [self.hidden(first, start, expand), *self.window(start, stop, expand, self.region_of[start])]

    def within_marks(self, items: list[WindowItem], marks: dict[int, int], expand: bool) -> list[WindowItem]:
        """``items`` up to the step whose marks (``marks``: per shown position) pass ``PAGE_MARKS``;
        the steps from there to the window's end become one hidden row. The first step always shows."""
        drawn = 0
        for k, item in enumerate(items):
            if isinstance(item, int):
                if drawn and drawn + marks[item] > self.budget(PAGE_MARKS):
                    return [*items[:k], self.hidden(item, stop_of(items), expand)]
                drawn += marks[item]
        return items


def first_of(items: list[WindowItem]) -> int:
    """Where the steps a window's ``items`` cover begin."""
    head = items[0]
    return head.first if isinstance(head, HiddenSteps) else head


def stop_of(items: list[WindowItem]) -> int:
    """Where the steps a window's ``items`` cover end."""
    last = items[-1]
    return last.stop if isinstance(last, HiddenSteps) else last + 1


def capped_marks(segments: list[Segment], limit: int = PAGE_MARKS) -> list[Segment]:
    """``segments`` with the marks after the first ``limit`` marked pieces dropped (their text kept)."""
    marked = 0
    capped = []
    for segment in segments:
        if segment.css or segment.tags:
            marked += 1
            if marked > limit:
                segment = Segment(segment.text)
        capped.append(segment)
    return capped


def marks_in(segments: list[Segment]) -> int:
    """How many marked pieces ``segments`` draw."""
    return sum(1 for segment in segments if segment.css or segment.tags)


def clip_end(text: str, start: int, end: int, limit: int = TEXT_CHARS) -> int:
    """Where the shown piece of ``text[start:end]`` ends: after ``limit`` characters, or after the
    last line break (else space) in their last tenth, moved back to the start of a formula it would
    cut (KaTeX typesets each piece on its own) unless that is ``start``."""
    if end - start <= limit:
        return end
    cut = start + limit
    last_tenth = cut - limit // 10
    boundary = text.rfind("\n", last_tenth, cut)
    if boundary == -1:
        boundary = text.rfind(" ", last_tenth, cut)
    if boundary != -1:
        cut = boundary + 1
    formulas = [(start + lo, start + hi) for lo, hi in tex_spans(text[start : cut + 1])]
    moved = outside_formulas(cut, formulas, [lo for lo, _ in formulas], upward=False)
    return moved if moved > start else cut


@dataclass(frozen=True)
class TextRest:
    """The part of a long text not shown yet: the fragment ``?text=<name>&at=<at>`` loads its next piece."""

    name: str  # "problem", "think", "answer" or "step-<0-based index>"
    at: int  # offset of the rest in the text
    chars: int  # how many characters are left


def rest_of(name: str, start: int, shown_end: int, end: int) -> TextRest | None:
    """What is left of the text ``[start, end)`` after its piece ending at ``shown_end``; None when nothing."""
    return TextRest(name, shown_end - start, end - shown_end) if shown_end < end else None


class WindowForm(forms.Form):
    """What a request of a trace page asks for beside the whole page: a window of steps (``first``,
    ``stop``, ``expand``, optionally opened at ``start``), the next piece of a long text (``text``,
    ``at``), or the whole page with a part begun at step ``start``."""

    first = forms.IntegerField(min_value=0, required=False)
    stop = forms.IntegerField(min_value=1, required=False)
    start = forms.IntegerField(min_value=0, required=False)
    expand = forms.BooleanField(required=False)
    text = forms.RegexField(regex=r"^(problem|think|answer|step-\d{1,9})$", required=False)
    at = forms.IntegerField(min_value=1, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, stop, start = data.get("first"), data.get("stop"), data.get("start")
        if (first is None) != (stop is None):
            raise forms.ValidationError("a window of steps needs both first and stop")
        if first is not None and stop is not None and not first <= (first if start is None else start) < stop:
            raise forms.ValidationError("a window of steps needs first <= start < stop")
        if (not data.get("text")) != (data.get("at") is None):
            raise forms.ValidationError("the rest of a text needs both text and at")
        return data

    @property
    def wants_text(self) -> bool:
        return bool(self.cleaned_data.get("text"))

    @property
    def wants_steps(self) -> bool:
        return self.cleaned_data.get("first") is not None


def part_ranges(parts: Sequence[str]) -> dict[str, tuple[int, int]]:
    """The positions ``[first, stop)`` of each part's steps (think steps come before answer steps)."""
    think = sum(1 for part in parts if part == Part.THINK)
    return {Part.THINK: (0, think), Part.ANSWER: (think, len(parts))}


def within(span: tuple[int, int], position: int) -> bool:
    return span[0] <= position < span[1]


@dataclass(frozen=True)
class TextPiece:
    """A piece of a named text: the text it is cut from, where, and what is left after it."""

    name: str
    text: str
    start: int
    end: int
    rest: TextRest | None

    @property
    def shown(self) -> str:
        return self.text[self.start : self.end]


def cut_piece(name: str, text: str, start: int, end: int, at: int = 0) -> TextPiece:
    """The piece of the text ``text[start:end]`` (named ``name``) that starts ``at`` characters in."""
    shown_end = clip_end(text, start + at, end)
    return TextPiece(name, text, start + at, shown_end, rest_of(name, start, shown_end, end))


class TraceWindow:
    """What one request of a trace page shows of the trace's steps and long texts."""

    def __init__(
        self, trace: Trace, steps: list[dict[str, Any]], markers: Sequence[Marker], share: float = 1.0
    ) -> None:
        self.trace = trace
        self.steps = steps
        self.markers = markers
        # The blank lines around a step separate steps; shown, they only add gaps.
        self.spans = [shown_span(trace.raw_text, step["char_start"], step["char_end"]) for step in steps]
        self.ranges = part_ranges([step["part"] for step in steps])
        self.planner = StepPlanner(self.spans, loop_regions(markers), share)

    def page_items(self, start: int | None = None) -> dict[str, list[WindowItem]]:
        """Each part's window on a whole page; the part holding step ``start`` begins at it."""
        items: dict[str, list[WindowItem]] = {}
        for part, (first, stop) in self.ranges.items():
            if start is not None and first <= start < stop:
                items[part] = self.planner.window_from(first, start, stop, expand=False)
            else:
                items[part] = self.planner.window(first, stop) if stop > first else []
        return items

    def range_items(
        self, first: int, start: int | None, stop: int, expand: bool, across_parts: bool = False
    ) -> list[WindowItem] | None:
        """The window of steps ``[first, stop)`` opened at ``start``; None unless one part holds them
        all (or, ``across_parts``, the trace does: a page showing both parts in one list)."""
        parts = [(0, len(self.spans))] if across_parts else self.ranges.values()
        if not any(lo <= first < stop <= hi for lo, hi in parts):
            return None
        return self.planner.window_from(first, first if start is None else start, stop, expand)

    def opening_at(self, position: int | None) -> int | None:
        """Where a page must begin its part to show the step at ``position`` in its first window (None:
        the part's first window shows it already, or there is no such step). It begins a few steps
        before it, fewer than a collapsed row holds, so that nothing between them is collapsed."""
        if position is None or not 0 <= position < len(self.spans):
            return None
        items = next(items for part, items in self.page_items().items() if within(self.ranges[part], position))
        if position in items:
            return None
        first = next(lo for lo, hi in self.ranges.values() if lo <= position < hi)
        return max(first, position - (MIN_COLLAPSED_STEPS - 1))

    def piece(self, name: str, at: int = 0) -> TextPiece | None:
        """The piece of the named text from offset ``at`` (None: no such text, or nothing left there)."""
        position = int(name.removeprefix("step-")) if name.startswith("step-") else len(self.spans)
        if name == "problem":
            text, (start, end) = self.trace.problem.prompt, (0, len(self.trace.problem.prompt))
        elif name in part_spans(self.trace):
            text, (start, end) = self.trace.raw_text, part_spans(self.trace)[name]
        elif position < len(self.spans):
            text, (start, end) = self.trace.raw_text, self.spans[position]
        else:
            return None
        return cut_piece(name, text, start, end, at) if start + at < end or not at else None

    def char_range(self, first: int, stop: int) -> tuple[int, int]:
        """The characters the steps ``[first, stop)`` take, their blank lines included (empty when none)."""
        if stop <= first:
            return (0, 0)
        return self.steps[first]["char_start"], self.steps[stop - 1]["char_end"]

    def step_piece(self, position: int) -> TextPiece:
        """The first piece of the step at ``position``."""
        start, end = self.spans[position]
        return cut_piece(f"step-{position}", self.trace.raw_text, start, end)

    def segments(self, piece: TextPiece) -> list[Segment]:
        """A piece as the viewer shows it: the trace's text marked, the problem plain."""
        if piece.name == "problem":
            return [Segment(piece.shown)]
        return capped_marks(marked_texts(piece.text, [(piece.start, piece.end)], self.markers)[0])


def viewer_rows(
    window: TraceWindow,
    items: list[WindowItem],
    labels: dict[int, list[LabelChip]],
    first_error: FirstError | None,
    expand: bool = False,
    loaded: bool = False,
) -> list[StepRow | HiddenSteps]:
    """The viewer's rows of a window: each shown step marked (long ones cut, ``TEXT_CHARS``), within
    ``PAGE_MARKS``: the steps after the one that passes it are hidden behind a row. A marker's tag
    shows with the step it starts in: not here when that step is hidden, or before a window
    ``loaded`` after the page."""
    if not items:
        return []
    raw = window.trace.raw_text
    pieces = {i: window.step_piece(i) for i in items if isinstance(i, int)}
    shown = [(piece.start, piece.end) for piece in pieces.values()]
    untagged = [window.char_range(item.first, item.stop) for item in items if isinstance(item, HiddenSteps)]
    if loaded:
        untagged.append(window.char_range(0, first_of(items)))
    segments = dict(zip(pieces, marked_texts(raw, shown, window.markers, untagged)))
    kept = window.planner.within_marks(items, {i: marks_in(marked) for i, marked in segments.items()}, expand)
    rows: list[StepRow | HiddenSteps] = []
    for item in kept:
        if isinstance(item, HiddenSteps):
            rows.append(item)
            continue
        piece = pieces[item]
        text = raw[piece.start : piece.end]
        rows.append(step_row(window.steps[item], text, capped_marks(segments[item]), labels, first_error, piece.rest))
    return rows


def viewer_window(
    window: TraceWindow,
    labels: dict[int, list[LabelChip]],
    annotations: list[TraceAnnotation],
    start: int | None = None,
) -> ViewerParts:
    """The viewer's parts on a whole page: a window of each part's steps; a part without steps
    shows its text (its first ``TEXT_CHARS`` characters, the rest on demand)."""
    first_error = first_error_of(annotations)
    items = window.page_items(start)
    whole = {part: window.piece(part) for part, (first, stop) in window.ranges.items() if first == stop}
    return ViewerParts(
        think=viewer_rows(window, items[Part.THINK], labels, first_error),
        answer=viewer_rows(window, items[Part.ANSWER], labels, first_error),
        first_error=first_error,
        think_collapsed=think_is_long(window.trace),
        think_count=window.ranges[Part.THINK][1] - window.ranges[Part.THINK][0],
        answer_count=window.ranges[Part.ANSWER][1] - window.ranges[Part.ANSWER][0],
        think_text=piece_segments(window, whole.get(Part.THINK)),
        answer_text=piece_segments(window, whole.get(Part.ANSWER)),
        think_rest=rest_or_none(whole.get(Part.THINK)),
        answer_rest=rest_or_none(whole.get(Part.ANSWER)),
    )


def piece_segments(window: TraceWindow, piece: TextPiece | None) -> list[Segment]:
    return window.segments(piece) if piece is not None and piece.end > piece.start else []


def rest_or_none(piece: TextPiece | None) -> TextRest | None:
    return piece.rest if piece is not None else None


def bad_window(asked: forms.Form) -> HttpResponse:
    """400 naming what is wrong with a request's window parameters."""
    errors = "; ".join(f"{name}: {' '.join(map(str, messages))}" for name, messages in asked.errors.items())
    return HttpResponseBadRequest(errors, content_type="text/plain; charset=utf-8")


def text_piece(request: HttpRequest, window: TraceWindow, asked: WindowForm, column: str = "") -> HttpResponse:
    """The next piece of the long text ``asked`` names, and out of band the button for the one after
    (``column``: the letter of the trace on a page showing several, which prefixes the text's id)."""
    name = asked.cleaned_data["text"]
    piece = window.piece(name, asked.cleaned_data["at"])
    if piece is None:
        raise Http404(f"no more of {name} in this trace")
    context = {"segments": window.segments(piece), "rest": piece.rest, "name": name, "column": column}
    return render(request, "traces/partials/window.html#text-piece", context)
