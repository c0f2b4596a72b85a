"""What the labeling page reads of the signed-in person's work on a trace (docs/concepts.md §1 Label,
Trace annotation): their labels of the current steps, their annotation, how many steps they rated,
and the next trace they have not labelled. Saving is ``traces.actions.labels`` and ``.annotations``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, FilteredRelation, OuterRef, Q

from traces.models import HUMAN, Label, Project, Step, Trace, TraceAnnotation
from traces.models.trace import TraceQuerySet
from traces.queries.traces import current_steps

#: The columns a label POST reads of its trace (never the raw text).
TRACE_KEY_COLUMNS = ("id", "project_id", "current_segmentation_id")

#: The columns of the person's label that its cell shows.
LABEL_CELL_FIELDS = ("value", "flagged", "note", "params")


@dataclass(frozen=True)
class Progress:
    rated: int
    total: int


def trace_keys(project: Project) -> TraceQuerySet:
    """The project's traces with only the columns a label POST needs."""
    return Trace.objects.in_project(project).only(*TRACE_KEY_COLUMNS)


def my_label_rows(trace: Trace, user: User, step_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The person's human labels of these steps of the trace's current segmentation, by step id."""
    labels = Label.objects.filter(
        trace_id=trace.pk, source=HUMAN, user=user, step__segmentation=trace.current_segmentation_id
    ).filter(step_id__in=step_ids)
    return {row["step_id"]: row for row in labels.values("step_id", *LABEL_CELL_FIELDS)}


def my_annotation(trace: Trace, user: User) -> TraceAnnotation | None:
    """The person's own annotation of the trace (first error, verdicts), None before they made one."""
    return TraceAnnotation.objects.filter(trace_id=trace.pk, source=HUMAN, user=user).first()


def rated_progress(trace: Trace, user: User) -> Progress:
    """How many of the trace's current steps the person has rated (one query)."""
    counts = current_steps(trace).aggregate(
        total=Count("id", distinct=True),
        rated=Count("labels", filter=Q(labels__source=HUMAN, labels__user=user, labels__value__isnull=False)),
    )
    return Progress(rated=counts["rated"], total=counts["total"])


def label_cell_rows(user: User, step_ids: list[int], shown: Q) -> list[dict[str, Any]]:
    """The steps ``shown`` matches among ``step_ids``, in step order, each with the person's human label
    joined (``mine__id`` None: unrated; its ``LABEL_CELL_FIELDS`` as ``mine__<field>``); one query."""
    mine = FilteredRelation("labels", condition=Q(labels__source=HUMAN, labels__user=user))
    columns = [f"mine__{field}" for field in ("id", *LABEL_CELL_FIELDS)]
    rows = Step.objects.filter(shown, pk__in=step_ids).annotate(mine=mine).order_by("index")
    return list(rows.values("id", "index", *columns))


def next_trace_to_label(project: Project, user: User, after: Trace) -> Trace | None:
    """The next trace in list order (newest first) that the person has not labeled, wrapping around."""
    mine = Label.objects.filter(
        trace_id=OuterRef("pk"), source=HUMAN, user=user, step__segmentation_id=OuterRef("current_segmentation_id")
    )
    candidates = Trace.objects.in_project(project).exclude(pk=after.pk).filter(~Exists(mine)).only("id")
    return candidates.filter(pk__lt=after.pk).order_by("-id").first() or candidates.order_by("-id").first()
