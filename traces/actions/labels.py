"""Save step labels (SPEC §1 Label): a person's label is upserted, never another source's."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from traces.models import HUMAN, Label, Step, Trace


@dataclass(frozen=True)
class LabelInput:
    step: Step
    value: int | None
    flagged: bool | None = None
    note: str = ""


def do_save_labels(user: AbstractBaseUser, items: list[LabelInput], *, source: str = HUMAN) -> list[Label]:
    """Upsert one label per (step, user, source); all or nothing. Marks the traces as labeled."""
    saved = []
    with transaction.atomic():
        for item in items:
            label, _ = Label.objects.update_or_create(
                step=item.step,
                user=user,
                source=source,
                defaults={"trace_id": item.step.trace_id, "value": item.value, "flagged": item.flagged, "note": item.note},
            )
            saved.append(label)
        trace_ids = {item.step.trace_id for item in items}
        Trace.objects.filter(pk__in=trace_ids, has_labels=False).update(has_labels=True)
    return saved
