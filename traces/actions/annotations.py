"""Save a person's trace-level annotation (docs/concepts.md §1 Trace annotation).

One row per (trace, source, person): the first-error step (set by the labeling view's first-error
mode, see ``traces.actions.labels``), the final-answer, think–answer mismatch and overthinking
verdicts, free tags and a note. Each writer updates only the fields it owns, so the first-error
keystroke and the trace-level form never overwrite each other.

Verdict vocabularies (docs/concepts.md §1 names the fields, not their values; these are what we chose):

* final answer: ``correct`` / ``incorrect`` / ``unclear``;
* think–answer mismatch (docs/concepts.md §3.3): ``consistent`` / ``mismatch`` / ``undetermined``;
* overthinking (docs/concepts.md §3.4): ``none`` / ``some`` / ``severe``.

An empty string means "not given".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import models, transaction

from traces.models import HUMAN, Trace, TraceAnnotation

MAX_TAGS = 20
MAX_TAG_CHARS = 40
MAX_NOTE_CHARS = 10_000


class FinalAnswerVerdict(models.TextChoices):
    CORRECT = "correct", "Correct"
    INCORRECT = "incorrect", "Incorrect"
    UNCLEAR = "unclear", "Unclear"


class MismatchVerdict(models.TextChoices):
    CONSISTENT = "consistent", "Consistent with the thinking"
    MISMATCH = "mismatch", "Differs from the thinking"
    UNDETERMINED = "undetermined", "Undetermined"


class OverthinkingVerdict(models.TextChoices):
    NONE = "none", "None"
    SOME = "some", "Some"
    SEVERE = "severe", "Severe"


class AnnotationError(ValueError):
    """A trace annotation that cannot be saved; the message names the field and the reason."""


@dataclass(frozen=True)
class TraceVerdicts:
    """The trace-level fields a person fills in by hand (everything but the first-error step)."""

    final_answer_verdict: str = ""
    mismatch_verdict: str = ""
    overthinking_verdict: str = ""
    tags: tuple[str, ...] = ()
    note: str = ""


_VOCABULARIES: dict[str, type[models.TextChoices]] = {
    "final_answer_verdict": FinalAnswerVerdict,
    "mismatch_verdict": MismatchVerdict,
    "overthinking_verdict": OverthinkingVerdict,
}


def validate_verdicts(verdicts: TraceVerdicts) -> None:
    """Raise AnnotationError naming the first field that is not allowed."""
    for field, vocabulary in _VOCABULARIES.items():
        value = getattr(verdicts, field)
        if value and value not in vocabulary.values:
            raise AnnotationError(f"{field}: '{value}' is not one of {', '.join(vocabulary.values)} (or empty)")
    if len(verdicts.tags) > MAX_TAGS:
        raise AnnotationError(f"tags: at most {MAX_TAGS} tags, got {len(verdicts.tags)}")
    for tag in verdicts.tags:
        if not tag.strip() or len(tag) > MAX_TAG_CHARS:
            raise AnnotationError(f"tags: each tag is 1 to {MAX_TAG_CHARS} characters, got '{tag[:60]}'")
    if len(verdicts.note) > MAX_NOTE_CHARS:
        raise AnnotationError(f"note: at most {MAX_NOTE_CHARS} characters, got {len(verdicts.note)}")


def do_save_trace_verdicts(user: User, trace: Trace, verdicts: TraceVerdicts) -> TraceAnnotation:
    """Upsert the person's verdicts, tags and note of ``trace``; leaves their first-error step alone."""
    validate_verdicts(verdicts)
    fields = {
        "final_answer_verdict": verdicts.final_answer_verdict,
        "mismatch_verdict": verdicts.mismatch_verdict,
        "overthinking_verdict": verdicts.overthinking_verdict,
        "tags": list(verdicts.tags),
        "note": verdicts.note,
    }
    with transaction.atomic():
        annotation, _ = TraceAnnotation.objects.update_or_create(
            trace_id=trace.pk, source=HUMAN, user=user, defaults=fields
        )
    return annotation


def replace_first_error(user: User, trace_id: int, source: str, step_index: int | None) -> int | None:
    """Set the person's first-error step (−1 = no error, None = unset); returns the one it replaced.

    Runs inside the caller's transaction, with the annotation row locked. A row left with nothing
    in it (its only content was the first error, now unset) is deleted rather than kept empty.
    """
    annotation = TraceAnnotation.objects.select_for_update().filter(trace_id=trace_id, source=source, user=user).first()
    previous = annotation.first_error_step if annotation else None
    if annotation is None:
        if step_index is not None:
            TraceAnnotation.objects.create(trace_id=trace_id, source=source, user=user, first_error_step=step_index)
        return previous
    annotation.first_error_step = step_index
    if is_empty(annotation):
        annotation.delete()
    else:
        annotation.save(update_fields=["first_error_step", "updated_at"])
    return previous


def is_empty(annotation: TraceAnnotation) -> bool:
    """Whether the annotation holds nothing a person wrote."""
    return (
        annotation.first_error_step is None
        and not annotation.final_answer_verdict
        and not annotation.mismatch_verdict
        and not annotation.overthinking_verdict
        and not annotation.tags
        and not annotation.note
    )
