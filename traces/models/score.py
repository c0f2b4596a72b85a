"""Scores (docs/concepts.md §1 Score): any named metric of a trace or step with the method that produced it."""

from __future__ import annotations

from django.db import models

from traces.models.project import Project
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


class ProjectScoreName(models.Model):
    """A trace-level score name (with its method) that some trace of the project has had.

    The trace list offers these in its score filter and sort. Reading them off ``Score`` takes a
    DISTINCT over every score row of the project (170 ms at 100k analysed traces, growing with
    them); this table is written beside the scores (``traces.actions.analysis``) and read in
    one small query. A name stays after the traces that had it are deleted (filtering by it then
    finds nothing).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="score_names")
    method = models.CharField(max_length=100)
    name = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "method", "name"], name="project_score_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.method})"
