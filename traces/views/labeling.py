"""The labeling view (docs/concepts.md §4 "keyboard-first step labeling").

One page per trace, ``/p/<slug>/traces/<pk>/label/``: the steps with the signed-in person's own
label cell and the automatic suggestions (source and confidence), a sticky panel with the keys, the
answers and the trace-level form. Each keystroke (``static/js/labeling.js``) is one htmx POST to
``label/steps/`` (or ``label/undo/``) that calls one action of ``traces.actions.labels`` and answers
with a status line plus, out of band, the label cells of the steps that changed among those the
page shows: a 600-step trace is never re-rendered for one label, and first-error mode on an
8,737-step loop answers with the cells of its window, not 8,737.

Rules: annotators, reviewers and owners label; viewers get 403 (they read traces in the viewer);
non-members get 404; the page shows the person's own labels and the automatic suggestions, never
other people's labels (judgments stay independent; the trace viewer shows them all).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import reduce
from typing import Any, ClassVar

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.actions.annotations import (
    MAX_NOTE_CHARS,
    AnnotationError,
    FinalAnswerVerdict,
    MismatchVerdict,
    OverthinkingVerdict,
    TraceVerdicts,
    do_save_trace_verdicts,
)
from traces.actions.labels import (
    ACCEPTED,
    LabelChanges,
    LabelError,
    best_suggestion,
    do_accept_suggestion,
    do_mark_first_error,
    do_rate_step,
    do_toggle_flag,
    do_undo_last_change,
)
from traces.formats.processbench import NO_ERROR
from traces.models import LabelValue, Part, Project, Queue, Step, Trace, TraceAnnotation
from traces.models.trace import TraceQuerySet
from traces.queries.labeling import (
    LABEL_CELL_FIELDS,
    label_cell_rows,
    my_annotation,
    my_label_rows,
    next_trace_to_label,
    rated_progress,
    trace_keys,
)
from traces.queries.queues import QueuePlace, gold_sources, project_queues, queue_place
from traces.queries.traces import current_steps, step_rows, viewer_traces
from traces.views.access import member_project
from traces.views.presenters import LabelChip, analysis_of, label_chips_by_step, markers_of
from traces.views.requests import SignedInRequest
from traces.views.windows import (
    PAGE_STEPS,
    HiddenSteps,
    TextRest,
    TraceWindow,
    WindowForm,
    WindowItem,
    bad_window,
    text_piece,
)

STEP_ACTIONS = ("rate", "flag", "accept", "first_error", "no_error")

#: What an undone change was, in the status line.
CHANGE_NAMES = {
    "rate": "rating",
    "flag": "flag",
    "accept": "accepted suggestion",
    "first_error": "first-error mode",
    "no_error": "“no error”",
    "save": "API save",
}

_RATING_TEXT = {1: "+1", 0: "0", -1: "−1"}


# --- What the page shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class MyLabel:
    """The signed-in person's label of one step, as its label cell shows it."""

    step_id: int
    number: int  # 1-based
    value: int | None = None
    flagged: bool = False
    note: str = ""
    accepted_from: str = ""  # the automatic source this value was accepted from
    first_error: bool = False  # the person marked this step as the first error


@dataclass(frozen=True)
class LabelingStep:
    """One step of the labeling page: its text, the person's label cell and the automatic suggestions."""

    hidden: ClassVar[bool] = False  # a row of steps not shown yet says True (``windows.HiddenSteps``)
    text: str
    mine: MyLabel
    suggestions: list[LabelChip]
    best: LabelChip | None  # the suggestion ``a`` accepts
    rest: TextRest | None = None  # the end of a long step, loaded on demand

    @property
    def number(self) -> int:
        return self.mine.number

    @property
    def index(self) -> int:
        return self.mine.number - 1


@dataclass(frozen=True)
class PartSection:
    """A window of the steps of the think or the answer part (``traces.views.windows``)."""

    part: str
    title: str
    steps: list[LabelingStep | HiddenSteps]
    count: int  # steps in the part, shown or not


@dataclass(frozen=True)
class Status:
    text: str
    level: str = "ok"  # ok | warn


def my_label(step_id: int, index: int, row: dict[str, Any] | None, first_error: int | None) -> MyLabel:
    """The label cell of one step from the person's label row (None: unrated)."""
    is_first_error = first_error is not None and index == first_error
    if row is None:
        return MyLabel(step_id=step_id, number=index + 1, first_error=is_first_error)
    accepted = (row["params"] or {}).get(ACCEPTED) or {}
    return MyLabel(
        step_id=step_id,
        number=index + 1,
        value=row["value"],
        flagged=bool(row["flagged"]),
        note=row["note"],
        accepted_from=str(accepted.get("source", "")),
        first_error=is_first_error,
    )


def label_cells(user: User, step_ids: list[int], first_error: int | None, shown: Q) -> list[MyLabel]:
    """The label cells of these steps that ``shown`` matches, in step order (one query: each step
    with the person's label joined)."""
    return [
        my_label(
            row["id"],
            row["index"],
            {field: row[f"mine__{field}"] for field in LABEL_CELL_FIELDS} if row["mine__id"] is not None else None,
            first_error,
        )
        for row in label_cell_rows(user, step_ids, shown)
    ]


@dataclass(frozen=True)
class LabelingContext:
    """What every labeling row of one request reads: the person, their labels and the suggestions."""

    user: User
    suggestions: dict[int, list[LabelChip]]
    first_error: int | None
    hidden: Collection[str]  # suggestion sources left out (the gold sources of the queue being labelled)


def labeling_context(
    trace: Trace, user: User, annotation: TraceAnnotation | None, hidden: Collection[str] = ()
) -> LabelingContext:
    """The suggestions the person may see (not ``access.hidden_labels``, not the ``hidden`` sources)."""
    suggestions = label_chips_by_step(trace, access.hidden_labels(user))
    return LabelingContext(user, suggestions, annotation.first_error_step if annotation else None, hidden)


def labeling_rows(
    window: TraceWindow, items: list[WindowItem], context: LabelingContext
) -> list[LabelingStep | HiddenSteps]:
    """The labeling rows of a window: each shown step (long ones cut) with the person's label and
    the suggestions; plain text, no analysis marks (the viewer shows them)."""
    shown = [item for item in items if isinstance(item, int)]
    mine = my_label_rows(window.trace, context.user, [window.steps[i]["id"] for i in shown])
    rows: list[LabelingStep | HiddenSteps] = []
    for item in items:
        if isinstance(item, HiddenSteps):
            rows.append(item)
            continue
        step, piece = window.steps[item], window.step_piece(item)
        chips = context.suggestions.get(step["id"], [])
        auto = [chip for chip in chips if chip.auto and chip.source not in context.hidden]
        rows.append(
            LabelingStep(
                text=piece.shown,
                mine=my_label(step["id"], step["index"], mine.get(step["id"]), context.first_error),
                suggestions=auto,
                best=best_suggestion(auto),
                rest=piece.rest,
            )
        )
    return rows


def labeling_sections(window: TraceWindow, context: LabelingContext, start: int | None = None) -> list[PartSection]:
    """The think steps (when there are any) and the answer steps: a window of each, as rows to label."""
    items = window.page_items(start)
    sections = []
    for part, title in ((Part.THINK, "Thinking"), (Part.ANSWER, "Answer")):
        first, stop = window.ranges[part]
        if part == Part.ANSWER or stop > first:
            sections.append(PartSection(part, title, labeling_rows(window, items[part], context), stop - first))
    return sections


# --- Forms -----------------------------------------------------------------------------------------


#: The ranges of step numbers a labeling page says it shows (``12-40,300-330``): at most this many.
MAX_SHOWN_RANGES = 500


class ShownStepsForm(forms.Form):
    """Which steps the page shows (``shown``: ranges of 1-based step numbers), so that a keystroke's
    answer brings only their changed cells; the others are rendered fresh when they are loaded."""

    shown = forms.RegexField(
        regex=r"^\d{1,9}-\d{1,9}(,\d{1,9}-\d{1,9})*$", required=False, max_length=20 * MAX_SHOWN_RANGES
    )

    def clean_shown(self) -> list[tuple[int, int]]:
        pairs = [text.split("-") for text in self.cleaned_data["shown"].split(",") if text]
        if len(pairs) > MAX_SHOWN_RANGES:
            raise forms.ValidationError(f"at most {MAX_SHOWN_RANGES} ranges of shown steps")
        return [(int(first), int(last)) for first, last in pairs]

    def shown_filter(self, near: Step | None) -> Q:
        """The steps whose cells an answer brings: those the page said it shows; when it said
        nothing, the ``PAGE_STEPS`` on each side of ``near`` (the first ones without a step)."""
        ranges = self.cleaned_data.get("shown") or []
        if not ranges:
            middle = near.index if near is not None else 0
            return Q(index__range=(middle - PAGE_STEPS, middle + PAGE_STEPS))
        return reduce(operator.or_, (Q(index__range=(first - 1, last - 1)) for first, last in ranges))


class StepActionForm(ShownStepsForm):
    """One keystroke: an action, the current step (not for ``no_error``) and, to rate, the value."""

    action = forms.ChoiceField(choices=[(name, name) for name in STEP_ACTIONS])
    step = forms.ModelChoiceField(queryset=Step.objects.none(), required=False)
    value = forms.TypedChoiceField(choices=LabelValue.choices, coerce=int, required=False, empty_value=None)
    queue = forms.ModelChoiceField(queryset=Queue.objects.none(), required=False)  # labeling in queue context

    def __init__(self, data: Any, *, trace: Trace) -> None:
        super().__init__(data)
        self.fields["step"].queryset = current_steps(trace).only("id", "index", "trace_id")  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["queue"].queryset = project_queues(trace.project_id)  # type: ignore[attr-defined]  # the stubs type form fields as Field

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action and action != "no_error" and data.get("step") is None and "step" not in self.errors:
            self.add_error("step", f"the action '{action}' needs a step of this trace")
        if action == "rate" and data.get("value") is None and "value" not in self.errors:
            self.add_error("value", "rating needs a value: -1, 0 or 1")
        return data


def verdict_choices(vocabulary: type[models.TextChoices]) -> list[tuple[str, str]]:
    """A verdict's choices with "not given" first."""
    return [("", "—"), *vocabulary.choices]


class TraceVerdictsForm(forms.Form):
    """The trace-level fields of the person's annotation (the first error is set by keyboard)."""

    final_answer_verdict = forms.ChoiceField(
        label="Final answer", required=False, choices=verdict_choices(FinalAnswerVerdict)
    )
    mismatch_verdict = forms.ChoiceField(label="Think–answer", required=False, choices=verdict_choices(MismatchVerdict))
    overthinking_verdict = forms.ChoiceField(
        label="Overthinking", required=False, choices=verdict_choices(OverthinkingVerdict)
    )
    tags = forms.CharField(label="Tags", required=False, help_text="comma-separated")
    note = forms.CharField(
        label="Note", required=False, max_length=MAX_NOTE_CHARS, widget=forms.Textarea(attrs={"rows": 3})
    )

    @classmethod
    def for_annotation(cls, annotation: TraceAnnotation | None) -> TraceVerdictsForm:
        if annotation is None:
            return cls()
        return cls(
            initial={
                "final_answer_verdict": annotation.final_answer_verdict,
                "mismatch_verdict": annotation.mismatch_verdict,
                "overthinking_verdict": annotation.overthinking_verdict,
                "tags": ", ".join(annotation.tags),
                "note": annotation.note,
            }
        )

    def clean_tags(self) -> tuple[str, ...]:
        """Tags split at commas, trimmed, empty ones dropped, each kept once in order."""
        tags = (tag.strip() for tag in self.cleaned_data["tags"].split(","))
        return tuple(dict.fromkeys(tag for tag in tags if tag))

    def verdicts(self) -> TraceVerdicts:
        return TraceVerdicts(**self.cleaned_data)


# --- Access --------------------------------------------------------------------------------------------


def labeling_target(
    request: HttpRequest, slug: str, pk: int, traces: Callable[[Project], TraceQuerySet]
) -> tuple[Project, Trace]:
    """The project (404 for non-members, 403 unless the role may label) and the trace of ``traces(project)``
    (404 if not in it)."""
    project = member_project(request, slug)
    try:
        access.require(project, request.user, access.Action.LABEL)
    except access.PermissionDenied as denied:
        raise PermissionDenied(str(denied)) from None
    return project, get_object_or_404(traces(project), pk=pk)


def queue_place_of(request: SignedInRequest, project: Project, trace: Trace) -> QueuePlace | None:
    """The person's place in the queue ``?queue=<id>`` names; 404 unless it is a queue of
    the project that holds this trace; None without the parameter."""
    raw = request.GET.get("queue", "")
    if not raw:
        return None
    queue = get_object_or_404(Queue, project=project, pk=int(raw) if raw.isdigit() else 0)
    place = queue_place(queue, request.user, trace)
    if place is None:
        raise Http404(f"trace {trace.pk} is not an item of queue {queue.pk}")
    return place


# --- Views -------------------------------------------------------------------------------------------


@vary_on_headers("HX-Request")
@require_GET
@login_required
def label_trace(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """The labeling page of one trace, a window of its steps (``traces.views.windows``); with
    ``?queue=<id>``, in that queue's context (``n`` submits the item). Asked for more steps or the
    rest of a long text, that alone."""
    project, trace = labeling_target(request, slug, pk, viewer_traces)
    annotation = my_annotation(trace, request.user)
    place = queue_place_of(request, project, trace)
    window, asked = TraceWindow(trace, step_rows(trace), markers_of(analysis_of(trace))), WindowForm(request.GET)
    if not asked.is_valid():
        return bad_window(asked)
    if asked.wants_text:
        return text_piece(request, window, asked)
    labeling = labeling_context(trace, request.user, annotation, gold_sources(place.queue) if place else ())
    if asked.wants_steps:
        return labeling_steps(request, window, asked, labeling)
    context = {
        "project": project,
        "trace": trace,
        "place": place,
        "problem": window.piece("problem"),
        "sections": labeling_sections(window, labeling, asked.cleaned_data["start"]),
        "first_error": annotation.first_error_step if annotation else None,
        "progress": rated_progress(trace, request.user),
        "form": TraceVerdictsForm.for_annotation(annotation),
        "finished": "finished" in request.GET,
    }
    return render(request, "traces/label.html", context)


def labeling_steps(
    request: HttpRequest, window: TraceWindow, asked: WindowForm, labeling: LabelingContext
) -> HttpResponse:
    """The labeling rows of the window of steps ``asked`` names (in place of the row that hid them)."""
    data = asked.cleaned_data
    items = window.range_items(data["first"], data["start"], data["stop"], data["expand"])
    if items is None:
        raise Http404("no such steps in one part of this trace")
    return render(request, "traces/label.html#step-rows", {"rows": labeling_rows(window, items, labeling)})


@require_POST
@login_required
def label_step(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """One keystroke on one step (rate, flag, accept, first error, no error): the changed cells come back."""
    _, trace = labeling_target(request, slug, pk, trace_keys)
    form = StepActionForm(request.POST, trace=trace)
    if not form.is_valid():
        return HttpResponseBadRequest(error_text(form), content_type="text/plain; charset=utf-8")
    shown = form.shown_filter(form.cleaned_data["step"])
    try:
        changes = run_step_action(request.user, trace, form.cleaned_data)
    except LabelError as refused:
        return changes_response(request, trace, None, Status(str(refused), "warn"), shown)
    return changes_response(request, trace, changes, step_status(form.cleaned_data, changes), shown)


@require_POST
@login_required
def undo_label(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Undo the person's last change of this trace."""
    _, trace = labeling_target(request, slug, pk, trace_keys)
    form = ShownStepsForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(error_text(form), content_type="text/plain; charset=utf-8")
    changes = do_undo_last_change(request.user, trace)
    if changes is None:
        return changes_response(request, trace, None, Status("Nothing to undo.", "warn"), form.shown_filter(None))
    status = Status(f"Undid the last {CHANGE_NAMES.get(changes.kind, changes.kind)}.")
    return changes_response(request, trace, changes, status, form.shown_filter(None))


@require_POST
@login_required
def save_trace_verdicts(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Save the trace-level form; htmx gets the form back, a plain POST goes back to the page."""
    project, trace = labeling_target(request, slug, pk, trace_keys)
    form = TraceVerdictsForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            do_save_trace_verdicts(request.user, trace, form.verdicts())
            saved = True
        except AnnotationError as refused:
            form.add_error(None, str(refused))
    if not request.htmx:
        return redirect("trace-label", project.slug, trace.pk)
    context = {"project": project, "trace": trace, "form": form, "saved": saved}
    return render(request, "traces/partials/label_verdicts.html", context)


@require_GET
@login_required
def next_to_label(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Go to the person's next unlabeled trace (everything is already saved); back here when none is left."""
    project, trace = labeling_target(request, slug, pk, trace_keys)
    following = next_trace_to_label(project, request.user, trace)
    if following is None:
        return redirect(reverse("trace-label", args=[project.slug, trace.pk]) + "?finished=1")
    return redirect("trace-label", project.slug, following.pk)


# --- Helpers of the POST views ------------------------------------------------------------------------------


def run_step_action(user: Any, trace: Trace, data: dict[str, Any]) -> LabelChanges:
    """Call the action a keystroke names."""
    action, step = data["action"], data["step"]
    if action == "rate":
        return do_rate_step(user, step, data["value"])
    if action == "flag":
        return do_toggle_flag(user, step)
    if action == "accept":
        return do_accept_suggestion(user, step, hidden=gold_sources(data["queue"]) if data["queue"] else ())
    return do_mark_first_error(user, trace, step.index if action == "first_error" else NO_ERROR)


def step_status(data: dict[str, Any], changes: LabelChanges) -> Status:
    """The status line after a keystroke."""
    action, step = data["action"], data["step"]
    if action == "no_error":
        return Status("No error: every step +1." if changes.changed else "Already marked “no error”.")
    number = step.index + 1
    if not changes.changed:
        return Status(f"Step {number}: no change.")
    if action == "rate":
        return Status(f"Step {number}: {_RATING_TEXT[data['value']]}.")
    if action == "flag":
        return Status(f"Step {number}: flag changed.")
    if action == "accept":
        return Status(f"Step {number}: suggestion accepted.")
    return Status(f"First error at step {number}: earlier steps +1, later steps unrated.")


def changes_response(
    request: SignedInRequest, trace: Trace, changes: LabelChanges | None, status: Status, shown: Q
) -> HttpResponse:
    """The status line and, when labels changed, out of band the changed label cells of the steps
    ``shown`` matches, the progress and the first-error badge."""
    context: dict[str, Any] = {"status": status, "oob": changes is not None and changes.changed}
    if changes is not None and changes.changed:
        annotation = my_annotation(trace, request.user)
        first_error = annotation.first_error_step if annotation else None
        context |= {
            "cells": label_cells(request.user, list(changes.step_ids), first_error, shown),
            "progress": rated_progress(trace, request.user),
            "first_error": first_error,
        }
    return render(request, "traces/label.html#changes", context)


def error_text(form: forms.Form) -> str:
    """A form's errors as one line per field: ``field: message``."""
    return "\n".join(f"{name}: {' '.join(str(error) for error in errors)}" for name, errors in form.errors.items())
