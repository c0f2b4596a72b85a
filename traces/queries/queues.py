"""What the queue pages show (docs/concepts.md §1 Queue): a queue's progress, each annotator's
work and gold accuracy, where a person is in a queue and which item they hold.

Gold accuracy is for reviewers and owners only, and who sees a gold source's labels is
``traces.access``'s rule; the labeling page also hides a queue's gold sources from everyone
labelling in that queue (:func:`gold_sources`), so that nobody accepts a known answer there.
Handing items out and submitting them is ``traces.actions.queues``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from traces.analysis.metrics import step_confusion
from traces.models import HUMAN, AssignmentStatus, Label, Queue, QueueAssignment, QueueItem, Trace


def project_queues(project_id: int) -> QuerySet[Queue]:
    """The project's queues, with who made each."""
    return Queue.objects.filter(project_id=project_id).select_related("created_by")


def queue_items_for(queue: Queue, user: User) -> QuerySet[QueueItem]:
    """The queue's items in order, each with its trace's model, how many assignments of it are in
    progress and skipped, and whether ``user`` finished it (``mine_done``)."""
    mine = QueueAssignment.objects.filter(item=OuterRef("pk"), user=user)
    return (
        QueueItem.objects.filter(queue=queue)
        .select_related("trace__model")
        .annotate(
            in_progress=Count("assignments", filter=Q(assignments__status=AssignmentStatus.IN_PROGRESS)),
            skipped=Count("assignments", filter=Q(assignments__status=AssignmentStatus.SKIPPED)),
            mine_done=Exists(mine.filter(status=AssignmentStatus.DONE)),
        )
        .order_by("position")
    )


def current_assignment(queue: Queue, user: User) -> QueueAssignment | None:
    """The person's oldest assignment in progress in this queue."""
    return (
        QueueAssignment.objects.filter(item__queue=queue, user=user, status=AssignmentStatus.IN_PROGRESS)
        .select_related("item")
        .order_by("started_at", "id")
        .first()
    )



@dataclass(frozen=True)
class QueueProgress:
    """How far a queue is: items with all their labelings, and labelings done of those needed."""

    items: int
    complete_items: int
    labelings_done: int
    labelings_needed: int

    @property
    def percent(self) -> int:
        return round(100 * self.labelings_done / self.labelings_needed) if self.labelings_needed else 0


def queue_progress(queue: Queue) -> QueueProgress:
    """One query over the queue's items."""
    counts = QueueItem.objects.filter(queue=queue).aggregate(
        items=Count("id"),
        complete=Count("id", filter=Q(done_count__gte=queue.overlap)),
        done=Coalesce(Sum("done_count"), 0),
    )
    return QueueProgress(
        items=counts["items"],
        complete_items=counts["complete"],
        labelings_done=counts["done"],
        labelings_needed=counts["items"] * queue.overlap,
    )


@dataclass(frozen=True)
class GoldScore:
    """A person's step labels on gold items against the gold source: accuracy over ``steps`` compared."""

    accuracy: float
    steps: int
    items: int


@dataclass(frozen=True)
class AnnotatorProgress:
    user_id: int
    username: str
    done: int
    skipped: int
    in_progress: int
    median_seconds: float | None
    gold: GoldScore | None = None


def annotator_progress(queue: Queue) -> list[AnnotatorProgress]:
    """Each person who had items of the queue, by username (two queries, plus two for gold)."""
    rows = (
        QueueAssignment.objects.filter(item__queue=queue)
        .values("user_id", "user__username")
        .annotate(
            done=Count("id", filter=Q(status=AssignmentStatus.DONE)),
            skipped=Count("id", filter=Q(status=AssignmentStatus.SKIPPED)),
            in_progress=Count("id", filter=Q(status=AssignmentStatus.IN_PROGRESS)),
        )
        .order_by("user__username")
    )
    seconds: dict[int, list[float]] = defaultdict(list)
    finished = QueueAssignment.objects.filter(
        item__queue=queue, status=AssignmentStatus.DONE, seconds_spent__isnull=False
    ).values_list("user_id", "seconds_spent")
    for user_id, spent in finished:
        seconds[user_id].append(spent)  # type: ignore[arg-type]  # seconds_spent__isnull=False above; the stubs type the column as nullable
    gold = gold_scores(queue)
    return [
        AnnotatorProgress(
            user_id=row["user_id"],
            username=row["user__username"],
            done=row["done"],
            skipped=row["skipped"],
            in_progress=row["in_progress"],
            median_seconds=statistics.median(seconds[row["user_id"]]) if seconds[row["user_id"]] else None,
            gold=gold.get(row["user_id"]),
        )
        for row in rows
    ]


def gold_scores(queue: Queue) -> dict[int, GoldScore]:
    """Each person's accuracy on the gold items they submitted: their human step values against the
    gold source's on the current steps both rated (``traces.analysis.metrics.step_confusion``)."""
    done = QueueAssignment.objects.filter(item__queue=queue, status=AssignmentStatus.DONE).exclude(item__gold_source="")
    submitted = list(done.values_list("user_id", "item__trace_id", "item__gold_source"))
    if not submitted:
        return {}
    trace_ids = {trace_id for _, trace_id, _ in submitted}
    current = Q(step__segmentation_id=F("trace__current_segmentation_id"), value__isnull=False)
    gold_values: dict[tuple[int, str], int] = {}
    for step_id, source, value in Label.objects.filter(
        current, trace_id__in=trace_ids, source__in={source for _, _, source in submitted}
    ).values_list("step_id", "source", "value"):
        gold_values[(step_id, source)] = value  # type: ignore[assignment]  # value__isnull=False above; the stubs type the column as nullable
    human: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)  # (user, trace) → [(step, value)]
    for user_id, trace_id, step_id, value in Label.objects.filter(
        current, trace_id__in=trace_ids, source=HUMAN, user_id__in={user_id for user_id, _, _ in submitted}
    ).values_list("user_id", "trace_id", "step_id", "value"):
        human[(user_id, trace_id)].append((step_id, value))  # type: ignore[arg-type]  # value__isnull=False above; the stubs type the column as nullable
    pairs: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    items: dict[int, int] = defaultdict(int)
    for user_id, trace_id, source in submitted:
        items[user_id] += 1
        for step_id, value in human[(user_id, trace_id)]:
            truth = gold_values.get((step_id, source))
            if truth is not None:
                pairs[user_id][0].append(value)
                pairs[user_id][1].append(truth)
    return {
        user_id: GoldScore(step_confusion(mine, truth).accuracy, len(mine), items[user_id])
        for user_id, (mine, truth) in pairs.items()
        if mine
    }


def gold_sources(queue: Queue) -> frozenset[str]:
    """The label sources of the queue's gold items: the labeling page hides them from everyone
    labelling in the queue."""
    sources = QueueItem.objects.filter(queue=queue).exclude(gold_source="").values_list("gold_source", flat=True)
    return frozenset(sources.distinct())


@dataclass(frozen=True)
class QueuePlace:
    """Where a person is in a queue, as the labeling page shows it ("item 3 of 40, your 12 done")."""

    queue: Queue
    item: QueueItem
    total: int
    mine_done: int
    status: str | None  # the person's assignment of this item, None if they have none


def queue_place(queue: Queue, user: User, trace: Trace) -> QueuePlace | None:
    """The person's place in the queue at ``trace``; None when the trace is not one of its items."""
    item = QueueItem.objects.filter(queue=queue, trace_id=trace.pk).first()
    if item is None:
        return None
    status = QueueAssignment.objects.filter(item=item, user=user).values_list("status", flat=True).first()
    mine_done = QueueAssignment.objects.filter(item__queue=queue, user=user, status=AssignmentStatus.DONE).count()
    return QueuePlace(queue, item, QueueItem.objects.filter(queue=queue).count(), mine_done, status)
