"""Save step labels (docs/concepts.md §1 Label): a person's labels, upserted per (step, source, person).

Labels are per person: a save reads and writes only the rows of (step, source, that person), under a
row lock inside one transaction, so two people labeling the same trace never lose each other's
labels, and two saves of the same person on the same step end with the later one (a concurrent
first insert of the same row is retried once as an update).

Every change is recorded with what it replaced (``LabelChange``), so ``do_undo_last_change`` takes
back the person's last change of a trace, after a refresh too. The keyboard actions of the labeling
view are here beside the API's ``do_save_labels``:

* ``do_rate_step``: set −1/0/+1, keeping the flag and note;
* ``do_toggle_flag``: flag or unflag a step;
* ``do_accept_suggestion``: the best automatic label of the step that the person may see
  (``traces.access``: never a gold source hidden from them) becomes the person's own, with
  ``params["accepted"]`` naming the source (automatic labels never count as the person's otherwise);
* ``do_mark_first_error``: ProcessBench's convention (docs/concepts.md §2): +1 before the first error, −1 at
  it, later steps unrated (the person's later labels are removed); step −1 means "no error", every
  step +1. It also sets the person's ``TraceAnnotation.first_error_step``.

Unflagging a step that has no value, note or params removes its label: an empty label is no label.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, TypeVar

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from traces import access
from traces.actions.annotations import replace_first_error
from traces.formats.processbench import NO_ERROR, step_labels
from traces.models import HUMAN, Label, LabelChange, Step, Trace, is_auto_source

#: The key of a human label's params that records which automatic suggestion it accepted.
ACCEPTED = "accepted"

T = TypeVar("T")


class LabelError(ValueError):
    """A label change that cannot be made; the message says why."""


@dataclass(frozen=True)
class LabelInput:
    """A whole label as the API sends it: it replaces the person's label of the step."""

    step: Step
    value: int | None
    flagged: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class LabelState:
    """The content of one label row (what undo restores)."""

    value: int | None = None
    flagged: bool | None = None
    note: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, label: Label | None) -> LabelState | None:
        if label is None:
            return None
        return cls(value=label.value, flagged=label.flagged, note=label.note, params=dict(label.params or {}))

    @property
    def is_empty(self) -> bool:
        return self.value is None and not self.flagged and not self.note and not self.params


#: A change of one label: from its current state (None: no label) to the new one (None: delete it).
Update = Callable[[LabelState | None], LabelState | None]


@dataclass(frozen=True)
class LabelChanges:
    """What one action changed: the steps whose label (or first-error mark) changed, and the kind."""

    step_ids: frozenset[int]
    kind: str

    @property
    def changed(self) -> bool:
        return bool(self.step_ids)


class Suggestion(Protocol):
    """An automatic label as a suggestion: a ``Label`` row or a viewer chip (read only: chips are frozen)."""

    @property
    def source(self) -> str: ...

    @property
    def value(self) -> int | None: ...

    @property
    def confidence(self) -> float | None: ...


S = TypeVar("S", bound=Suggestion)


def best_suggestion(labels: Iterable[S]) -> S | None:
    """The automatic label ``a`` accepts: the highest confidence first, then any without one; ties by source name.

    Only automatic sources (``is_auto_source``) with a value are suggestions.
    """
    candidates = [label for label in labels if is_auto_source(label.source) and label.value is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (s.confidence is None, -(s.confidence or 0.0), s.source))


# --- Writing ------------------------------------------------------------------------------------


def retry_once_on_conflict(write: Callable[[], T]) -> T:
    """Run ``write`` (its own transaction); if a concurrent request of the same person inserted one of
    the same rows first (unique violation), run it again: the row now exists and is updated."""
    try:
        return write()
    except IntegrityError:
        return write()


def apply_updates(
    user: User, trace_id: int, source: str, updates: dict[int, Update]
) -> dict[int, tuple[LabelState | None, Label | None]]:
    """Apply one update per step id to the person's labels (locked); returns each step's (before, after row).

    Runs inside the caller's transaction. Steps whose state does not change are left out of the result.
    """
    rows = Label.objects.select_for_update().filter(step_id__in=list(updates), source=source, user=user)
    existing = {label.step_id: label for label in rows}
    now = timezone.now()
    result: dict[int, tuple[LabelState | None, Label | None]] = {}
    to_create, to_delete = [], []
    to_update: dict[str, tuple[LabelState, list[int]]] = {}  # rows getting the same content: one UPDATE
    for step_id, update in updates.items():
        label = existing.get(step_id)
        before = LabelState.of(label)
        after = update(before)
        if after == before:
            continue
        if after is None:
            to_delete.append(label.pk)  # type: ignore[union-attr]  # before is not None, so label exists
            result[step_id] = (before, None)
            continue
        if label is None:
            label = Label(step_id=step_id, trace_id=trace_id, source=source, user=user)
            to_create.append(label)
        else:
            label.updated_at = now
            to_update.setdefault(json.dumps(asdict(after), sort_keys=True), (after, []))[1].append(label.pk)
        label.value, label.flagged, label.note, label.params = after.value, after.flagged, after.note, after.params
        result[step_id] = (before, label)
    if to_delete:
        Label.objects.filter(pk__in=to_delete).delete()
    for state, label_ids in to_update.values():
        Label.objects.filter(pk__in=label_ids).update(**asdict(state), updated_at=now)
    if to_create:
        Label.objects.bulk_create(to_create)
        Trace.objects.filter(pk=trace_id, has_labels=False).update(has_labels=True)
    return result


def record_change(
    user: User,
    trace_id: int,
    source: str,
    kind: str,
    before: dict[int, LabelState | None],
    first_error: dict[str, int | None] | None,
) -> None:
    """Keep what a change replaced, for undo."""
    previous: dict[str, Any] = {"labels": [[step_id, state and asdict(state)] for step_id, state in before.items()]}
    if first_error is not None:
        previous["first_error"] = first_error
    LabelChange.objects.create(trace_id=trace_id, user=user, source=source, kind=kind, previous=previous)


def change_labels(
    user: User,
    trace_id: int,
    updates: dict[int, Update],
    *,
    kind: str,
    source: str = HUMAN,
    first_error: tuple[int | None, dict[int, int]] | None = None,
) -> tuple[LabelChanges, dict[int, Label | None]]:
    """Apply ``updates`` to the person's labels of one trace and record the change, all or nothing.

    ``first_error`` is ``(step index or None, step id by index)`` when the change also sets the
    person's first-error step; the steps whose mark moves count as changed.
    """

    def write() -> tuple[LabelChanges, dict[int, Label | None]]:
        with transaction.atomic():
            applied = apply_updates(user, trace_id, source, updates)
            changed = set(applied)
            previous_first_error = None
            if first_error is not None:
                index, step_ids = first_error
                replaced = replace_first_error(user, trace_id, source, index)
                if replaced != index:
                    previous_first_error = {"step": replaced}
                    changed |= {step_ids[i] for i in (replaced, index) if i is not None and i in step_ids}
            if changed:
                before = {step_id: state for step_id, (state, _) in applied.items()}
                record_change(user, trace_id, source, kind, before, previous_first_error)
            return LabelChanges(frozenset(changed), kind), {step_id: label for step_id, (_, label) in applied.items()}

    return retry_once_on_conflict(write)


def replaced_by(state: LabelState | None) -> Update:
    """Whatever the label was, it becomes ``state`` (None: the step becomes unrated)."""

    def update(_old: LabelState | None) -> LabelState | None:
        return state

    return update


# --- The API's save -------------------------------------------------------------------------------


def require_current_steps(steps: list[Step]) -> None:
    """Labels refer to the steps of their trace's current segmentation (docs/concepts.md §1 Step); one query."""
    current = dict(
        Trace.objects.filter(pk__in={step.trace_id for step in steps}).values_list("id", "current_segmentation_id")
    )
    for step in steps:
        if current.get(step.trace_id) != step.segmentation_id:
            raise LabelError(f"step {step.pk} belongs to an older segmentation of its trace; label the current steps")


def do_save_labels(user: User, items: list[LabelInput], *, source: str = HUMAN) -> list[Label]:
    """Upsert one label per (step, source, person), replacing the whole label; all or nothing.

    One undo-history entry per trace touched. Marks the traces as labeled.
    """
    require_current_steps([item.step for item in items])
    by_trace: dict[int, dict[int, Update]] = {}
    for item in items:
        state = LabelState(value=item.value, flagged=item.flagged, note=item.note)
        by_trace.setdefault(item.step.trace_id, {})[item.step.pk] = replaced_by(state)
    saved: dict[int, Label | None] = {}
    with transaction.atomic():
        for trace_id, updates in by_trace.items():
            _, labels = change_labels(user, trace_id, updates, kind="save", source=source)
            saved.update(labels)
        unchanged = [item.step.pk for item in items if item.step.pk not in saved]
        current = Label.objects.filter(step_id__in=unchanged, source=source, user=user)
        saved.update({label.step_id: label for label in current})
    return [label for item in items if (label := saved.get(item.step.pk)) is not None]


# --- The labeling view's keyboard actions -----------------------------------------------------------


def without_accepted(params: dict[str, Any]) -> dict[str, Any]:
    """A label's params once its value is the person's own choice again (no longer an accepted suggestion)."""
    return {key: value for key, value in params.items() if key != ACCEPTED}


def rated(value: int) -> Update:
    """Set the value; keep the flag and the note."""

    def update(old: LabelState | None) -> LabelState:
        old = old or LabelState()
        if old.value == value:
            return old
        return replace(old, value=value, params=without_accepted(old.params))

    return update


def toggled_flag(old: LabelState | None) -> LabelState | None:
    """Flag or unflag; a label left empty by unflagging is removed."""
    old = old or LabelState()
    new = replace(old, flagged=None if old.flagged else True)
    return None if new.is_empty else new


def do_rate_step(user: User, step: Step, value: int) -> LabelChanges:
    """Rate one step −1, 0 or +1 (PRM800K semantics)."""
    if value not in (-1, 0, 1):
        raise LabelError(f"value: must be -1, 0 or 1, got {value!r}")
    return change_labels(user, step.trace_id, {step.pk: rated(value)}, kind="rate")[0]


def do_toggle_flag(user: User, step: Step) -> LabelChanges:
    """Flag the step, or unflag it when the person has flagged it."""
    return change_labels(user, step.trace_id, {step.pk: toggled_flag}, kind="flag")[0]


def do_accept_suggestion(user: User, step: Step, *, hidden: Collection[str] = ()) -> LabelChanges:
    """Make the step's best automatic label the person's own; raises LabelError when there is none.

    Labels the person may not see are not suggestions, nor are those of the ``hidden`` sources (the
    gold sources of the queue being labelled).
    """
    labels = Label.objects.filter(step=step).exclude(access.hidden_labels(user)).exclude(source__in=list(hidden))
    suggestion = best_suggestion(labels.only("source", "value", "confidence"))
    if suggestion is None:
        raise LabelError(f"step {step.index + 1} has no automatic suggestion to accept")
    accepted = {"source": suggestion.source, "value": suggestion.value, "confidence": suggestion.confidence}

    def update(old: LabelState | None) -> LabelState:
        old = old or LabelState()
        return replace(old, value=suggestion.value, params={**old.params, ACCEPTED: accepted})

    return change_labels(user, step.trace_id, {step.pk: update}, kind="accept")[0]


def do_mark_first_error(user: User, trace: Trace, step_index: int) -> LabelChanges:
    """First-error mode: +1 before ``step_index``, −1 at it, later labels removed (−1: no error, all +1)."""
    step_ids = dict(
        Step.objects.filter(segmentation=trace.current_segmentation_id).order_by("index").values_list("index", "id")
    )
    if step_index != NO_ERROR and step_index not in step_ids:
        raise LabelError(f"step: trace {trace.pk} has no step {step_index + 1}")
    indices = sorted(step_ids)
    values = step_labels(len(indices), NO_ERROR if step_index == NO_ERROR else indices.index(step_index))
    updates: dict[int, Update] = {
        step_ids[index]: (rated(value) if value is not None else replaced_by(None))
        for index, value in zip(indices, values, strict=True)
    }
    kind = "no_error" if step_index == NO_ERROR else "first_error"
    return change_labels(user, trace.pk, updates, kind=kind, first_error=(step_index, step_ids))[0]


def do_undo_last_change(user: User, trace: Trace, *, source: str = HUMAN) -> LabelChanges | None:
    """Take back the person's last change of ``trace`` (None when there is nothing to undo)."""

    def undo() -> LabelChanges | None:
        with transaction.atomic():
            change = (
                LabelChange.objects.select_for_update()
                .filter(trace=trace, user=user, source=source)
                .order_by("-id")
                .first()
            )
            if change is None:
                return None
            previous = {int(step_id): state for step_id, state in change.previous["labels"]}
            present = set(Step.objects.filter(pk__in=list(previous)).values_list("id", flat=True))
            updates: dict[int, Update] = {
                step_id: replaced_by(LabelState(**state) if state else None)
                for step_id, state in previous.items()
                if step_id in present
            }
            changed = set(apply_updates(user, trace.pk, source, updates))
            if "first_error" in change.previous:
                restored = change.previous["first_error"]["step"]
                replaced = replace_first_error(user, trace.pk, source, restored)
                marks = [i for i in (restored, replaced) if i is not None]
                changed |= set(
                    Step.objects.filter(segmentation=trace.current_segmentation_id, index__in=marks).values_list(
                        "id", flat=True
                    )
                )
            change.delete()
            return LabelChanges(frozenset(changed), change.kind)

    return retry_once_on_conflict(undo)
