"""Side-by-side comparison of 2–6 traces of one problem, with pairwise preferences (docs/concepts.md §4).

``/p/<slug>/compare/?traces=1,2,3`` (the trace list's checkboxes send ``traces=1&traces=2``; both
spellings work). The page shows the problem and its reference answer, a header card per trace
(model, sample, final answer and correctness, tokens, key analysis scores) and one column of steps
per trace, aligned by ``traces.analysis.alignment``: the step where each trace first reaches the
reference answer (t*) sits on one highlighted row. Each column scrolls on its own and
``static/js/compare.js`` keeps the others on the same aligned row.

Each column is bounded as the viewer is (``traces.views.windows``; the columns share one page's
budget): a window of the trace's steps opened so that the step on the t* row shows, a loop's repeats
after the second collapsed into one row, and rows that load the other steps in place through
fragments of this page's URL that name the column (``column=B``), the aligned row of its first step
(``offset``) and the t* row (``anchor``) beside the window's parameters. A cell of the page covers
one aligned row, or (a row of steps not shown yet, the gap before a column's first step) several.

Below, a preference form (A better / B better / tie, with a reason; keys a, b, t) for the pair, or
for a chosen pair when more than two traces are shown, saved by htmx POST to
``compare/preference/`` through ``traces.actions.preferences``. The page lists the signed-in
person's own preferences between the shown traces, never other people's (judgments stay
independent; the API reads them all).

Rules: non-members get 404; every member may look; saving needs the annotator role or above (403
otherwise). Traces of different problems, of another project, or too few or too many get an error
page naming what was wrong (400).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.actions.preferences import MAX_REASON_CHARS, PreferenceError, as_shown, do_save_preference
from traces.analysis.alignment import StepList, align_steps
from traces.models import PreferenceChoice, Project, Trace
from traces.queries.preferences import preference_of, preferences_among
from traces.queries.traces import step_rows, viewer_traces, visible_annotations
from traces.views.access import member_project
from traces.views.presenters import (
    AnalysisSummary,
    Segment,
    StepRow,
    analysis_of,
    analysis_summary,
    first_error_of,
    label_chips_by_step,
    markers_of,
    trace_scores,
)
from traces.views.requests import SignedInRequest
from traces.views.traces import wants_fragment
from traces.views.windows import (
    HiddenSteps,
    TextRest,
    TraceWindow,
    WindowForm,
    bad_window,
    text_piece,
    viewer_rows,
    viewer_window,
)

MIN_TRACES, MAX_TRACES = 2, 6

#: The letters naming the shown traces, in column order.
LETTERS = "ABCDEF"

#: Keys of the preference buttons (``static/js/compare.js``).
CHOICE_KEYS: dict[str, str] = {PreferenceChoice.A_BETTER: "a", PreferenceChoice.B_BETTER: "b", PreferenceChoice.TIE: "t"}


class CompareError(ValueError):
    """The traces asked for cannot be compared; the message says why."""


# --- Which traces ---------------------------------------------------------------------------------------


def parse_trace_ids(values: list[str]) -> list[int]:
    """Trace ids from ``traces`` parameters, each one id or a comma-separated list; repeats dropped, order kept."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            text = part.strip()
            if not text:
                continue
            if not text.isascii() or not text.isdigit() or len(text) > 18:
                raise CompareError(f"'{text[:40]}' is not a trace number")
            ids.append(int(text))
    ids = list(dict.fromkeys(ids))
    if not MIN_TRACES <= len(ids) <= MAX_TRACES:
        raise CompareError(f"choose {MIN_TRACES} to {MAX_TRACES} traces to compare; got {len(ids)}")
    return ids


def compared_traces(project: Project, ids: list[int]) -> list[Trace]:
    """The traces ``ids`` of ``project`` in the order asked, all of one problem, else CompareError."""
    found = viewer_traces(project).in_bulk(ids)
    missing = [f"#{pk}" for pk in ids if pk not in found]
    if missing:
        raise CompareError(f"{project.name} has no trace {', '.join(missing)}")
    traces = [found[pk] for pk in ids]
    problems = {trace.problem_id for trace in traces}
    if len(problems) > 1:
        listed = "; ".join(f"#{trace.pk} answers problem #{trace.problem_id}" for trace in traces)
        raise CompareError(f"only traces of the same problem can be compared; these answer {len(problems)}: {listed}")
    return traces


def letters_of(traces: list[Trace]) -> dict[int, str]:
    """The letter naming each shown trace, by trace id (A for the first column)."""
    return {trace.pk: letter for letter, trace in zip(LETTERS, traces, strict=False)}


# --- What the page shows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartText:
    """The first piece of a part without steps, the rest loaded on demand."""

    name: str  # "think" or "answer"
    segments: list[Segment]
    rest: TextRest | None


@dataclass(frozen=True)
class CompareCell:
    """One block of a column, on the aligned rows ``first_row``..``last_row``: a step, a row of steps
    not shown yet (``hidden``), the parts of a trace without steps (``texts``), or a gap (none)."""

    first_row: int
    last_row: int
    step: StepRow | None = None
    hidden: HiddenSteps | None = None
    texts: tuple[PartText, ...] = ()
    anchor: bool = False  # the row of the t* steps is one of its rows
    t_star: bool = False  # it holds its trace's t* step

    @property
    def gap(self) -> bool:
        return self.step is None and self.hidden is None and not self.texts


@dataclass
class CompareColumn:
    """One trace of the comparison: its header card and the cells of its window."""

    letter: str
    trace: Trace
    summary: AnalysisSummary | None
    step_count: int
    t_star: int | None  # the position of the t* step among the trace's steps
    offset: int = 0  # the aligned row of its first step
    cells: list[CompareCell] = field(default_factory=list)


@dataclass(frozen=True)
class ShownPreference:
    """The person's preference between two shown traces, read with the page's letters."""

    letter_a: str
    letter_b: str
    choice: str  # as shown: a = the first letter is better
    reason: str

    @property
    def verdict(self) -> str:
        if self.choice == PreferenceChoice.TIE:
            return "tie"
        return f"{self.letter_a if self.choice == PreferenceChoice.A_BETTER else self.letter_b} is better"


@dataclass(frozen=True)
class TraceSteps:
    """What a column reads of one trace: its steps, its analysis markers and summary."""

    trace: Trace
    steps: list[dict[str, Any]]
    window: TraceWindow
    summary: AnalysisSummary | None

    @property
    def t_star(self) -> int | None:
        """The position of the t* step (steps are stored in order, from index 0)."""
        return self.summary.t_star_step - 1 if self.summary and self.summary.t_star_step else None

    @property
    def rows_needed(self) -> int:
        """How many aligned rows the trace takes: one per step, one for a trace without steps."""
        return len(self.steps) or 1


def trace_steps(trace: Trace, share: float) -> TraceSteps:
    """One trace's steps and analysis; its windows get ``share`` of a page's budget."""
    analysis = analysis_of(trace)
    markers = markers_of(analysis)
    steps = step_rows(trace)
    summary = analysis_summary(trace, analysis, markers, trace_scores(trace), steps) if analysis else None
    return TraceSteps(trace, steps, TraceWindow(trace, steps, markers, share), summary)


def column_cells(
    rows: list[StepRow | HiddenSteps], offset: int, anchor_row: int | None, t_star: int | None
) -> list[CompareCell]:
    """The cells of a window's ``rows`` in a column whose first step is on the aligned row ``offset``."""
    cells = []
    for item in rows:
        if isinstance(item, HiddenSteps):
            first_row, last_row = offset + item.first, offset + item.stop - 1
            anchor = anchor_row is not None and first_row <= anchor_row <= last_row
            cells.append(CompareCell(first_row, last_row, hidden=item, anchor=anchor))
        else:
            row = offset + item.index
            cells.append(CompareCell(row, row, step=item, anchor=row == anchor_row, t_star=item.index == t_star))
    return cells


def column_of(letter: str, read: TraceSteps, offset: int, anchor_row: int | None, hidden: Q) -> CompareColumn:
    """One trace's column: a window of its steps (think then answer, marked as in the viewer) that
    shows the step on the anchor row, after a gap cell for the rows above its first step."""
    trace = read.trace
    annotations = visible_annotations(trace, hidden)
    around = anchor_row - offset if anchor_row is not None else None
    parts = viewer_window(read.window, label_chips_by_step(trace, hidden), annotations, read.window.opening_at(around))
    cells = [CompareCell(0, offset - 1)] if offset else []
    cells += column_cells(parts.think + parts.answer, offset, anchor_row, read.t_star)
    texts = [
        PartText(name, segments, rest)
        for name, segments, rest in (
            ("think", parts.think_text, parts.think_rest),
            ("answer", parts.answer_text, parts.answer_rest),
        )
        if segments
    ]
    if not read.steps and texts:  # a trace without steps shows its parts in one cell
        cells.append(CompareCell(offset, offset, texts=tuple(texts), anchor=offset == anchor_row))
    return CompareColumn(letter, trace, read.summary, len(read.steps), read.t_star, offset, cells)


def aligned_columns(traces: list[Trace], hidden: Q) -> tuple[list[CompareColumn], int | None]:
    """The columns with their cells on the aligned rows, and the anchor (t*) row; labels ``hidden``
    matches (gold labels an annotator must not see) are left out."""
    read = [trace_steps(trace, 1 / len(traces)) for trace in traces]
    alignment = align_steps([StepList(count=one.rows_needed, anchor=one.t_star) for one in read])
    columns = [
        column_of(letter, one, offset, alignment.anchor_row, hidden)
        for letter, one, offset in zip(LETTERS, read, alignment.offsets, strict=False)
    ]
    return columns, alignment.anchor_row


def pair_choice(user: User, pair: tuple[Trace, Trace]) -> tuple[str, str] | None:
    """The person's saved (choice as the page shows the pair, reason) for ``pair``; None when unjudged."""
    x, y = pair
    preference = preference_of(user, x.pk, y.pk)
    return None if preference is None else (as_shown(preference, x.pk), preference.reason)


def my_preferences(user: User, traces: list[Trace]) -> list[ShownPreference]:
    """The person's human preferences between any two of ``traces``, in the page's pair order."""
    letter = letters_of(traces)
    stored = preferences_among(user, letter)
    shown = []
    for x, y in combinations(traces, 2):
        preference = stored.get((min(x.pk, y.pk), max(x.pk, y.pk)))
        if preference is not None:
            shown.append(ShownPreference(letter[x.pk], letter[y.pk], as_shown(preference, x.pk), preference.reason))
    return shown


# --- The preference form ----------------------------------------------------------------------------------------


def pair_value(x: Trace, y: Trace) -> str:
    return f"{x.pk},{y.pk}"


@dataclass(frozen=True)
class PairLink:
    """One pair of shown traces in the pair selector (more than two traces)."""

    value: str
    label: str
    current: bool


def chosen_pair(traces: list[Trace], value: str | None) -> tuple[Trace, Trace]:
    """The pair ``value`` (``"x,y"``) of shown traces, the first two traces when none is given."""
    if not value:
        return traces[0], traces[1]
    pairs = {pair_value(x, y): (x, y) for x, y in combinations(traces, 2)}
    if value not in pairs:
        raise CompareError(f"pair '{value[:40]}' is not two of the shown traces in column order")
    return pairs[value]


def pair_links(traces: list[Trace], pair: tuple[Trace, Trace]) -> list[PairLink]:
    letter = letters_of(traces)
    return [
        PairLink(pair_value(x, y), f"{letter[x.pk]}–{letter[y.pk]}", (x, y) == pair) for x, y in combinations(traces, 2)
    ]


class PreferenceForm(forms.Form):
    """A preference between two of the shown traces: ``pair`` is ``"x,y"`` with x shown first (as A)."""

    pair = forms.ChoiceField(widget=forms.HiddenInput)
    choice = forms.ChoiceField(choices=PreferenceChoice.choices)
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "why (optional)"}),
    )

    def __init__(self, *args: Any, traces: list[Trace], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.traces = {trace.pk: trace for trace in traces}
        self.fields["pair"].choices = [(pair_value(x, y), pair_value(x, y)) for x, y in combinations(traces, 2)]  # type: ignore[attr-defined]  # the stubs type form fields as Field

    def pair_traces(self) -> tuple[Trace, Trace]:
        x, y = self.cleaned_data["pair"].split(",")
        return self.traces[int(x)], self.traces[int(y)]


# --- The rest of a column -----------------------------------------------------------------------------------


class ColumnForm(forms.Form):
    """Which column a window of steps or a piece of text is for: its letter, the aligned row of its
    first step and the t* row (both only for steps)."""

    column = forms.RegexField(regex=f"^[{LETTERS}]$")
    offset = forms.IntegerField(min_value=0, required=False)
    anchor = forms.IntegerField(min_value=0, required=False)

    def trace_of(self, traces: list[Trace]) -> Trace:
        """The trace the column shows, Http404 when the page has no such column."""
        position = LETTERS.index(self.cleaned_data["column"])
        if position >= len(traces):
            raise Http404(f"this comparison has no column {self.cleaned_data['column']}")
        return traces[position]


def column_window(request: HttpRequest, project: Project, traces: list[Trace], asked: WindowForm) -> HttpResponse:
    """The cells of the window of steps ``asked`` names in one column (in place of the cell that hid
    them), or the next piece of one of its long texts."""
    where = ColumnForm(request.GET)
    if not where.is_valid():
        return bad_window(where)
    trace, letter = where.trace_of(traces), where.cleaned_data["column"]
    read = trace_steps(trace, 1 / len(traces))
    if asked.wants_text:
        return text_piece(request, read.window, asked, letter)
    data, hidden = asked.cleaned_data, access.hidden_labels(request.user)
    items = read.window.range_items(data["first"], data["start"], data["stop"], data["expand"], across_parts=True)
    if items is None:
        raise Http404("no such steps in this trace")
    first_error = first_error_of(visible_annotations(trace, hidden))
    rows = viewer_rows(read.window, items, label_chips_by_step(trace, hidden), first_error, data["expand"], loaded=True)
    offset, anchor = where.cleaned_data["offset"] or 0, where.cleaned_data["anchor"]
    cells = column_cells(rows, offset, anchor, read.t_star)
    context = {"project": project, "trace": trace, "letter": letter, "offset": offset, "anchor_row": anchor}
    return render(request, "traces/compare.html#cells", context | {"cells": cells})


# --- Views -------------------------------------------------------------------------------------------------


def compare_context(
    request: SignedInRequest, project: Project, traces: list[Trace], pair: tuple[Trace, Trace], form: PreferenceForm
) -> dict[str, Any]:
    """What the page and its preference fragment show."""
    letter = letters_of(traces)
    first, second = letter[pair[0].pk], letter[pair[1].pk]
    labels: dict[str, str] = {PreferenceChoice.A_BETTER: f"{first} is better", PreferenceChoice.B_BETTER: f"{second} is better"}
    saved = pair_choice(request.user, pair)
    return {
        "project": project,
        "traces": traces,
        "problem": traces[0].problem,
        "trace_ids": ",".join(str(trace.pk) for trace in traces),
        "pair": pair,
        "pair_letters": (first, second),
        "pairs": pair_links(traces, pair) if len(traces) > MIN_TRACES else [],
        "form": form,
        "can_judge": access.can(project, request.user, access.Action.LABEL),
        "mine": my_preferences(request.user, traces),
        "choices": [(value, CHOICE_KEYS[value], labels.get(value, label)) for value, label in PreferenceChoice.choices],
        "chosen": saved[0] if saved else None,
    }


def columns_context(traces: list[Trace], user: User) -> dict[str, Any]:
    """The aligned columns of the whole page, as ``user`` may see them (no hidden gold labels)."""
    columns, anchor_row = aligned_columns(traces, access.hidden_labels(user))
    return {"columns": columns, "anchor_row": anchor_row}


def saved_status(traces: list[Trace], x: Trace, y: Trace, choice: str) -> str:
    """The status line after saving: the pair and the verdict in the page's letters."""
    letter = letters_of(traces)
    verdict = ShownPreference(letter[x.pk], letter[y.pk], choice, "").verdict
    return f"Saved: {letter[x.pk]} vs {letter[y.pk]}, {verdict}."


def error_page(request: HttpRequest, project: Project, error: CompareError) -> HttpResponse:
    return render(request, "traces/compare.html", {"project": project, "error": str(error)}, status=400)


def compare_url(project: Project, traces: list[Trace], pair: tuple[Trace, Trace]) -> str:
    query = {"traces": ",".join(str(trace.pk) for trace in traces)}
    if pair != (traces[0], traces[1]):
        query["pair"] = pair_value(*pair)
    return reverse("trace-compare", args=[project.slug]) + "?" + urlencode(query, safe=",")


@vary_on_headers("HX-Request")
@require_GET
@login_required
def compare_traces(request: SignedInRequest, slug: str) -> HttpResponse:
    """The comparison page of the traces named by ``traces``; htmx gets the preference section (the
    pair selector), or the cells of a column's window of steps or the next piece of its text."""
    project = member_project(request, slug)
    asked = WindowForm(request.GET)
    if not asked.is_valid():
        return bad_window(asked)
    try:
        traces = compared_traces(project, parse_trace_ids(request.GET.getlist("traces")))
        pair = chosen_pair(traces, request.GET.get("pair"))
    except CompareError as error:
        return error_page(request, project, error)
    if asked.wants_steps or asked.wants_text:
        return column_window(request, project, traces, asked)
    saved = pair_choice(request.user, pair)
    form = PreferenceForm(traces=traces, initial={"pair": pair_value(*pair), "reason": saved[1] if saved else ""})
    context = compare_context(request, project, traces, pair, form)
    if wants_fragment(request):
        return render(request, "traces/compare.html#preference", context)
    return render(request, "traces/compare.html", context | columns_context(traces, request.user))


@require_POST
@login_required
def save_preference(request: SignedInRequest, slug: str) -> HttpResponse:
    """Save the person's preference for one pair; htmx gets the preference section back with a status line."""
    project = member_project(request, slug)
    try:
        access.require(project, request.user, access.Action.LABEL)
    except access.PermissionDenied as denied:
        raise PermissionDenied(str(denied)) from None
    try:
        traces = compared_traces(project, parse_trace_ids(request.POST.getlist("traces")))
    except CompareError as error:
        return error_page(request, project, error)
    form = PreferenceForm(request.POST, traces=traces)
    pair, status = (traces[0], traces[1]), ""
    if form.is_valid():
        pair = form.pair_traces()
        try:
            do_save_preference(request.user, *pair, form.cleaned_data["choice"], form.cleaned_data["reason"])
        except PreferenceError as refused:
            form.add_error(None, str(refused))
        else:
            status = saved_status(traces, *pair, form.cleaned_data["choice"])
    if not request.htmx and status:
        return redirect(compare_url(project, traces, pair))
    context = compare_context(request, project, traces, pair, form) | {"status": status}
    if request.htmx:
        return render(request, "traces/compare.html#preference", context)
    return render(request, "traces/compare.html", context | columns_context(traces, request.user), status=400)
