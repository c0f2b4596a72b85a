"""The labeling page's keyboard actions (``traces.actions.labels``), called directly: rate, flag,
accept a suggestion, mark the first error and undo, each on the person's own labels of one trace."""

from __future__ import annotations

import pytest

from traces.actions.labels import (
    ACCEPTED,
    LabelError,
    do_accept_suggestion,
    do_mark_first_error,
    do_rate_step,
    do_toggle_flag,
    do_undo_last_change,
)
from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.formats.processbench import NO_ERROR
from traces.models import HUMAN, Label, LabelChange, Project, Run, RunKind, Step, Trace, TraceAnnotation

pytestmark = pytest.mark.django_db

TEXT = "Two apples and two more.\n\nThat is 2 + 2.\n\nSo 2 + 2 = 5.\n\nThe answer is 5."


@pytest.fixture
def trace(project: Project) -> Trace:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT)
    parsed = ParsedTrace(line_no=0, prompt="Two apples and two more?", text=TEXT, reference_answer="4")
    (trace_id,) = store_traces(project, run, [parsed]).trace_ids
    return Trace.objects.get(pk=trace_id)


@pytest.fixture
def steps(trace: Trace) -> list[Step]:
    steps = list(Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index"))
    assert len(steps) == 4  # one per paragraph
    return steps


def mine(user, trace: Trace) -> dict[int, tuple[int | None, bool | None]]:
    """The person's human labels of the trace: step index → (value, flagged)."""
    labels = Label.objects.filter(trace=trace, source=HUMAN, user=user).select_related("step")
    return {label.step.index: (label.value, label.flagged) for label in labels}


def first_error(user, trace: Trace) -> int | None:
    annotation = TraceAnnotation.objects.filter(trace=trace, source=HUMAN, user=user).first()
    return None if annotation is None else annotation.first_error_step


def test_rating_keeps_the_flag_and_unflagging_an_unrated_step_removes_its_label(owner, trace, steps) -> None:
    assert do_rate_step(owner, steps[0], 1).step_ids == {steps[0].pk}
    assert do_toggle_flag(owner, steps[0]).changed
    do_rate_step(owner, steps[0], 0)
    assert mine(owner, trace) == {0: (0, True)}
    assert not do_rate_step(owner, steps[0], 0).changed  # the same value again changes nothing
    do_toggle_flag(owner, steps[0])
    assert mine(owner, trace) == {0: (0, None)}

    do_toggle_flag(owner, steps[1])
    assert mine(owner, trace)[1] == (None, True)
    do_toggle_flag(owner, steps[1])  # nothing left in it: an empty label is no label
    assert 1 not in mine(owner, trace)
    with pytest.raises(LabelError, match="must be -1, 0 or 1"):
        do_rate_step(owner, steps[2], 2)


def test_accepting_takes_the_best_suggestion_the_person_may_use(owner, trace, steps) -> None:
    Label.objects.create(step=steps[2], trace=trace, source="mc_rollout", value=-1, confidence=0.9)
    Label.objects.create(step=steps[2], trace=trace, source="llm_judge:qwen", value=0, confidence=0.6)
    do_accept_suggestion(owner, steps[2])
    label = Label.objects.get(step=steps[2], source=HUMAN, user=owner)
    assert label.value == -1 and label.params[ACCEPTED] == {"source": "mc_rollout", "value": -1, "confidence": 0.9}

    do_accept_suggestion(owner, steps[2], hidden=("mc_rollout",))  # a queue's gold source is no suggestion
    label.refresh_from_db()
    assert label.value == 0 and label.params[ACCEPTED]["source"] == "llm_judge:qwen"
    do_rate_step(owner, steps[2], 1)  # the person's own choice again
    label.refresh_from_db()
    assert label.value == 1 and ACCEPTED not in label.params
    with pytest.raises(LabelError, match="step 1 has no automatic suggestion"):
        do_accept_suggestion(owner, steps[0])


def test_marking_the_first_error_follows_processbench(owner, trace, steps) -> None:
    do_rate_step(owner, steps[3], -1)
    changes = do_mark_first_error(owner, trace, 2)
    assert changes.kind == "first_error" and changes.step_ids == {step.pk for step in steps}
    assert mine(owner, trace) == {0: (1, None), 1: (1, None), 2: (-1, None)}  # the step after it unrated
    assert first_error(owner, trace) == 2

    assert do_mark_first_error(owner, trace, NO_ERROR).kind == "no_error"
    assert mine(owner, trace) == {index: (1, None) for index in range(4)}
    assert first_error(owner, trace) == NO_ERROR
    with pytest.raises(LabelError, match=f"trace {trace.pk} has no step 5"):
        do_mark_first_error(owner, trace, 4)


def test_undo_takes_back_the_last_change_then_the_one_before(owner, trace, steps) -> None:
    assert do_undo_last_change(owner, trace) is None  # nothing to undo
    do_rate_step(owner, steps[0], -1)
    do_mark_first_error(owner, trace, 1)
    undone = do_undo_last_change(owner, trace)
    assert undone is not None and undone.kind == "first_error"
    assert mine(owner, trace) == {0: (-1, None)} and first_error(owner, trace) is None
    assert do_undo_last_change(owner, trace).kind == "rate"
    assert mine(owner, trace) == {} and not LabelChange.objects.filter(trace=trace).exists()


def test_one_persons_actions_leave_anothers_labels_alone(owner, make_user, trace, steps) -> None:
    other = make_user("bob")
    do_rate_step(other, steps[0], -1)
    do_mark_first_error(owner, trace, NO_ERROR)
    do_undo_last_change(owner, trace)
    assert mine(other, trace) == {0: (-1, None)} and mine(owner, trace) == {}
