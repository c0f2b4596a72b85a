"""Step labels and trace annotations (docs/concepts.md §1 Label, Trace annotation)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from traces.models.trace import Step, Trace

HUMAN = "human"
ADJUDICATED = "adjudicated"


class LabelValue(models.IntegerChoices):
    """PRM800K semantics."""

    WRONG = -1, "−1 wrong / harmful"
    NEUTRAL = 0, "0 neutral / unnecessary"
    GOOD = 1, "+1 correct and useful"


def is_auto_source(source: str) -> bool:
    """Automatic methods (mc_rollout, llm_judge:…, heuristic:…, import:…) versus people."""
    return source not in (HUMAN, ADJUDICATED)


class Label(models.Model):
    """One step's label from one source. Human and automatic labels live side by side."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="labels")
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="labels")
    value = models.SmallIntegerField(choices=LabelValue.choices, null=True, blank=True)
    flagged = models.BooleanField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    source = models.CharField(
        max_length=100, help_text="human, adjudicated, mc_rollout, llm_judge:<model>, heuristic:<name>, import:<format>"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="labels"
    )
    params = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(value__in=[-1, 0, 1]) | Q(value__isnull=True), name="label_value_range"),
            models.UniqueConstraint(
                fields=["step", "source", "user"], condition=Q(user__isnull=False), name="label_unique_person"
            ),
            models.UniqueConstraint(fields=["step", "source"], condition=Q(user__isnull=True), name="label_unique_auto"),
        ]
        indexes = [models.Index(fields=["trace", "source"], name="label_trace_source_idx")]

    def __str__(self) -> str:
        return f"{self.source}={self.value} on {self.step}"


class TraceAnnotation(models.Model):
    """Trace-level fields from one source (a person, or an import such as ProcessBench's label)."""

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="annotations")
    source = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="trace_annotations"
    )
    first_error_step = models.IntegerField(
        null=True, blank=True, help_text="0-based step index of the first error; -1 = no error; null = not set"
    )
    final_answer_verdict = models.CharField(max_length=16, blank=True, default="")
    mismatch_verdict = models.CharField(max_length=16, blank=True, default="")
    overthinking_verdict = models.CharField(max_length=16, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trace", "source", "user"], condition=Q(user__isnull=False), name="annotation_unique_person"
            ),
            models.UniqueConstraint(
                fields=["trace", "source"], condition=Q(user__isnull=True), name="annotation_unique_auto"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} annotation of {self.trace}"
