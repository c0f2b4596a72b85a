"""Pairwise preferences between two traces of one problem: a label type of its own.

The pair is stored in a canonical order (``trace_a_id < trace_b_id``) so "A better" shown one way and
"B better" shown the other way are the same row; the action that saves a preference flips the choice
when the page showed the pair the other way round.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from traces.models.trace import Trace


class PreferenceChoice(models.TextChoices):
    A_BETTER = "a", "A is better"
    B_BETTER = "b", "B is better"
    TIE = "tie", "Tie"


class Preference(models.Model):
    trace_a = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+")
    trace_b = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=8, choices=PreferenceChoice.choices)
    reason = models.TextField(blank=True, default="")
    source = models.CharField(max_length=100, default="human", help_text="human, or llm_judge:<model>")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="preferences"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(trace_a__lt=F("trace_b")), name="preference_pair_ordered"),
            models.UniqueConstraint(
                fields=["trace_a", "trace_b", "source", "user"],
                condition=Q(user__isnull=False),
                name="preference_unique_person",
            ),
            models.UniqueConstraint(
                fields=["trace_a", "trace_b", "source"], condition=Q(user__isnull=True), name="preference_unique_auto"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trace_a_id} vs {self.trace_b_id}: {self.choice}"
