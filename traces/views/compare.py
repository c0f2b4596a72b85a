"""Side-by-side comparison of 2–6 traces of one problem, with pairwise preferences (issue 6 item 4, SPEC §4).

``/p/<slug>/compare/?traces=1,2,3`` (the trace list's checkboxes send ``traces=1&traces=2``; both
spellings work). The page shows the problem and its reference answer, a header card per trace
(model, sample, final answer and correctness, tokens, key analysis scores) and one column of steps
per trace, aligned by ``traces.analysis.alignment``: the step where each trace first reaches the
reference answer (t*) sits on one highlighted row. Each column scrolls on its own and
``static/js/compare.js`` keeps the others on the same aligned row.

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
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.actions.preferences import MAX_REASON_CHARS, PreferenceError, as_shown, do_save_preference
from traces.analysis.alignment import StepList, align_steps
from traces.models import HUMAN, Preference, PreferenceChoice, Project, Trace
from traces.views.access import member_project
from traces.views.presenters import (
    AnalysisSummary,
    Segment,
    StepRow,
    analysis_of,
    analysis_summary,
    label_chips_by_step,
    markers_of,
    step_rows,
    trace_scores,
    viewer_parts,
)
from traces.views.traces import HtmxHttpRequest, wants_fragment

MIN_TRACES, MAX_TRACES = 2, 6

#: The letters naming the shown traces, in column order.
LETTERS = "ABCDEF"

#: Keys of the preference buttons (``static/js/compare.js``).
CHOICE_KEYS = {PreferenceChoice.A_BETTER: "a", PreferenceChoice.B_BETTER: "b", PreferenceChoice.TIE: "t"}


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
    found = Trace.objects.in_project(project).for_viewer().select_related("analysis").in_bulk(ids)
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
class CompareCell:
    """One aligned row of one column: a step, or a gap (``step`` None)."""

    row: int
    step: StepRow | None
    anchor: bool  # the row of the t* steps
    t_star: bool = False  # this cell holds its trace's t* step


@dataclass
class CompareColumn:
    """One trace of the comparison: its header card and its aligned cells."""

    letter: str
    trace: Trace
    summary: AnalysisSummary | None
    steps: list[StepRow]
    t_star: int | None  # the position of the t* step in ``steps``
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


def column_of(letter: str, trace: Trace, hidden: Q) -> CompareColumn:
    """One trace's steps (think then answer, marked as in the viewer) and where its t* step is."""
    analysis = analysis_of(trace)
    markers = markers_of(analysis)
    steps = step_rows(trace)
    annotations = list(trace.annotations.exclude(hidden).order_by("source", "id"))
    parts = viewer_parts(trace, steps, label_chips_by_step(trace, hidden), annotations, markers)
    shown = parts.think + parts.answer
    if not shown:  # a trace without steps is shown whole, as one cell
        between = [Segment("\n\n")] if parts.think_text and parts.answer_text else []
        segments = [*parts.think_text, *between, *parts.answer_text]
        shown = [StepRow(index=0, text=trace.raw_text, part="answer", segments=segments)] if segments else []
    summary = analysis_summary(trace, analysis, markers, trace_scores(trace), steps) if analysis else None
    t_star_index = summary.t_star_step - 1 if summary and summary.t_star_step else None
    t_star = next((i for i, step in enumerate(shown) if step.index == t_star_index), None)
    return CompareColumn(letter=letter, trace=trace, summary=summary, steps=shown, t_star=t_star)


def aligned_columns(traces: list[Trace], hidden: Q) -> tuple[list[CompareColumn], int | None]:
    """The columns with their cells on the aligned rows, and the anchor (t*) row; labels ``hidden``
    matches (gold labels an annotator must not see) are left out."""
    columns = [column_of(letter, trace, hidden) for letter, trace in zip(LETTERS, traces, strict=False)]
    alignment = align_steps([StepList(count=len(c.steps), anchor=c.t_star) for c in columns])
    for k, column in enumerate(columns):
        column.cells = [
            CompareCell(
                row=r,
                step=None if row.cells[k] is None else column.steps[row.cells[k]],  # type: ignore[index]
                anchor=row.anchor,
                t_star=row.cells[k] is not None and row.cells[k] == column.t_star,
            )
            for r, row in enumerate(alignment.rows)
        ]
    return columns, alignment.anchor_row


def pair_choice(user: object, pair: tuple[Trace, Trace]) -> tuple[str, str] | None:
    """The person's saved (choice as the page shows the pair, reason) for ``pair``; None when unjudged."""
    x, y = pair
    ids = {"trace_a_id": min(x.pk, y.pk), "trace_b_id": max(x.pk, y.pk)}
    preference = Preference.objects.filter(**ids, source=HUMAN, user=user).first()
    return None if preference is None else (as_shown(preference, x.pk), preference.reason)


def my_preferences(user: object, traces: list[Trace]) -> list[ShownPreference]:
    """The person's human preferences between any two of ``traces``, in the page's pair order."""
    letter = letters_of(traces)
    ids = list(letter)
    rows = Preference.objects.filter(trace_a_id__in=ids, trace_b_id__in=ids, source=HUMAN, user=user)
    stored = {(p.trace_a_id, p.trace_b_id): p for p in rows}
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
        self.fields["pair"].choices = [(pair_value(x, y), pair_value(x, y)) for x, y in combinations(traces, 2)]  # type: ignore[attr-defined]

    def pair_traces(self) -> tuple[Trace, Trace]:
        x, y = self.cleaned_data["pair"].split(",")
        return self.traces[int(x)], self.traces[int(y)]


# --- Views -------------------------------------------------------------------------------------------------


def compare_context(
    request: HttpRequest, project: Project, traces: list[Trace], pair: tuple[Trace, Trace], form: PreferenceForm
) -> dict[str, Any]:
    """What the page and its preference fragment show."""
    letter = letters_of(traces)
    first, second = letter[pair[0].pk], letter[pair[1].pk]
    labels = {PreferenceChoice.A_BETTER: f"{first} is better", PreferenceChoice.B_BETTER: f"{second} is better"}
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


def columns_context(traces: list[Trace], user: object) -> dict[str, Any]:
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
def compare_traces(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The comparison page of the traces named by ``traces``; htmx (the pair selector) gets the preference section."""
    project = member_project(request, slug)
    try:
        traces = compared_traces(project, parse_trace_ids(request.GET.getlist("traces")))
        pair = chosen_pair(traces, request.GET.get("pair"))
    except CompareError as error:
        return error_page(request, project, error)
    saved = pair_choice(request.user, pair)
    form = PreferenceForm(traces=traces, initial={"pair": pair_value(*pair), "reason": saved[1] if saved else ""})
    context = compare_context(request, project, traces, pair, form)
    if wants_fragment(request):
        return render(request, "traces/compare.html#preference", context)
    return render(request, "traces/compare.html", context | columns_context(traces, request.user))


@require_POST
@login_required
def save_preference(request: HtmxHttpRequest, slug: str) -> HttpResponse:
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
            do_save_preference(request.user, *pair, form.cleaned_data["choice"], form.cleaned_data["reason"])  # type: ignore[arg-type]
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
