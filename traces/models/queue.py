"""Annotation queues (docs/concepts.md §1 Queue): which traces people label, how often, and who did what.

A Queue is made from a trace filter (the query string of the trace list, kept in ``filters`` so the
queue says where it came from). Each trace becomes one QueueItem; ``overlap`` people label each item.
Each person's work on an item is one QueueAssignment: it is made when "next item" hands the item
out and finished when they submit it, so per-annotator progress and time per item are plain rows.
Gold items hold known labels (those of ``gold_source`` on the same trace) and measure annotators'
accuracy; annotators are never told which items are gold.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from traces.models.project import Project
from traces.models.trace import Trace


class AssignmentPolicy(models.TextChoices):
    """In which order "next item" hands items out."""

    IN_ORDER = "in_order", "In queue order"
    SHUFFLED = "shuffled", "Shuffled per annotator"
    FEWEST_DONE = "fewest_done", "Items with the fewest finished labelings first"


class Queue(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, default="")
    filters = models.JSONField(default=dict, blank=True, help_text="The trace-list filter it was made from")
    overlap = models.PositiveSmallIntegerField(default=1, help_text="How many people label each item")
    policy = models.CharField(max_length=16, choices=AssignmentPolicy.choices, default=AssignmentPolicy.IN_ORDER)
    is_open = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="queue_unique_name"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="queue_overlap_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class QueueItem(models.Model):
    """One trace of a queue. ``done_count`` counts finished assignments (kept by the actions)."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="items")
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="queue_items")
    position = models.PositiveIntegerField()
    gold_source = models.CharField(
        max_length=100, blank=True, default="", help_text="Non-empty: a gold item, whose known labels have this source"
    )
    done_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["queue", "trace"], name="queue_item_unique_trace")]
        indexes = [models.Index(fields=["queue", "done_count", "position"], name="queue_item_next_idx")]

    def __str__(self) -> str:
        return f"item {self.position} of {self.queue_id}"

    @property
    def is_gold(self) -> bool:
        return bool(self.gold_source)


class AssignmentStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"


class QueueAssignment(models.Model):
    """One person's labeling of one queue item: handed out, then done or skipped."""

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_assignments")
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.IN_PROGRESS)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.FloatField(null=True, blank=True, help_text="Time from hand-out to submit")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="assignment_unique_user")]
        indexes = [models.Index(fields=["user", "status"], name="assignment_user_status_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.item_id}: {self.status}"
