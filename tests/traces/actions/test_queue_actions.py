"""Queues, agreement and adjudication actions (issue 6 items 2, 3 and 5) on real ProcessBench traces.

The traces are ProcessBench records from ../shared/data imported by the importer, so each carries the
``import:processbench`` step labels (+1 before the first error, −1 at it, nothing after) that serve as
gold labels. Expected figures are worked out here from the records, never read back from the code.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from django.db import connection

from traces.actions.adjudication import StaleAdjudication, do_adjudicate_step
from traces.actions.labels import LabelInput, do_save_labels
from traces.actions.queues import (
    LEASE,
    QueueError,
    QueueSpec,
    do_create_queue,
    do_set_queue_open,
    do_skip_item,
    do_submit_item,
    interleave,
    next_item_for,
)
from traces.actions.store import store_traces
from traces.exports.policy import LabelPolicy, SourcedLabel, resolve_step
from traces.formats.processbench import parse_record
from traces.models import (
    ADJUDICATED,
    AssignmentPolicy,
    AssignmentStatus,
    Label,
    Project,
    Queue,
    QueueAssignment,
    QueueItem,
    Run,
    RunKind,
    Step,
    Trace,
)
from traces.queries.adjudication import adjudication_version, trace_verdicts, traces_to_adjudicate
from traces.queries.agreement import queue_agreement
from traces.queries.queues import annotator_progress, queue_progress

pytestmark = pytest.mark.django_db

PROCESSBENCH = Path("processbench") / "gsm8k.jsonl"
GOLD = "import:processbench"


def short_records(shared_data: Path, count: int) -> list[dict]:
    """The first ``count`` records with 3 to 6 steps, erroneous and error-free alternating where possible."""
    erroneous, error_free = [], []
    with (shared_data / PROCESSBENCH).open(encoding="utf-8") as fp:
        for line in fp:
            record = json.loads(line)
            if 3 <= len(record["steps"]) <= 6:
                (erroneous if record["label"] >= 0 else error_free).append(record)
            if len(erroneous) >= count and len(error_free) >= count:
                break
    mixed = [record for pair in zip(erroneous, error_free, strict=False) for record in pair]
    return mixed[:count]


@pytest.fixture
def records(shared_data: Path) -> list[dict]:
    return short_records(shared_data, 4)


@pytest.fixture
def traces(project: Project, records: list[dict]) -> list[Trace]:
    """The records imported, oldest first (the trace list shows them newest first)."""
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=PROCESSBENCH.name)
    parsed = [item for number, record in enumerate(records, 1) for item in parse_record(record, number)]
    ids = store_traces(project, run, parsed).trace_ids
    return [Trace.objects.get(pk=trace_id) for trace_id in ids]


@pytest.fixture
def people(make_user):
    return [make_user(name) for name in ("ann", "bob", "cat")]


def steps_of(trace: Trace) -> list[Step]:
    return list(Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index"))


def label(user, trace: Trace, values: list[int | None]) -> None:
    """The person's human labels of the trace's steps (None: leave the step unrated)."""
    items = [LabelInput(step, value) for step, value in zip(steps_of(trace), values, strict=True) if value is not None]
    do_save_labels(user, items)


def processbench_values(record: dict) -> list[int | None]:
    """ProcessBench's step labels: +1 before the first error, −1 at it, nothing after; all +1 without error."""
    first, count = record["label"], len(record["steps"])
    if first == -1:
        return [1] * count
    return [1 if i < first else -1 if i == first else None for i in range(count)]


def make_queue(project: Project, owner, traces: list[Trace], **spec: object) -> Queue:
    selected = Trace.objects.filter(pk__in=[trace.pk for trace in traces])
    return do_create_queue(project, owner, QueueSpec(name=str(spec.pop("name", "q")), **spec), selected, {"q": "x"})


def item_traces(queue: Queue) -> list[int]:
    return list(QueueItem.objects.filter(queue=queue).order_by("position").values_list("trace_id", flat=True))


# --- Creation ---------------------------------------------------------------------------------------------


def test_interleave_spreads_gold_items_evenly() -> None:
    assert interleave([1, 2, 3, 4, 5, 6], [10, 11]) == [
        (1, False), (2, False), (10, True), (3, False), (4, False), (11, True), (5, False), (6, False)
    ]  # fmt: skip
    assert interleave([], [10, 11]) == [(10, True), (11, True)]
    assert interleave([1, 2], []) == [(1, False), (2, False)]


def test_a_queue_holds_the_filtered_traces_newest_first_and_keeps_its_filter(project, owner, traces) -> None:
    queue = make_queue(project, owner, traces[:3], overlap=2)
    assert item_traces(queue) == [traces[2].pk, traces[1].pk, traces[0].pk]
    assert (queue.overlap, queue.filters, queue.created_by, queue.is_open) == (2, {"q": "x"}, owner, True)
    assert not QueueItem.objects.filter(queue=queue).exclude(gold_source="").exists()


def test_gold_items_come_from_the_filter_first_then_the_rest_of_the_project(project, owner, traces) -> None:
    queue = make_queue(project, owner, traces[:2], gold_source=GOLD, gold_count=3)
    gold = QueueItem.objects.filter(queue=queue).exclude(gold_source="")
    # both selected traces have ProcessBench labels, so they are the first gold; the third is the newest other
    assert set(gold.values_list("trace_id", flat=True)) == {traces[0].pk, traces[1].pk, traces[3].pk}
    assert set(gold.values_list("gold_source", flat=True)) == {GOLD}
    assert QueueItem.objects.filter(queue=queue).count() == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": " "}, "name: give a name"),
        ({"overlap": 0}, "overlap: must be 1 to 20"),
        ({"policy": "random"}, "policy: must be one of"),
        ({"gold_count": 2}, "gold_source: name the label source"),
        ({"gold_count": 1, "gold_source": "llm_judge:none"}, "no trace of 'test' has labels of source"),
    ],
)
def test_bad_queues_are_refused_naming_the_field(project, owner, traces, spec, message) -> None:
    with pytest.raises(QueueError, match=message):
        make_queue(project, owner, traces, **spec)
    assert not Queue.objects.exists() and not QueueItem.objects.exists()


def test_a_second_queue_of_the_same_name_and_an_empty_filter_are_refused(project, owner, traces) -> None:
    make_queue(project, owner, traces, name="first")
    with pytest.raises(QueueError, match="already has a queue named 'first'"):
        make_queue(project, owner, traces, name="first")
    with pytest.raises(QueueError, match="filters: the filter selects no traces"):
        make_queue(project, owner, [], name="empty")


# --- Handing out ------------------------------------------------------------------------------------------


def test_overlap_two_gives_each_item_to_two_people_then_moves_on(project, owner, traces, people) -> None:
    ann, bob, cat = people
    queue = make_queue(project, owner, traces[:3], overlap=2)
    first, second, third = QueueItem.objects.filter(queue=queue).order_by("position")
    assert next_item_for(queue, ann) == first
    assert next_item_for(queue, bob) == first
    assert next_item_for(queue, cat) == second  # the first has its two people
    assert next_item_for(queue, ann) == first  # resumes her own item in progress
    label(ann, first.trace, [1] * len(steps_of(first.trace)))
    done = do_submit_item(first, ann)
    assert done.status == AssignmentStatus.DONE and done.seconds_spent is not None and done.seconds_spent >= 0
    assert QueueItem.objects.get(pk=first.pk).done_count == 1
    assert next_item_for(queue, ann) == second  # cat holds one place of two
    label(ann, second.trace, [1] + [None] * (len(steps_of(second.trace)) - 1))
    do_submit_item(second, ann)
    assert next_item_for(queue, ann) == third
    assert do_submit_item(first, ann).status == AssignmentStatus.DONE  # a second submit changes nothing
    assert QueueItem.objects.get(pk=first.pk).done_count == 1


def test_submit_needs_a_rating_and_skip_hands_the_item_to_someone_else(project, owner, traces, people) -> None:
    ann, bob, _ = people
    queue = make_queue(project, owner, traces[:2], overlap=1)
    first, second = QueueItem.objects.filter(queue=queue).order_by("position")
    assert next_item_for(queue, ann) == first
    with pytest.raises(QueueError, match=f"rate at least one step of trace #{first.trace_id}"):
        do_submit_item(first, ann)
    assert next_item_for(queue, bob) == second  # the first is held by ann
    with pytest.raises(QueueError, match="was not handed to you"):
        do_submit_item(first, bob)
    do_skip_item(first, ann)
    assert next_item_for(queue, ann) is None  # she had both: skipped one, and bob holds the other
    with pytest.raises(QueueError, match="you skipped item 1"):
        do_submit_item(first, ann)
    label(bob, second.trace, [1] * len(steps_of(second.trace)))
    do_submit_item(second, bob)
    assert next_item_for(queue, bob) == first  # ann's skip gave it back
    with pytest.raises(QueueError, match="already submitted"):
        do_skip_item(second, bob)


def test_an_abandoned_hand_out_stops_holding_its_item_after_the_lease(project, owner, traces, people) -> None:
    ann, bob, _ = people
    queue = make_queue(project, owner, traces[:1], overlap=1)
    item = QueueItem.objects.get(queue=queue)
    assert next_item_for(queue, ann) == item
    assert next_item_for(queue, bob) is None
    QueueAssignment.objects.filter(user=ann).update(started_at=item.assignments.get().started_at - LEASE - timedelta(1))
    assert next_item_for(queue, bob) == item


def test_policies_order_the_hand_outs(project, owner, traces, people, make_user) -> None:
    ann, bob, cat = people
    dan, eve = make_user("dan"), make_user("eve")
    fewest = make_queue(project, owner, traces, name="fewest", overlap=3, policy=AssignmentPolicy.FEWEST_DONE)
    items = list(QueueItem.objects.filter(queue=fewest).order_by("position"))
    assert next_item_for(fewest, ann) == items[0]
    assert next_item_for(fewest, bob) == items[1]  # the first is taken once, the second not at all
    shuffled = make_queue(project, owner, traces, name="shuffled", overlap=3, policy=AssignmentPolicy.SHUFFLED)
    orders = {}
    for person in (ann, bob, cat, dan, eve):  # five people share one order of 4 items 1 time in 24⁴
        order = []
        while (item := next_item_for(shuffled, person)) is not None:
            order.append(item.position)
            do_skip_item(item, person)
        orders[person.username] = order
    assert all(sorted(order) == [1, 2, 3, 4] for order in orders.values())  # everyone gets every item once
    assert len({tuple(order) for order in orders.values()}) > 1  # in an order of their own


def test_a_closed_queue_hands_out_nothing_new_but_resumes_work_in_progress(project, owner, traces, people) -> None:
    ann, bob, _ = people
    queue = make_queue(project, owner, traces, overlap=2)
    item = next_item_for(queue, ann)
    do_set_queue_open(queue, False)
    assert next_item_for(queue, bob) is None
    assert next_item_for(queue, ann) == item


@pytest.mark.django_db(transaction=True)
def test_people_asking_at_once_never_push_an_item_past_its_overlap(project, owner, traces, make_user) -> None:
    """Threads with their own connections ask together (PostgreSQL: the queue row lock serialises them)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent hand-outs need a database with row locks (run with DATABASE_URL=postgres://…)")
    queue = make_queue(project, owner, traces[:2], overlap=1)
    crowd = [make_user(f"p{i}") for i in range(8)]
    got: dict[str, int | None] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(crowd))

    def ask(person) -> None:
        try:
            barrier.wait()
            item = next_item_for(queue, person)
            got[person.username] = item.pk if item else None
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(person,)) for person in crowd]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    handed = [item for item in got.values() if item is not None]
    assert sorted(handed) == sorted(QueueItem.objects.filter(queue=queue).values_list("pk", flat=True))
    assert QueueAssignment.objects.count() == 2


# --- Progress and gold --------------------------------------------------------------------------------------


def test_progress_and_gold_accuracy_per_annotator(project, owner, traces, records, people) -> None:
    ann, bob, _ = people
    queue = make_queue(project, owner, traces[:2], overlap=2, gold_source=GOLD, gold_count=1)
    gold_item = QueueItem.objects.get(queue=queue, gold_source=GOLD)
    gold_record = records[[trace.pk for trace in traces].index(gold_item.trace_id)]
    truth = processbench_values(gold_record)
    for person, values in ((ann, truth), (bob, [1] * len(truth))):
        while (item := next_item_for(queue, person)) is not None:
            label(person, item.trace, values if item == gold_item else [1] * len(steps_of(item.trace)))
            do_submit_item(item, person)
    progress = {row.username: row for row in annotator_progress(queue)}
    assert (progress["ann"].done, progress["ann"].skipped, progress["ann"].in_progress) == (2, 0, 0)
    assert progress["ann"].median_seconds is not None
    rated = [value for value in truth if value is not None]
    assert (progress["ann"].gold.accuracy, progress["ann"].gold.steps) == (1.0, len(rated))
    assert progress["bob"].gold.accuracy == sum(value == 1 for value in rated) / len(rated)
    overall = queue_progress(queue)
    assert (overall.items, overall.complete_items, overall.labelings_done, overall.labelings_needed) == (2, 2, 4, 4)


# --- Agreement ------------------------------------------------------------------------------------------------


def test_agreement_among_people_and_against_the_imported_labels(project, owner, traces, records, people) -> None:
    ann, bob, _ = people
    queue = make_queue(project, owner, traces[:2], overlap=2)
    first, second = traces[1], traces[0]  # queue order: newest first
    n1, n2 = len(steps_of(first)), len(steps_of(second))
    ann_values = [[1] * n1, [1] * n2]
    bob_values = [[1] * (n1 - 1) + [-1], [1] * n2]  # one disagreement: the last step of the first trace
    for person, values in ((ann, ann_values), (bob, bob_values)):
        label(person, first, values[0])
        label(person, second, values[1])
    result = queue_agreement(queue, hidden=())
    units = np.array([ann_values[0] + ann_values[1], bob_values[0] + bob_values[1]], dtype=float)
    expected_alpha = krippendorff.alpha(reliability_data=units, level_of_measurement="ordinal")
    assert result.annotators == ["ann", "bob"]
    assert result.overall.steps == n1 + n2
    assert result.overall.alpha == pytest.approx(expected_alpha)
    assert (result.overall.fleiss_raters, result.overall.fleiss_steps) == (2, n1 + n2)
    # first errors: ann none in both; bob the last step of the first, none in the second → 1 of 2 agree
    assert (result.overall.first_error, result.overall.first_error_traces) == (0.5, 2)
    [pair] = result.pairs
    assert (pair.first, pair.second, pair.agreement.alpha) == ("ann", "bob", pytest.approx(expected_alpha))
    [method] = result.methods
    assert method.method == GOLD and method.reference == "human"
    # the people's majority on a tied step is the more critical value: the first trace's reference is bob's
    references = {first.pk: bob_values[0], second.pk: ann_values[1]}
    records_by_trace = {trace.pk: record for trace, record in zip(traces, records, strict=False)}
    matches = compared = 0
    for trace_id, reference in references.items():
        imported = processbench_values(records_by_trace[trace_id])
        for mine, truth in zip(imported, reference, strict=True):
            if mine is not None:
                compared += 1
                matches += mine == truth
    assert method.confusion is not None and method.confusion.total == compared
    assert method.step_accuracy == pytest.approx(matches / compared)


# --- Adjudication ----------------------------------------------------------------------------------------------


def test_adjudication_records_one_value_per_step_with_optimistic_locking(
    project, owner, traces, people, make_user
) -> None:
    ann, bob, _ = people
    reviewer = make_user("rev")
    queue = make_queue(project, owner, traces[:1], overlap=2)
    trace = traces[0]
    n = len(steps_of(trace))
    label(ann, trace, [1] * n)
    label(bob, trace, [1] * (n - 1) + [-1])
    [row] = traces_to_adjudicate(queue)
    assert (row.labelers, row.disagreeing, row.adjudicated) == (2, 1, 0)
    verdicts = trace_verdicts(trace)
    assert verdicts.labelers == ["ann", "bob"]
    [split] = verdicts.disagreeing
    assert (split.index, split.values, split.adjudicated) == (n - 1, [1, -1], None)
    step = steps_of(trace)[n - 1]

    opened = verdicts.version
    newer = do_adjudicate_step(reviewer, trace, step, -1, opened)
    assert newer != opened and newer == adjudication_version(trace.pk)
    with pytest.raises(StaleAdjudication, match="someone adjudicated this trace since you opened it"):
        do_adjudicate_step(owner, trace, step, 1, opened)
    assert list(Label.objects.filter(source=ADJUDICATED).values_list("user__username", "value")) == [("rev", -1)]
    do_adjudicate_step(owner, trace, step, 1, newer)  # a current page overrules: one value per step
    assert list(Label.objects.filter(source=ADJUDICATED).values_list("user__username", "value")) == [("owner", 1)]
    assert traces_to_adjudicate(queue)[0].adjudicated == 1

    # exports that prefer adjudicated labels take it over the people's tie (which would resolve to −1)
    labels = [SourcedLabel(source, value, None, user_id) for source, value, user_id in
              Label.objects.filter(step=step).values_list("source", "value", "user_id")]  # fmt: skip
    assert resolve_step(LabelPolicy(sources="adjudicated-else-human"), labels).value == 1
    assert resolve_step(LabelPolicy(sources="human"), labels).value == -1


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_saving_from_the_same_page_at_once_one_is_refused(project, owner, traces, make_user) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent saves need a database with row locks (run with DATABASE_URL=postgres://…)")
    trace = traces[0]
    step = steps_of(trace)[0]
    reviewers = [make_user("rev1"), make_user("rev2")]
    version = adjudication_version(trace.pk)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def save(reviewer, value: int) -> None:
        try:
            barrier.wait()
            do_adjudicate_step(reviewer, trace, step, value, version)
            outcomes.append("saved")
        except StaleAdjudication:
            outcomes.append("stale")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=save, args=(reviewer, value))
        for reviewer, value in zip(reviewers, (1, -1), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["saved", "stale"]
    assert Label.objects.filter(step=step, source=ADJUDICATED).count() == 1
