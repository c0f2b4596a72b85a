"""Scores (SPEC §1 Score): any named metric of a trace or step with the method that produced it."""

from __future__ import annotations

from django.db import models

from traces.models.trace import Step, Trace


class Score(models.Model):
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="scores")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, null=True, blank=True, related_name="scores")
    name = models.CharField(max_length=64)
    value = models.FloatField()
    method = models.CharField(max_length=100, default="analysis")
    version = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trace", "name", "method"], condition=models.Q(step__isnull=True), name="score_unique_trace"
            ),
            models.UniqueConstraint(
                fields=["step", "name", "method"], condition=models.Q(step__isnull=False), name="score_unique_step"
            ),
        ]
        indexes = [models.Index(fields=["name", "value"], name="score_name_value_idx")]

    def __str__(self) -> str:
        return f"{self.name}={self.value:g}"
