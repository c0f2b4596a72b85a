"""Adjudicate where a queue's annotators disagree.

A reviewer opens a trace that two or more people labelled; the steps they rated differently come
side by side, each person's value in its own column, and one click records the adjudicated value
(source ``adjudicated``, written through ``traces.actions.labels.change_labels`` like every other
label, so it has undo history). A step has one adjudicated value: a reviewer's save replaces another
reviewer's adjudication of that step. Exports prefer it with the ``adjudicated`` or
``adjudicated-else-human`` policies (``traces.exports.policy``).

**Optimistic locking.** The page carries a version token of the trace's adjudicated labels (a hash of
their ids, values and update times); a save names the token it was made from. Under a row lock on
the trace, a token that no longer matches means someone adjudicated this trace since the page was
opened: the save is refused (``StaleAdjudication``) and changes nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F

from traces.actions.labels import LabelError, LabelState, change_labels, replaced_by
from traces.models import ADJUDICATED, HUMAN, Label, Queue, QueueItem, Step, Trace
from traces.queries.agreement import human_labels

STALE_MESSAGE = "someone adjudicated this trace since you opened it — reload the page to see their labels"


class StaleAdjudication(Exception):
    """The adjudicated labels changed since the page was opened; nothing was saved."""


def adjudication_version(trace_id: int) -> str:
    """The version token of a trace's adjudicated labels (changes whenever one is added, changed or removed)."""
    rows = Label.objects.filter(trace_id=trace_id, source=ADJUDICATED).order_by("id")
    digest = hashlib.sha256()
    for row in rows.values_list("id", "step_id", "user_id", "value", "updated_at"):
        digest.update(repr(row).encode())
    return digest.hexdigest()[:32]


def do_adjudicate_step(user: AbstractBaseUser, trace: Trace, step: Step, value: int, version: str) -> str:
    """Record the adjudicated value of one step if the trace's adjudication is still at ``version``;
    returns the new version. StaleAdjudication when it is not (nothing changes)."""
    if value not in (-1, 0, 1):
        raise LabelError(f"value: must be -1, 0 or 1, got {value!r}")
    if step.trace_id != trace.pk or step.segmentation_id != trace.current_segmentation_id:
        raise LabelError(f"step: {step.pk} is not a current step of trace {trace.pk}")
    with transaction.atomic():
        Trace.objects.select_for_update().filter(pk=trace.pk).only("id").first()  # saves of one trace in turn
        if adjudication_version(trace.pk) != version:
            raise StaleAdjudication(STALE_MESSAGE)
        change_labels(
            user, trace.pk, {step.pk: replaced_by(LabelState(value=value))}, kind="adjudicate", source=ADJUDICATED
        )
        Label.objects.filter(step=step, source=ADJUDICATED).exclude(user=user).delete()
        return adjudication_version(trace.pk)


# --- What the pages show ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceToAdjudicate:
    """A queue trace labelled by two or more people: how many steps they disagree on, how many are settled."""

    item: QueueItem
    labelers: int
    disagreeing: int
    adjudicated: int


def traces_to_adjudicate(queue: Queue) -> list[TraceToAdjudicate]:
    """The queue's traces with two or more human labelers, in queue order (four queries)."""
    labels = human_labels(queue)
    adjudicated = set(
        Label.objects.filter(
            trace__queue_items__queue=queue,
            source=ADJUDICATED,
            value__isnull=False,
            step__segmentation_id=F("trace__current_segmentation_id"),
        ).values_list("step_id", flat=True)
    )
    found = []
    for item in QueueItem.objects.filter(queue=queue, trace_id__in=list(labels.steps_by_trace)).order_by("position"):
        steps = labels.steps_by_trace[item.trace_id]
        people = {user_id for step_id in steps for user_id in labels.ratings.get(step_id, {})}
        if len(people) < 2:
            continue
        split = [step_id for step_id in steps if len(set(labels.ratings.get(step_id, {}).values())) > 1]
        found.append(TraceToAdjudicate(item, len(people), len(split), len(adjudicated.intersection(split))))
    return found


@dataclass(frozen=True)
class StepVerdicts:
    """One step of the adjudication page: each labeler's value (None: not rated) and the adjudicated one."""

    step_id: int
    index: int
    char_start: int
    char_end: int
    values: list[int | None]  # in the order of ``TraceVerdicts.labelers``
    adjudicated: int | None
    adjudicated_by: str

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def disagreeing(self) -> bool:
        return len({value for value in self.values if value is not None}) > 1


@dataclass(frozen=True)
class TraceVerdicts:
    labelers: list[str]
    steps: list[StepVerdicts]
    version: str

    @property
    def disagreeing(self) -> list[StepVerdicts]:
        return [step for step in self.steps if step.disagreeing]


def trace_verdicts(trace: Trace) -> TraceVerdicts:
    """Every current step of the trace with each human labeler's value and the adjudicated one (four queries)."""
    version = adjudication_version(trace.pk)  # before the reads: a change in between makes a save stale, never lost
    current = {"trace_id": trace.pk, "step__segmentation_id": trace.current_segmentation_id}
    human: dict[int, dict[str, int]] = defaultdict(dict)
    for step_id, username, value in Label.objects.filter(
        **current, source=HUMAN, user__isnull=False, value__isnull=False
    ).values_list("step_id", "user__username", "value"):
        human[step_id][username] = value
    settled = {
        step_id: (value, username or "")
        for step_id, value, username in Label.objects.filter(**current, source=ADJUDICATED).values_list(
            "step_id", "value", "user__username"
        )
    }
    labelers = sorted({username for values in human.values() for username in values})
    steps = Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index")
    return TraceVerdicts(
        labelers=labelers,
        steps=[
            StepVerdicts(
                step_id=step_id,
                index=index,
                char_start=start,
                char_end=end,
                values=[human[step_id].get(name) for name in labelers],
                adjudicated=settled.get(step_id, (None, ""))[0],
                adjudicated_by=settled.get(step_id, (None, ""))[1],
            )
            for step_id, index, start, end in steps.values_list("id", "index", "char_start", "char_end")
        ],
        version=version,
    )
