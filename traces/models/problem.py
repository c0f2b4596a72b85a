"""Problems (docs/concepts.md §1 Problem): a prompt plus an optional reference answer."""

from __future__ import annotations

from django.db import models

from traces.models.project import Project


class AnswerType(models.TextChoices):
    NUMERIC = "numeric", "Numeric"
    MATH = "math", "LaTeX / math expression"
    CHOICE = "choice", "Multiple-choice letter"
    TEXT = "text", "Free text"


class Problem(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="problems")
    prompt = models.TextField()
    answer = models.TextField(blank=True, default="")
    answer_type = models.CharField(max_length=16, choices=AnswerType.choices, default=AnswerType.MATH)
    source = models.CharField(max_length=200, blank=True, default="", help_text="Source dataset")
    split = models.CharField(max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=200, blank=True, default="")
    meta = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, help_text="sha256 of prompt and answer: dedupes imports")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="problem_unique_content"),
        ]
        indexes = [models.Index(fields=["project", "source"], name="problem_source_idx")]

    def __str__(self) -> str:
        return self.prompt[:80]
