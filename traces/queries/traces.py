"""What the trace viewer, the labeling page and the compare page read of a trace (docs/concepts.md §1
Trace, Step, Label): its current steps, the labels and annotations the reader may see, its scores,
the other traces of its problem, and the traces of its generation batch.

``hidden`` is ``traces.access.hidden_labels``: the gold sources the reader may not see.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from traces.models import Label, Project, Score, Step, Trace, TraceAnnotation
from traces.models.trace import TraceQuerySet

#: The columns of a step the viewer reads (plain rows: no model instances for thousands of steps).
STEP_COLUMNS = ("id", "index", "char_start", "char_end", "part")

#: A label as the pages show it: (step id, source, username or None, value, flagged, confidence, note).
LabelRow = tuple[int, str, str | None, int | None, bool, float | None, str]


def viewer_traces(project: Project) -> TraceQuerySet:
    """The project's traces with what a page showing one needs (its text, problem and analysis)."""
    return Trace.objects.in_project(project).for_viewer().select_related("analysis")


def current_steps(trace: Trace) -> QuerySet[Step]:
    """The steps of the trace's current segmentation."""
    return Step.objects.filter(segmentation=trace.current_segmentation_id)


def step_rows(trace: Trace) -> list[dict[str, Any]]:
    """The current segmentation's steps in order, as plain rows (one query). Their alternatives come
    as JSON text (``alternatives_json``), decoded only for the steps a page shows: decoding them all
    took 0.2 s of a looping trace's 8,737 steps."""
    steps = current_steps(trace).order_by("index").annotate(alternatives_json=Cast("alternatives", TextField()))
    return list(steps.values(*STEP_COLUMNS, "alternatives_json"))


def label_rows(trace: Trace, hidden: Q | None = None) -> list[LabelRow]:
    """Every label of the current segmentation's steps, by source, person and age (one query), but
    those ``hidden`` matches."""
    labels = Label.objects.filter(trace_id=trace.pk, step__segmentation=trace.current_segmentation_id)
    if hidden is not None:
        labels = labels.exclude(hidden)
    username = f"user__{get_user_model().USERNAME_FIELD}"
    columns = ("step_id", "source", username, "value", "flagged", "confidence", "note")
    return list(labels.order_by("source", "user_id", "id").values_list(*columns))


def visible_annotations(trace: Trace, hidden: Q) -> list[TraceAnnotation]:
    """The trace's annotations (first errors, verdicts) the reader may see, by source, with their authors."""
    return list(trace.annotations.exclude(hidden).select_related("user").order_by("source", "id"))


def trace_score_rows(trace: Trace) -> list[tuple[str, str, float]]:
    """Every trace-level score of the trace as (name, method, value), by method and name (one query)."""
    rows = Score.objects.filter(trace_id=trace.pk, step__isnull=True).order_by("method", "name")
    return list(rows.values_list("name", "method", "value"))


def same_problem_traces(trace: Trace, limit: int) -> list[Trace]:
    """Up to ``limit`` other traces of the trace's problem, newest first (the "Compare with…" menu)."""
    others = Trace.objects.filter(project_id=trace.project_id, problem_id=trace.problem_id).exclude(pk=trace.pk)
    columns = ("id", "sample_index", "is_correct", "grading_method", "model__name")
    return list(others.select_related("model").only(*columns).order_by("-id")[:limit])


def generation_batch_size(trace: Trace) -> int:
    """How many traces of the trace's run took the same generation time: its engine batch (at least 1)."""
    shared_by = Trace.objects.filter(run_id=trace.run_id, generation_ms=trace.generation_ms).count()
    return max(1, shared_by)
