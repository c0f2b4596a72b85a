"""The demo's team (``manage.py demo``; its other rows are ``traces.actions.demo``): two demo
annotators who already worked a queue, so that a new user finds Agreement, Adjudicate and gold
accuracy with something to show on the first start.

``annotator1`` and ``annotator2`` join the Demo project as annotators (through the member actions,
so the Members page records it as an operator's change). A queue of overlap 2, "Demo: two
annotators", holds ``QUEUE_TRACES`` of the demo's traces plus up to ``GOLD_ITEMS`` gold items (the
demo's answer-check labels are their known answers); each annotator takes their first
``LABELED_ITEMS`` items, labels every step and submits them. The rest stays open, so the demo user
can "Start labeling" too.

Their labels follow two fixed rules, so every machine shows the same agreement. ``annotator1``
rates every step +1 but the last, which is +1 when the trace's final answer is correct and −1
otherwise. ``annotator2`` agrees on every third item, gives the last step the opposite verdict on
the next, and on the one after rates the step before the last neutral: a real but imperfect
agreement, with steps to adjudicate.

**Which source.** The labels are people's labels (source ``human``, each annotator's own account):
agreement and adjudication compare people, and a source of their own would make them an automatic
method there instead. They are the labels of demo accounts, never of the person using the demo,
and each one's note (``DEMO_TEAM_NOTE``) says a command chose it; a human export of the Demo
project includes them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import User
from django.db import transaction

from traces.actions.labels import LabelInput, do_save_labels
from traces.actions.members import do_add_member
from traces.actions.queues import QueueSpec, do_create_queue, do_skip_item, do_submit_item, next_item_for
from traces.models import Membership, Project, Queue, Role, Run, Step, Trace

ANNOTATORS = ("annotator1", "annotator2")
QUEUE_NAME = "Demo: two annotators"
QUEUE_TRACES = 8
LABELED_ITEMS = 5
GOLD_ITEMS = 2
DEMO_TEAM_NOTE = "Demo annotation seeded by `manage.py demo` for a demo annotator, not a person's judgement."

#: A labelling rule: (the item's place among the annotator's items, number of steps, whether the
#: trace's answer is correct) → one value per step.
Rule = Callable[[int, int, bool], list[int]]


@transaction.atomic
def do_join_as_annotators(project: Project, annotators: list[User]) -> None:
    """Make each demo annotator a member of ``project`` with role annotator, unless they are one already."""
    for annotator in annotators:
        if not Membership.objects.filter(project=project, user=annotator).exists():
            do_add_member(project, None, annotator.get_username(), Role.ANNOTATOR)


@transaction.atomic
def do_seed_demo_queue(run: Run, owner: User, annotators: list[User], gold_source: str) -> int:
    """Make the demo queue of ``run``'s traces and let each annotator label their first items, once.

    Returns how many labels were saved (0 when the queue exists already or the run has no traces).
    A queue whose traces were all deleted (``demo --force``) is made again.
    """
    project = run.project
    Queue.objects.filter(project=project, name=QUEUE_NAME, items__isnull=True).delete()
    if Queue.objects.filter(project=project, name=QUEUE_NAME).exists():
        return 0
    ids = list(Trace.objects.filter(run=run).order_by("pk").values_list("pk", flat=True)[:QUEUE_TRACES])
    if not ids:
        return 0
    has_gold = Trace.objects.filter(project=project, labels__source=gold_source).exists()
    spec = QueueSpec(
        name=QUEUE_NAME,
        overlap=2,
        instructions="Rate every step: +1 correct and useful, 0 neutral, −1 wrong. Seeded by manage.py demo.",
        gold_source=gold_source if has_gold else "",
        gold_count=GOLD_ITEMS if has_gold else 0,
    )
    queue = do_create_queue(project, owner, spec, Trace.objects.filter(pk__in=ids), {})
    return sum(label_items(queue, annotator, rule) for annotator, rule in zip(annotators, RULES, strict=True))


def label_items(queue: Queue, annotator: User, rule: Rule) -> int:
    """Hand ``annotator`` their first ``LABELED_ITEMS`` items, label each by ``rule``, submit it."""
    saved = 0
    for position in range(LABELED_ITEMS):
        item = next_item_for(queue, annotator)
        if item is None:
            break
        trace = Trace.objects.get(pk=item.trace_id)
        steps = list(Step.objects.filter(segmentation=trace.current_segmentation_id).order_by("index"))
        if not steps:  # nothing to rate
            do_skip_item(item, annotator)
            continue
        values = rule(position, len(steps), bool(trace.is_correct))
        items = [LabelInput(step=step, value=value, note=DEMO_TEAM_NOTE) for step, value in zip(steps, values)]
        saved += len(do_save_labels(annotator, items))
        do_submit_item(item, annotator)
    return saved


def first_rule(position: int, steps: int, correct: bool) -> list[int]:
    """``annotator1``: every step +1, the last one the trace's verdict."""
    return [1] * (steps - 1) + [1 if correct else -1]


def second_rule(position: int, steps: int, correct: bool) -> list[int]:
    """``annotator2``: agrees, then judges the last step the other way, then finds the step before it neutral."""
    values = first_rule(position, steps, correct)
    if position % 3 == 1 or (position % 3 == 2 and steps < 2):
        values[-1] = -values[-1]
    elif position % 3 == 2:
        values[-2] = 0
    return values


RULES: tuple[Rule, Rule] = (first_rule, second_rule)
