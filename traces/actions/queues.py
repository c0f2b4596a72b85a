"""Annotation queues: make one from a trace filter, hand items out, submit or skip them (docs/concepts.md §1 Queue).

* ``do_create_queue`` makes one item per trace the trace list's filter selects (the caller passes
  that queryset, built by the list's own filter code, and the filter's query to keep), newest first
  as the list shows them, plus up to ``gold_count`` **gold items**: traces of the project that carry
  labels of ``gold_source`` (``import:processbench``, ``adjudicated``…), those the filter selected
  first. Gold items are spread evenly through the queue so that none of the policies hands them
  out in a block.
* ``next_item_for`` resumes the person's own item in progress, else hands out an item they never
  had (done, skipped or in progress) that still needs labelings: an item is *taken* by its done
  assignments and by assignments in progress started within ``LEASE`` (an abandoned hand-out stops
  blocking the item after that), and is handed out only while taken < overlap. Hand-outs of one
  queue are serialised by a row lock on the queue, so two people asking at once never push an item
  past its overlap (PostgreSQL; SQLite serialises writers anyway).
* ``do_submit_item`` finishes the person's assignment (time from hand-out to submit) and counts it in
  ``QueueItem.done_count``; ``do_skip_item`` gives the item back for others.
* What the queue pages read (progress, each annotator's work and gold accuracy, a person's place in
  a queue) is ``traces.queries.queues``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce
from django.utils import timezone

from traces.models import (
    HUMAN,
    AssignmentPolicy,
    AssignmentStatus,
    Label,
    Project,
    Queue,
    QueueAssignment,
    QueueItem,
    Trace,
)
from traces.queries.queues import current_assignment

#: An assignment in progress stops holding its item after this long (the person may still submit it).
LEASE = timedelta(hours=2)
MAX_OVERLAP = 20
MAX_ITEMS = 50_000
MAX_NAME_CHARS = 200

#: The per-person order of the "shuffled" policy: a hash of (item id, person) in portable SQL (integer
#: products and modulo, every intermediate below 2⁴⁰): h = id·k mod M with k = (user id·B + A) mod M,
#: then two rounds of h ← h² + c mod M (M prime). One product alone orders consecutive ids the same way
#: for a fifth of all people; with the squaring rounds two people share an order of 4 items about
#: 1 time in 24, as random permutations do.
_SHUFFLE_A, _SHUFFLE_B, _SHUFFLE_M = 2_654_435_761, 40_503, 1_000_003


class QueueError(ValueError):
    """A queue request that cannot be done; the message names the field or says why."""


@dataclass(frozen=True)
class QueueSpec:
    """What a new queue is (the filter's traces are passed beside it)."""

    name: str
    overlap: int = 1
    policy: str = AssignmentPolicy.IN_ORDER
    instructions: str = ""
    gold_source: str = ""
    gold_count: int = 0


def validate_spec(project: Project, spec: QueueSpec) -> None:
    """Raise QueueError naming the first field that is not allowed."""
    if not spec.name.strip() or len(spec.name) > MAX_NAME_CHARS:
        raise QueueError(f"name: give a name of 1 to {MAX_NAME_CHARS} characters")
    if Queue.objects.filter(project=project, name=spec.name).exists():
        raise QueueError(f"name: project '{project.slug}' already has a queue named {spec.name!r}")
    if not 1 <= spec.overlap <= MAX_OVERLAP:
        raise QueueError(f"overlap: must be 1 to {MAX_OVERLAP} people per item, got {spec.overlap}")
    if spec.policy not in AssignmentPolicy.values:
        raise QueueError(f"policy: must be one of {', '.join(AssignmentPolicy.values)}, got {spec.policy!r}")
    if spec.gold_count < 0:
        raise QueueError(f"gold_count: must be 0 or more, got {spec.gold_count}")
    if spec.gold_count and not spec.gold_source:
        raise QueueError("gold_source: name the label source whose labels are the known answers")
    if spec.gold_source == HUMAN:
        raise QueueError("gold_source: people's own labels ('human') cannot be gold")


def gold_candidates(project: Project, source: str, selected: list[int]) -> list[int]:
    """Ids of the project's traces with labels of ``source`` on their current steps: those in
    ``selected`` first (in its order), then the others newest first."""
    labelled = Label.objects.filter(
        trace_id=OuterRef("pk"), source=source, step__segmentation_id=OuterRef("current_segmentation_id")
    )
    ids = list(Trace.objects.in_project(project).filter(Exists(labelled)).order_by("-id").values_list("id", flat=True))
    chosen = set(ids)
    first = [trace_id for trace_id in selected if trace_id in chosen]
    taken = set(first)
    return first + [trace_id for trace_id in ids if trace_id not in taken]


def interleave(plain: list[int], gold: list[int]) -> list[tuple[int, bool]]:
    """The queue order as (trace id, is gold): the plain traces in order, the gold ones spread evenly among them."""
    slots: dict[int, list[int]] = defaultdict(list)  # plain index → the gold traces placed before it
    for k, trace_id in enumerate(gold):
        slots[round((k + 1) * len(plain) / (len(gold) + 1))].append(trace_id)
    order: list[tuple[int, bool]] = []
    for index in range(len(plain) + 1):
        order.extend((trace_id, True) for trace_id in slots.get(index, []))
        if index < len(plain):
            order.append((plain[index], False))
    return order


def do_create_queue(
    project: Project, user: User, spec: QueueSpec, traces: QuerySet[Trace], filters: dict[str, str]
) -> Queue:
    """Make a queue of the filter's traces (``traces``, of ``project``) and its gold items; all or nothing."""
    validate_spec(project, spec)
    selected = list(traces.filter(project=project).order_by("-id").values_list("id", flat=True)[: MAX_ITEMS + 1])
    gold: list[int] = []
    if spec.gold_count:
        gold = gold_candidates(project, spec.gold_source, selected)[: spec.gold_count]
        if not gold:
            raise QueueError(f"gold_source: no trace of '{project.slug}' has labels of source {spec.gold_source!r}")
    gold_ids = set(gold)
    plain = [trace_id for trace_id in selected if trace_id not in gold_ids]
    if not plain and not gold:
        raise QueueError("filters: the filter selects no traces")
    if len(plain) + len(gold) > MAX_ITEMS:
        raise QueueError(f"filters: a queue holds at most {MAX_ITEMS} traces; narrow the filter")
    with transaction.atomic():
        queue = Queue.objects.create(
            project=project,
            name=spec.name,
            instructions=spec.instructions,
            filters=filters,
            overlap=spec.overlap,
            policy=spec.policy,
            created_by=user,
        )
        QueueItem.objects.bulk_create(
            QueueItem(
                queue=queue, trace_id=trace_id, position=position, gold_source=spec.gold_source if is_gold else ""
            )
            for position, (trace_id, is_gold) in enumerate(interleave(plain, gold), start=1)
        )
    return queue


# --- Handing items out ----------------------------------------------------------------------------


def holding(now: datetime) -> Q:
    """The assignments that take a place of their item: done, or in progress within the lease."""
    return Q(status=AssignmentStatus.DONE) | Q(status=AssignmentStatus.IN_PROGRESS, started_at__gte=now - LEASE)


def open_items(queue: Queue, user: User) -> QuerySet[QueueItem]:
    """The queue's items the person never had that still need labelings, in the queue's policy order."""
    now = timezone.now()
    taken = (
        QueueAssignment.objects.filter(holding(now), item_id=OuterRef("pk"))
        .order_by()
        .values("item_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    had = QueueAssignment.objects.filter(item_id=OuterRef("pk"), user=user)
    items = (
        QueueItem.objects.filter(queue=queue, done_count__lt=queue.overlap)
        .filter(~Exists(had))
        .annotate(taken=Coalesce(Subquery(taken), 0))
        .filter(taken__lt=queue.overlap)
    )
    if queue.policy == AssignmentPolicy.SHUFFLED:
        return items.annotate(shuffle=shuffle_key(user.pk)).order_by("shuffle", "position")
    if queue.policy == AssignmentPolicy.FEWEST_DONE:
        return items.order_by("taken", "position")
    return items.order_by("position")


def shuffle_key(user_id: int) -> CombinedExpression:
    """The "shuffled" policy's per-person sort key of a queue item (see ``_SHUFFLE_M``)."""
    multiplier = (user_id * _SHUFFLE_B + _SHUFFLE_A) % _SHUFFLE_M or 1
    mixed = (F("id") % _SHUFFLE_M) * multiplier % _SHUFFLE_M
    mixed = (mixed * mixed + multiplier) % _SHUFFLE_M
    return (mixed * mixed + F("id")) % _SHUFFLE_M


def next_item_for(queue: Queue, user: User) -> QueueItem | None:
    """The person's item in progress, else a newly handed-out one; None when nothing is left for them."""
    with transaction.atomic():
        locked = Queue.objects.select_for_update().filter(pk=queue.pk).first()  # one hand-out of a queue at a time
        if locked is None:
            return None
        mine = current_assignment(locked, user)
        if mine is not None:
            return mine.item
        if not locked.is_open:
            return None
        item = open_items(locked, user).first()
        if item is None:
            return None
        QueueAssignment.objects.create(item=item, user=user)
        return item


def assignment_of(item: QueueItem, user: User) -> QueueAssignment:
    """The person's assignment of the item, locked; QueueError if the item was never handed to them."""
    assignment = QueueAssignment.objects.select_for_update().filter(item=item, user=user).first()
    if assignment is None:
        raise QueueError(f"item {item.position} was not handed to you: ask the queue for your next item")
    return assignment


def do_submit_item(item: QueueItem, user: User) -> QueueAssignment:
    """Finish the person's labeling of the item (submitting twice is one submission)."""
    with transaction.atomic():
        assignment = assignment_of(item, user)
        if assignment.status == AssignmentStatus.DONE:
            return assignment
        if assignment.status == AssignmentStatus.SKIPPED:
            raise QueueError(f"you skipped item {item.position}; it is no longer yours to submit")
        trace = Trace.objects.only("id", "current_segmentation_id").get(pk=item.trace_id)
        labelled = Label.objects.filter(
            trace_id=trace.pk, source=HUMAN, user=user, step__segmentation=trace.current_segmentation_id
        )
        if not labelled.filter(value__isnull=False).exists():
            raise QueueError(f"rate at least one step of trace #{trace.pk} before submitting it (or skip it)")
        now = timezone.now()
        assignment.status = AssignmentStatus.DONE
        assignment.finished_at = now
        assignment.seconds_spent = (now - assignment.started_at).total_seconds()
        assignment.save(update_fields=["status", "finished_at", "seconds_spent"])
        QueueItem.objects.filter(pk=item.pk).update(done_count=F("done_count") + 1)
    return assignment


def do_skip_item(item: QueueItem, user: User) -> QueueAssignment:
    """Give the item back: others may get it, the person will not get it again."""
    with transaction.atomic():
        assignment = assignment_of(item, user)
        if assignment.status == AssignmentStatus.DONE:
            raise QueueError(f"item {item.position} is already submitted")
        if assignment.status == AssignmentStatus.IN_PROGRESS:
            assignment.status = AssignmentStatus.SKIPPED
            assignment.finished_at = timezone.now()
            assignment.save(update_fields=["status", "finished_at"])
    return assignment


def do_set_queue_open(queue: Queue, is_open: bool) -> Queue:
    """Close a queue (no more hand-outs; work in progress may still be submitted) or open it again."""
    with transaction.atomic():
        Queue.objects.filter(pk=queue.pk).update(is_open=is_open)
    queue.is_open = is_open
    return queue
