"""What the adjudication pages read (``traces.actions.adjudication`` records the adjudicated values):
a queue's traces that two or more people labelled, each current step with every person's value and
the adjudicated one, and the version token of a trace's adjudicated labels that a save must name.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import F

from traces.models import ADJUDICATED, HUMAN, Label, Queue, QueueItem, Step, Trace
from traces.queries.agreement import human_labels


def adjudication_version(trace_id: int) -> str:
    """The version token of a trace's adjudicated labels (changes whenever one is added, changed or removed)."""
    rows = Label.objects.filter(trace_id=trace_id, source=ADJUDICATED).order_by("id")
    digest = hashlib.sha256()
    for row in rows.values_list("id", "step_id", "user_id", "value", "updated_at"):
        digest.update(repr(row).encode())
    return digest.hexdigest()[:32]



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
        human[step_id][username] = value  # type: ignore[assignment]  # value__isnull=False above; the stubs type the column as nullable
    settled = {
        step_id: (value, username or "")
        for step_id, value, username in Label.objects.filter(**current, source=ADJUDICATED).values_list(
            "step_id", "value", "user__username"
        )
    }
    labelers = sorted({username for values in human.values() for username in values})
    steps = Step.objects.filter(segmentation=trace.current_segmentation_id).order_by("index")
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
