"""The undo history of a person's labels (docs/concepts.md §1 Label).

Each change a person makes to their labels of one trace (one keystroke of the labeling view, one
first-error mode, one API save) is one row holding what the change replaced, so that undo survives
a refresh and never touches anybody else's labels. One small row per change: the history grows with
the keystrokes people type, like the labels themselves.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from traces.models.trace import Trace


class LabelChange(models.Model):
    """One change of one person's labels of one trace, with each touched label as it was before.

    ``previous`` is ``{"labels": [[step_id, state or null], …], "first_error": {"step": index or
    null}}``: a state is ``{"value", "flagged", "note", "params"}``, null means "no label", and
    ``first_error`` is present only when the change set the person's first-error step.
    """

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=100, help_text="the source of the labels changed: human or adjudicated")
    kind = models.CharField(max_length=32, help_text="what the change was: rate, flag, accept, first_error, …")
    previous = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["trace", "user", "source", "-id"], name="label_change_undo_idx")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.user_id} on {self.trace_id}"
