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
opened: the save is refused (``StaleAdjudication``) and changes nothing. What the pages read (the
traces to adjudicate, each step's values, the version token) is ``traces.queries.adjudication``.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from traces.actions.labels import LabelError, LabelState, change_labels, replaced_by
from traces.models import ADJUDICATED, Label, Step, Trace
from traces.queries.adjudication import adjudication_version

STALE_MESSAGE = "someone adjudicated this trace since you opened it — reload the page to see their labels"


class StaleAdjudication(Exception):
    """The adjudicated labels changed since the page was opened; nothing was saved."""


def do_adjudicate_step(user: User, trace: Trace, step: Step, value: int, version: str) -> str:
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
